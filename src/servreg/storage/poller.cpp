// The poller: every few hundred milliseconds, the rows pinged and the endpoints deleted since
// shortly before the previous poll, read on a connection of its own so that writes never wait
// for it.
#include "servreg/storage/poller.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <stdexcept>
#include <utility>

namespace servreg::storage {

poller::poller(std::unique_ptr<store> db, poller_settings settings, clock_fn now_ms,
               std::int64_t loaded_at_ms, apply_fn apply, reload_fn reload)
    : db_(std::move(db)),
      settings_(settings),
      now_ms_(std::move(now_ms)),
      apply_(std::move(apply)),
      reload_(std::move(reload)),
      last_start_ms_(loaded_at_ms) {
    if (!db_) throw std::invalid_argument("poller needs a store");
    if (!now_ms_ || !apply_ || !reload_) throw std::invalid_argument("poller needs callbacks");
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "servreg-poller");
        run();
    });
}

poller::~poller() {
    stop();
}

void poller::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::uint64_t poller::polls() const {
    std::lock_guard lock(mutex_);
    return polls_;
}

void poller::run() noexcept {
    for (;;) {
        const auto started = std::chrono::steady_clock::now();
        bool ok = false;
        try {
            poll_once();
            ok = true;
        } catch (const storage_error& e) {
            // The store logs the failure itself; this says what it means for readers, once.
            if (!failing_) {
                spdlog::warn(
                    "sync: cannot read other servreg processes' changes ({}); "
                    "serving the last state seen",
                    e.what());
            }
            failing_ = true;
        } catch (const std::exception& e) {
            spdlog::error("sync: unexpected failure: {}", e.what());
        } catch (...) {
            spdlog::error("sync: unexpected failure");
        }
        const auto pause = ok ? settings_.interval : settings_.retry_interval;
        std::unique_lock lock(mutex_);
        if (ok) ++polls_;
        if (wake_.wait_until(lock, started + pause, [this] { return stopping_; })) return;
    }
}

void poller::poll_once() {
    const std::int64_t start = now_ms_();
    const std::int64_t since = last_start_ms_ - settings_.overlap.count();
    // Tombstones older than the retention may be gone: what was deleted meanwhile is unknown,
    // so everything is read again.
    if (start - since >= tombstone_retention.count() - settings_.overlap.count()) {
        spdlog::info("sync: no changes read for {} s; reloading the registry",
                     (start - last_start_ms_) / 1000);
        reload_(*db_);
    } else {
        apply_(db_->changes_since(since), since);
    }
    last_start_ms_ = start;
    if (failing_) spdlog::info("sync: reading other servreg processes' changes again");
    failing_ = false;
}

}  // namespace servreg::storage
