// Deadlines of database round trips (SPEC section 5): neither SOCI nor the client libraries
// bound a call on a server that hangs, so a watchdog thread aborts the calls that overrun
// theirs, and says which call is late so that /health can tell before the deadline passes.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "servreg/config/db_url.h"
#include "servreg/storage/store.h"

namespace servreg::storage {

class watchdog {
public:
    using clock = std::chrono::steady_clock;

    // Observers, each may be empty; called on the thread that counts the event, quickly.
    struct hooks {
        std::function<void()> on_timeout;    // a call was aborted at its deadline
        std::function<void()> on_reconnect;  // a lost connection was replaced
    };

    // `own_thread` false: nothing fires by itself, expire() does (for tests).
    explicit watchdog(std::chrono::milliseconds timeout, hooks h = {}, bool own_thread = true);
    ~watchdog();
    watchdog(const watchdog&) = delete;
    watchdog& operator=(const watchdog&) = delete;

    // A call in progress. Disarmed by its destruction or disarm(); once that returned, its abort
    // can no longer run, so the resource it aborts may be released.
    class armed {
    public:
        armed() = default;
        armed(armed&& other) noexcept;
        armed& operator=(armed&& other) noexcept;
        ~armed();
        void disarm() noexcept;
        // Whether the deadline passed and the call was aborted.
        bool expired() const;

    private:
        friend class watchdog;
        armed(watchdog* owner, std::uint64_t id) : owner_(owner), id_(id) {}
        watchdog* owner_ = nullptr;
        std::uint64_t id_ = 0;
        bool expired_ = false;  // kept after disarm()
    };

    // Arms the deadline of one call on `database` (a display name, which must outlive the
    // call), `started` now, lasting `timeout()` times `multiple`. `abort` runs on the watchdog's
    // thread, under its lock, if the deadline passes first: it must be quick and must not call
    // back into the watchdog (shutdown() of a socket, sqlite3_interrupt()).
    armed arm(const std::string& database, std::function<void()> abort, int multiple = 1,
              clock::time_point started = clock::now());

    // Aborts the calls whose deadline is at or before `now`.
    void expire(clock::time_point now);

    // The reason /health gives while a call has run for more than half its deadline, or since a
    // call timed out until one is answered(): the database hangs, whatever the calls will say.
    std::optional<std::string> late(clock::time_point now = clock::now()) const;

    // A call came back in time: the database answers again, whatever timed out before.
    void answered();

    std::chrono::milliseconds timeout() const noexcept { return timeout_; }
    void count_reconnect() const;

private:
    struct call {
        const std::string* database;
        clock::time_point started;
        clock::time_point due;
        std::function<void()> abort;
        bool expired = false;
    };
    void run() noexcept;
    void disarm(std::uint64_t id, bool& expired) noexcept;
    bool expired(std::uint64_t id) const;

    std::chrono::milliseconds timeout_;
    hooks hooks_;
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::map<std::uint64_t, call> calls_;
    std::uint64_t next_id_ = 1;
    std::optional<std::string> timed_out_;  // since the last timeout, until answered()
    std::atomic<bool> any_timed_out_{false};
    clock::time_point sleeping_until_ = clock::time_point::min();  // the thread's next wake
    bool stopping_ = false;
    std::thread thread_;
};

// Opens the database like open_store(target), with every round trip under `deadlines`: a call
// that overruns is aborted (its connection shut down) and fails with storage_error, and the
// connection is replaced in the background.
std::unique_ptr<store> open_store(const config::database_target& target, watchdog& deadlines);

// "no answer within 2 s": the end of the reason a call that timed out gives.
std::string no_answer_within(std::chrono::milliseconds timeout);

}  // namespace servreg::storage
