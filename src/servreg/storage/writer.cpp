// Group commit: writes that arrive while a transaction commits are queued and go together into
// the next one, so that durability costs one commit per batch rather than one per write.
#include "servreg/storage/writer.h"

#include <pthread.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <spdlog/spdlog.h>

#include <algorithm>
#include <exception>
#include <iterator>
#include <stdexcept>
#include <thread>
#include <utility>

namespace servreg::storage {
namespace {

using steady = std::chrono::steady_clock;

// A zero or negative interval switches its task off.
constexpr auto never = std::chrono::hours(24 * 365);

std::chrono::milliseconds interval_or_never(std::chrono::milliseconds interval) {
    return interval.count() > 0 ? interval
                                : std::chrono::duration_cast<std::chrono::milliseconds>(never);
}

// Calls `f`, code of the layers above: whatever it throws is logged as `what` threw, and the
// writer thread goes on.
template <class F>
void guarded(const char* what, F&& f) noexcept {
    try {
        f();
    } catch (const std::exception& e) {
        spdlog::error("storage: {} threw: {}", what, e.what());
    } catch (...) {
        spdlog::error("storage: {} threw", what);
    }
}

void complete(const writer::completion& done, const write_op& op,
              const write_result& result) noexcept {
    if (done) guarded("a write completion", [&] { done(op, result); });
}

}  // namespace

writer::writer(std::unique_ptr<store> db, writer_settings settings, clock_fn now_ms, hooks h)
    : db_(std::move(db)), settings_(settings), now_ms_(std::move(now_ms)), hooks_(std::move(h)) {
    if (!db_) throw std::invalid_argument("writer needs a store");
    if (!now_ms_) throw std::invalid_argument("writer needs a clock");
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "servreg-writer");
        run();
    });
}

writer::~writer() {
    stop();
}

void writer::submit(write_op op, completion done) {
    bool notify = false;
    bool refused = false;
    {
        std::lock_guard lock(mutex_);
        if (stopping_) {
            refused = true;
        } else {
            queued_ops_.push_back(std::move(op));
            queued_done_.push_back(std::move(done));
            // While the thread is busy it looks at the queue again by itself.
            notify = std::exchange(sleeping_, false);
        }
    }
    if (notify) wake_.notify_one();
    if (refused) complete(done, op, write_result{.error = "server is shutting down"});
}

void writer::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    std::lock_guard join_lock(join_mutex_);
    // A completion that stops the writer runs on its thread, which cannot join itself; the
    // thread ends by itself once the queue is empty.
    if (thread_.joinable() && thread_.get_id() != std::this_thread::get_id()) thread_.join();
}

health writer::current_health() const {
    {
        std::lock_guard lock(health_mutex_);
        if (!health_.ok || !hooks_.late) return health_;
    }
    if (auto reason = hooks_.late()) return health{.ok = false, .reason = std::move(*reason)};
    return health{};
}

void writer::set_health(bool ok, std::string reason) {
    std::lock_guard lock(health_mutex_);
    health_.ok = ok;
    health_.reason = std::move(reason);
}

