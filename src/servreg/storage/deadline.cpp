// The watchdog of database round trips: one thread that sleeps until the earliest deadline of
// the calls in progress, and aborts those that are still running then.
#include "servreg/storage/deadline.h"

#include <pthread.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <utility>

namespace servreg::storage {
namespace {

void notify(const std::function<void()>& hook) noexcept {
    try {
        if (hook) hook();
    } catch (...) {
        // a counter cannot fail in a way worth more than losing one count
    }
}

std::string seconds_text(std::chrono::milliseconds d) {
    char text[32];
    if (d.count() % 1000 == 0) {
        std::snprintf(text, sizeof text, "%lld s", static_cast<long long>(d.count() / 1000));
    } else {
        std::snprintf(text, sizeof text, "%.1f s", static_cast<double>(d.count()) / 1000.0);
    }
    return text;
}

}  // namespace

std::string no_answer_within(std::chrono::milliseconds timeout) {
    return "no answer within " + seconds_text(timeout) + " (--db-timeout)";
}

watchdog::watchdog(std::chrono::milliseconds timeout, hooks h, bool own_thread)
    : timeout_(timeout), hooks_(std::move(h)) {
    if (own_thread) {
        thread_ = std::thread([this] {
            pthread_setname_np(pthread_self(), "servreg-watch");
            run();
        });
    }
}

watchdog::~watchdog() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

watchdog::armed::armed(armed&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)), id_(other.id_), expired_(other.expired_) {}

watchdog::armed& watchdog::armed::operator=(armed&& other) noexcept {
    if (this != &other) {
        disarm();
        owner_ = std::exchange(other.owner_, nullptr);
        id_ = other.id_;
        expired_ = other.expired_;
    }
    return *this;
}

watchdog::armed::~armed() {
    disarm();
}

void watchdog::armed::disarm() noexcept {
    if (owner_ == nullptr) return;
    owner_->disarm(id_, expired_);
    owner_ = nullptr;
}

bool watchdog::armed::expired() const {
    return owner_ == nullptr ? expired_ : owner_->expired(id_);
}

watchdog::armed watchdog::arm(const std::string& database, std::function<void()> abort,
                              int multiple, clock::time_point started) {
    bool earliest = false;
    std::uint64_t id = 0;
    {
        std::lock_guard lock(mutex_);
        id = next_id_++;
        const auto due = started + timeout_ * multiple;
        // The thread wakes at least every quarter deadline and then sleeps until the earliest
        // due: it need not be woken for each call, which would cost a context switch a commit.
        earliest = due < sleeping_until_;
        calls_.emplace(id, call{.database = &database,
                                .started = started,
                                .due = due,
                                .abort = std::move(abort),
                                .expired = false});
    }
    if (earliest) wake_.notify_one();
    return armed(this, id);
}

void watchdog::disarm(std::uint64_t id, bool& expired) noexcept {
    std::lock_guard lock(mutex_);
    const auto it = calls_.find(id);
    if (it == calls_.end()) return;
    expired = it->second.expired;
    calls_.erase(it);
}

bool watchdog::expired(std::uint64_t id) const {
    std::lock_guard lock(mutex_);
    const auto it = calls_.find(id);
    return it != calls_.end() && it->second.expired;
}

void watchdog::expire(clock::time_point now) {
    std::size_t fired = 0;
    {
        std::lock_guard lock(mutex_);
        for (auto& [id, c] : calls_) {
            if (c.expired || c.due > now) continue;
            c.expired = true;
            ++fired;
            timed_out_ = *c.database + ": " +
                         no_answer_within(std::chrono::duration_cast<std::chrono::milliseconds>(
                             c.due - c.started));
            any_timed_out_ = true;
            spdlog::warn("storage: {}; abandoning the connection", *timed_out_);
            try {
                if (c.abort) c.abort();
            } catch (const std::exception& e) {
                spdlog::error("storage: aborting a late call failed: {}", e.what());
            }
        }
    }
    for (std::size_t i = 0; i < fired; ++i) notify(hooks_.on_timeout);
}

std::optional<std::string> watchdog::late(clock::time_point now) const {
    std::lock_guard lock(mutex_);
    const call* latest = nullptr;  // the call late by half its deadline that has run longest
    for (const auto& [id, c] : calls_) {
        if ((now - c.started) * 2 <= c.due - c.started) continue;
        if (latest == nullptr || c.started < latest->started) latest = &c;
    }
    if (latest != nullptr) {
        const auto running =
            std::chrono::duration_cast<std::chrono::milliseconds>(now - latest->started);
        return *latest->database + " has not answered for " + seconds_text(running);
    }
    return timed_out_;
}

void watchdog::answered() {
    if (!any_timed_out_.load(std::memory_order_relaxed)) return;
    std::lock_guard lock(mutex_);
    timed_out_.reset();
    any_timed_out_ = false;
}

void watchdog::count_reconnect() const {
    notify(hooks_.on_reconnect);
}

void watchdog::run() noexcept {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        auto next = clock::now() + std::max(timeout_ / 4, std::chrono::milliseconds(1));
        for (const auto& [id, c] : calls_) {
            if (!c.expired) next = std::min(next, c.due);
        }
        sleeping_until_ = next;
        wake_.wait_until(lock, next);
        if (stopping_) return;
        if (clock::now() < next) continue;
        lock.unlock();
        try {
            expire(clock::now());
        } catch (...) {
            // logging failed: the next round tries again
        }
        lock.lock();
    }
}

}  // namespace servreg::storage
