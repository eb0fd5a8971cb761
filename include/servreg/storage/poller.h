// Cross-process visibility: a thread with its own database connection that reads what every
// servreg process sharing the database changed lately, and hands it over to be merged.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "servreg/storage/store.h"

namespace servreg::storage {

struct poller_settings {
    // Between the start of one poll and the next. Changes become visible to this process
    // within about one interval plus one poll's duration.
    std::chrono::milliseconds interval{300};
    // After a failed poll: the database is likely down, and reads keep the last state.
    std::chrono::milliseconds retry_interval{500};
    // How far each poll reaches back before the previous poll's start. A row or tombstone
    // carries its writer's clock from before its commit, so this covers the time from taking
    // that clock to the commit becoming visible (queueing and committing, bounded by the storage
    // timeouts to about 2 s) plus the clock difference between servreg hosts.
    std::chrono::milliseconds overlap{3000};
};

class poller {
public:
    // Runs on the poller thread with what changed at or after since_ms. If it throws, the poll
    // counts as failed and the next one reaches back as far again.
    using apply_fn = std::function<void(const changes&, std::int64_t since_ms)>;
    // Runs on the poller thread, to read every row again from `db` (store::scan_all), when the
    // poller could not read the database for longer than tombstones are kept and cannot tell
    // what was deleted meanwhile.
    using reload_fn = std::function<void(store& db)>;
    using clock_fn = std::function<std::int64_t()>;

    // `loaded_at_ms`: when the rows the caller already has were read (the first poll reaches
    // back from there).
    poller(std::unique_ptr<store> db, poller_settings settings, clock_fn now_ms,
           std::int64_t loaded_at_ms, apply_fn apply, reload_fn reload);
    ~poller();  // stop()s
    poller(const poller&) = delete;
    poller& operator=(const poller&) = delete;

    // Ends the thread; a poll in progress finishes first.
    void stop();

    // Polls that succeeded so far (for tests and diagnostics).
    std::uint64_t polls() const;

private:
    void run() noexcept;
    void poll_once();

    std::unique_ptr<store> db_;
    poller_settings settings_;
    clock_fn now_ms_;
    apply_fn apply_;
    reload_fn reload_;
    std::int64_t last_start_ms_;  // the start of the last poll that succeeded
    bool failing_ = false;

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    std::uint64_t polls_ = 0;
    std::thread thread_;
};

}  // namespace servreg::storage