void writer::run() noexcept {
    const auto probe_every = interval_or_never(settings_.probe_interval);
    const auto prune_every = interval_or_never(settings_.prune_interval);
    auto next_probe = steady::now() + probe_every;
    auto next_prune = steady::now() + prune_every;
    std::vector<write_op> ops;
    std::vector<completion> done;
    for (;;) {
        try {
            {
                std::unique_lock lock(mutex_);
                while (queued_ops_.empty() && !stopping_) {
                    const auto deadline = std::min(next_probe, next_prune);
                    if (steady::now() >= deadline) break;
                    sleeping_ = true;
                    wake_.wait_until(lock, deadline);
                    sleeping_ = false;
                }
                if (queued_ops_.empty() && stopping_) return;
                take_batch(ops, done);
            }
            const auto now = steady::now();
            if (!ops.empty()) {
                commit(ops, done);
                settled_ = false;
                next_probe = steady::now() + probe_every;  // a commit is as good as a probe
            } else if (now >= next_probe) {
                probe();
                next_probe = steady::now() + probe_every;
                if (!settled_) {
                    settled_ = settle();
                    // The next step at once, unless a write comes first.
                    if (!settled_) next_probe = steady::now();
                }
            }
            if (now >= next_prune) {
                prune();
                next_prune = steady::now() + prune_every;
            }
        } catch (const std::exception& e) {
            // Out of memory, most likely: the thread must outlive it.
            spdlog::error("storage: the writer thread caught: {}", e.what());
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ops.clear();
        done.clear();
    }
}

// Called with mutex_ held; `ops` and `done` are empty.
void writer::take_batch(std::vector<write_op>& ops, std::vector<completion>& done) {
    const std::size_t limit = std::max<std::size_t>(settings_.max_batch, 1);
    if (queued_ops_.size() <= limit) {
        // The emptied vectors go back to the queue with their capacity.
        ops.swap(queued_ops_);
        done.swap(queued_done_);
        return;
    }
    const auto n = static_cast<std::ptrdiff_t>(limit);
    ops.assign(std::make_move_iterator(queued_ops_.begin()),
               std::make_move_iterator(queued_ops_.begin() + n));
    done.assign(std::make_move_iterator(queued_done_.begin()),
                std::make_move_iterator(queued_done_.begin() + n));
    queued_ops_.erase(queued_ops_.begin(), queued_ops_.begin() + n);
    queued_done_.erase(queued_done_.begin(), queued_done_.begin() + n);
}

void writer::commit(std::vector<write_op>& ops, std::vector<completion>& done) {
    std::vector<bool> existed(ops.size(), false);  // allocated before anything can fail
    std::optional<std::string> error;
    const auto start = steady::now();
    if (hooks_.mark_stored) {
        try {
            hooks_.mark_stored(ops);
        } catch (...) {
            for (write_op& op : ops) op.stored_same = false;
        }
    }
    try {
        db_->apply(ops, existed);
    } catch (const storage_error& e) {
        error = e.what();
    } catch (const std::exception& e) {
        spdlog::error("storage: unexpected failure writing {} changes: {}", ops.size(), e.what());
        error = "internal error in the storage layer";
    } catch (...) {
        spdlog::error("storage: unexpected failure writing {} changes", ops.size());
        error = "internal error in the storage layer";
    }
    const auto took = steady::now() - start;

    if (error) {
        set_health(false, *error);
    } else {
        set_health(true, {});
    }
    if (hooks_.on_commit) {
        guarded("the commit hook", [&] {
            hooks_.on_commit(std::chrono::duration_cast<std::chrono::nanoseconds>(took), ops.size(),
                             !error);
        });
    }
    for (std::size_t i = 0; i < ops.size(); ++i) {
        const bool row_existed = !error && i < existed.size() && existed[i];
        complete(done[i], ops[i],
                 write_result{.error = error, .existed = row_existed, .tail = &tail_});
    }
    for (auto& task : tail_) guarded("a batch's tail", task);
    tail_.clear();
}

void writer::probe() {
    try {
        db_->probe();
        set_health(true, {});
    } catch (const storage_error& e) {
        set_health(false, e.what());
    } catch (const std::exception& e) {
        spdlog::error("storage: unexpected failure probing the database: {}", e.what());
        set_health(false, "internal error in the storage layer");
    } catch (...) {
        set_health(false, "internal error in the storage layer");
    }
}

// Writes have paused: a step of what the store put off (each step a short transaction, so that
// a write that comes meanwhile waits little). Once nothing is left, the heap gives back what the
// busy period freed: glibc keeps the free pages inside its heaps until asked (at 1,000,000
// instances, 5 MiB after the benchmark's pings; 2-3 ms); asked while nothing is written, it
// delays no write. Whether the store is settled.
bool writer::settle() {
    bool settled = true;
    try {
        settled = db_->settle();
    } catch (const std::exception& e) {
        spdlog::warn("storage: settling after writes failed: {}", e.what());
    }
#if defined(__GLIBC__)
    if (settled) malloc_trim(0);
#endif
    return settled;
}

void writer::prune() {
    try {
        const std::int64_t cutoff = now_ms_() - settings_.prune_after.count();
        const std::size_t removed = db_->prune(cutoff);
        if (removed > 0) spdlog::info("storage: pruned {} instances dead for too long", removed);
        if (hooks_.on_prune) hooks_.on_prune(cutoff);
    } catch (const storage_error& e) {
        spdlog::warn("storage: pruning failed: {}", e.what());
        set_health(false, e.what());
    } catch (const std::exception& e) {
        spdlog::error("storage: unexpected failure pruning: {}", e.what());
    } catch (...) {
        spdlog::error("storage: unexpected failure pruning");
    }
}

}  // namespace servreg::storage
