// Group commit: one thread owns the store and applies concurrent writes in shared transactions.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "servreg/storage/store.h"

namespace servreg::storage {

// Work a completion leaves for after the last completion of its batch.
using batch_tail = std::vector<std::function<void()>>;

// What became of one submitted write. `error` is empty on success.
struct write_result {
    std::optional<std::string> error;  // the reason, fit for a client (no password, no SQL)
    bool existed = false;              // unregister, drain, undrain: the row was there
    // The batch's tail, run on the writer thread once every completion of the batch has run:
    // the completions can hand their replies on together. Null when the write completes alone
    // (refused because the writer stops).
    batch_tail* tail = nullptr;
};

struct writer_settings {
    std::size_t max_batch = 4096;                      // writes in one transaction at most
    std::chrono::milliseconds probe_interval{1000};    // health probe when idle
    std::chrono::milliseconds prune_interval{60'000};  // how often dead rows are pruned
    std::chrono::milliseconds prune_after{24 * 3600 * 1000};
};

// The database's last known state, for /health.
struct health {
    bool ok = true;
    std::string reason;  // when not ok
};

class writer {
public:
    // Runs on the writer thread after the write's transaction committed (or failed), in
    // commit order. Must be quick and must not throw.
    using completion = std::function<void(const write_op&, const write_result&)>;
    using clock_fn = std::function<std::int64_t()>;

    // Observers, called on the writer thread; each may be empty.
    struct hooks {
        // After a prune committed, with the cutoff used.
        std::function<void(std::int64_t cutoff_ms)> on_prune;
        // After each commit attempt: how long it took, how many writes, whether it succeeded.
        std::function<void(std::chrono::nanoseconds, std::size_t batch, bool ok)> on_commit;
        // On any thread, for current_health(): why the database counts as unavailable although
        // the last call succeeded (a call of the writer or the poller that is late), if it does.
        std::function<std::optional<std::string>()> late;
        // Before each batch goes to the database: may set write_op::stored_same on its pings
        // (registry::index::mark_stored). What it sets must hold for the rows as every earlier
        // batch left them; a throw leaves the batch as it was.
        std::function<void(std::span<write_op>)> mark_stored;
    };

    writer(std::unique_ptr<store> db, writer_settings settings, clock_fn now_ms, hooks h = {});
    ~writer();  // stop()s
    writer(const writer&) = delete;
    writer& operator=(const writer&) = delete;

    // Queues a write. `done` runs exactly once, also when the writer is stopping.
    void submit(write_op op, completion done);

    // Commits everything queued so far, then joins the thread. Later submits fail at once.
    void stop();

    health current_health() const;

private:
    void run() noexcept;
    void take_batch(std::vector<write_op>& ops, std::vector<completion>& done);
    void commit(std::vector<write_op>& ops, std::vector<completion>& done);
    void probe();
    void prune();
    bool settle();
    void set_health(bool ok, std::string reason);

    std::unique_ptr<store> db_;
    writer_settings settings_;
    clock_fn now_ms_;
    hooks hooks_;

    // The queue: ops and their completions side by side, so that a batch is one contiguous span.
    std::mutex mutex_;
    std::condition_variable wake_;
    std::vector<write_op> queued_ops_;
    std::vector<completion> queued_done_;
    batch_tail tail_;  // the writer thread's only
    bool stopping_ = false;
    bool sleeping_ = false;  // the thread waits on wake_: only then does submit() notify
    bool settled_ = true;    // nothing left to settle since the last write: the writer thread's

    mutable std::mutex health_mutex_;
    health health_;

    std::mutex join_mutex_;
    std::thread thread_;
};

}  // namespace servreg::storage
