// Tests of the group-commit writer: batching, ordering, failures, health, probes, prunes and
// shutdown, against a scriptable in-memory store and against SQLite.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <thread>

#include "servreg/storage/store.h"
#include "servreg/storage/writer.h"
#include "sqlite_targets.h"
#include "utils.h"

namespace {

using namespace std::chrono_literals;
using servreg::config::database_kind;
using servreg::storage::health;
using servreg::storage::instance_row;
using servreg::storage::storage_error;
using servreg::storage::store;
using servreg::storage::write_op;
using servreg::storage::write_result;
using servreg::storage::writer;
using servreg::storage::writer_settings;

using servreg::test::eventually;

// A one-shot gate a thread can wait on.
class gate {
public:
    void open() {
        std::lock_guard lock(mutex_);
        open_ = true;
        cv_.notify_all();
    }
    void wait() {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [&] { return open_; });
    }

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

// What the fake store saw and what it should do; shared with the test, which keeps it alive.
struct script {
    std::mutex mutex;
    std::vector<std::vector<write_op>> batches;  // applied ones only
    std::vector<std::int64_t> prunes;
    std::atomic<int> probes{0};
    std::atomic<int> settles{0};
    std::atomic<int> unsettled_steps{0};  // settle() calls that leave something to do
    std::atomic<bool> fail_writes{false};
    std::atomic<bool> fail_probes{false};
    std::atomic<bool> throw_unexpected{false};
    std::chrono::milliseconds apply_delay{0};
    gate* first_apply_waits_for = nullptr;  // the first apply blocks until this opens
    std::atomic<bool> first_apply_started{false};
    std::atomic<bool> unregister_existed{true};

    std::size_t applied_count() {
        std::lock_guard lock(mutex);
        std::size_t n = 0;
        for (const auto& b : batches) n += b.size();
        return n;
    }
};

class fake_store final : public store {
public:
    explicit fake_store(script& s) : s_(s) {}

    void scan_all(const row_sink&) override {}

    void apply(std::span<const write_op> ops, std::vector<bool>& existed) override {
        if (!s_.first_apply_started.exchange(true) && s_.first_apply_waits_for != nullptr) {
            s_.first_apply_waits_for->wait();
        }
        if (s_.apply_delay.count() > 0) std::this_thread::sleep_for(s_.apply_delay);
        if (s_.throw_unexpected) throw std::logic_error("bug in the store");
        if (s_.fail_writes) throw storage_error("disk is full");
        existed.assign(ops.size(), s_.unregister_existed.load());
        std::lock_guard lock(s_.mutex);
        s_.batches.emplace_back(ops.begin(), ops.end());
    }

    std::size_t prune(std::int64_t cutoff_ms) override {
        std::lock_guard lock(s_.mutex);
        s_.prunes.push_back(cutoff_ms);
        return 0;
    }

    void probe() override {
        ++s_.probes;
        if (s_.fail_probes) throw storage_error("connection to test database lost");
    }

    bool settle() override {
        ++s_.settles;
        if (s_.unsettled_steps == 0) return true;
        --s_.unsettled_steps;
        return false;
    }

private:
    script& s_;
};

write_op ping(std::string name, std::uint16_t port) {
    return {.kind = write_op::kind_t::ping,
            .name = std::move(name),
            .host = "h",
            .port = port,
            .now_ms = 1000,
            .url = "http://h:" + std::to_string(port) + "/api"};
}

// Collects completions, checking each write completes once.
struct outcomes {
    std::mutex mutex;
    std::vector<int> calls;  // per write id
    std::vector<std::optional<std::string>> errors;
    std::vector<bool> existed;

    explicit outcomes(std::size_t n) : calls(n, 0), errors(n), existed(n, false) {}

    writer::completion for_write(std::size_t id) {
        return [this, id](const write_op&, const write_result& r) {
            std::lock_guard lock(mutex);
            ++calls[id];
            errors[id] = r.error;
            existed[id] = r.existed;
        };
    }
    std::size_t completed() {
        std::lock_guard lock(mutex);
        return static_cast<std::size_t>(std::ranges::count_if(calls, [](int c) { return c > 0; }));
    }
    bool each_once() {
        std::lock_guard lock(mutex);
        return std::ranges::all_of(calls, [](int c) { return c == 1; });
    }
};

std::int64_t fixed_clock() {
    return 50'000;
}

writer_settings quiet_settings() {
    writer_settings s;
    s.probe_interval = 1h;
    s.prune_interval = 1h;
    return s;
}

TEST(Writer, ConcurrentSubmitsAllCompleteInSharedBatches) {
    script s;
    s.apply_delay = 2ms;  // lets writes pile up while a batch commits
    std::mutex sizes_mutex;
    std::vector<std::size_t> sizes;
    writer::hooks hooks;
    hooks.on_commit = [&](std::chrono::nanoseconds, std::size_t batch, bool ok) {
        std::lock_guard lock(sizes_mutex);
        sizes.push_back(batch);
        EXPECT_TRUE(ok);
    };
    constexpr int threads = 8;
    constexpr int per_thread = 500;
    outcomes out(threads * per_thread);
    {
        writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock, hooks);
        std::vector<std::thread> submitters;
        for (int t = 0; t < threads; ++t) {
            submitters.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    const auto id = static_cast<std::size_t>(t * per_thread + i);
                    w.submit(ping("t" + std::to_string(t), static_cast<std::uint16_t>(i)),
                             out.for_write(id));
                }
            });
        }
        for (auto& t : submitters) t.join();
        ASSERT_TRUE(eventually([&] { return out.completed() == out.calls.size(); }))
            << "completed=" << out.completed() << " of " << out.calls.size();
    }
    EXPECT_TRUE(out.each_once());
    EXPECT_EQ(s.applied_count(), out.calls.size());
    std::lock_guard lock(sizes_mutex);
    std::size_t total = 0;
    for (auto n : sizes) total += n;
    EXPECT_EQ(total, out.calls.size());
    EXPECT_GT(std::ranges::max(sizes), 1u)
        << "no batch held more than one write; commits=" << sizes.size();
    EXPECT_LT(sizes.size(), out.calls.size());
}

TEST(Writer, KeepsEachThreadsOrder) {
    script s;
    s.apply_delay = 1ms;
    constexpr int threads = 4;
    constexpr int per_thread = 300;
    std::mutex order_mutex;
    std::vector<std::vector<int>> seen(threads);
    {
        writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
        std::vector<std::thread> submitters;
        for (int t = 0; t < threads; ++t) {
            submitters.emplace_back([&, t] {
                for (int i = 0; i < per_thread; ++i) {
                    w.submit(ping(std::to_string(t), static_cast<std::uint16_t>(i)),
                             [&, t](const write_op& op, const write_result&) {
                                 std::lock_guard lock(order_mutex);
                                 seen[t].push_back(op.port);
                             });
                }
            });
        }
        for (auto& t : submitters) t.join();
        w.stop();
    }
    for (int t = 0; t < threads; ++t) {
        ASSERT_EQ(seen[t].size(), static_cast<std::size_t>(per_thread)) << "thread=" << t;
        EXPECT_TRUE(std::ranges::is_sorted(seen[t])) << "thread=" << t;
    }
    // The store also received each thread's writes in order.
    std::vector<int> last(threads, -1);
    for (const auto& batch : s.batches) {
        for (const auto& op : batch) {
            const int t = std::stoi(op.name);
            EXPECT_GT(op.port, last[t]) << "thread=" << t;
            last[t] = op.port;
        }
    }
}

TEST(Writer, DeliversExistedOfUnregister) {
    script s;
    s.unregister_existed = true;
    outcomes out(1);
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
    w.submit({.kind = write_op::kind_t::unregister, .url = "http://h:1/api"}, out.for_write(0));
    w.stop();
    EXPECT_TRUE(out.existed[0]);
    EXPECT_FALSE(out.errors[0].has_value());
}

TEST(Writer, FailureReachesEveryWriteOfTheBatchAndHealth) {
    script s;
    gate hold;
    s.first_apply_waits_for = &hold;
    std::vector<std::pair<std::size_t, bool>> commits;
    writer::hooks hooks;
    hooks.on_commit = [&](std::chrono::nanoseconds, std::size_t batch, bool ok) {
        commits.emplace_back(batch, ok);
    };
    outcomes out(11);
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock, hooks);
    w.submit(ping("first", 0), out.for_write(0));
    ASSERT_TRUE(eventually([&] { return s.first_apply_started.load(); }));
    for (std::size_t i = 1; i < 11; ++i) {
        w.submit(ping("x", static_cast<std::uint16_t>(i)), out.for_write(i));
    }
    s.fail_writes = true;  // the first batch fails too: the flag is read after the gate
    hold.open();
    ASSERT_TRUE(eventually([&] { return out.completed() == 11; }));

    for (std::size_t i = 0; i < 11; ++i) {
        EXPECT_EQ(out.errors[i], std::optional<std::string>("disk is full")) << "write=" << i;
    }
    EXPECT_EQ(s.applied_count(), 0u);
    const health h = w.current_health();
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reason, "disk is full");

    // Recovery: the next batch goes through and health comes back.
    s.fail_writes = false;
    outcomes later(1);
    w.submit(ping("later", 99), later.for_write(0));
    ASSERT_TRUE(eventually([&] { return later.completed() == 1; }));
    EXPECT_FALSE(later.errors[0].has_value()) << "error=" << later.errors[0].value_or("");
    EXPECT_TRUE(w.current_health().ok);
    w.stop();
    ASSERT_EQ(commits.size(), 3u);
    EXPECT_EQ(commits[0], std::make_pair(std::size_t{1}, false));
    EXPECT_EQ(commits[1], std::make_pair(std::size_t{10}, false));
    EXPECT_EQ(commits[2], std::make_pair(std::size_t{1}, true));
}

TEST(Writer, MarkStoredSeesEachBatchBeforeTheStoreAndAThrowUndoesIt) {
    script s;
    std::atomic<bool> throw_after_marking{false};
    writer::hooks hooks;
    hooks.mark_stored = [&](std::span<write_op> ops) {
        for (write_op& op : ops) op.stored_same = op.port % 2 == 0;
        if (throw_after_marking) throw std::runtime_error("index unavailable");
    };
    outcomes out(3);
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock, hooks);
    // One batch each: the store records what it was given.
    w.submit(ping("a", 2), out.for_write(0));
    ASSERT_TRUE(eventually([&] { return out.completed() == 1; }));
    w.submit(ping("a", 3), out.for_write(1));
    ASSERT_TRUE(eventually([&] { return out.completed() == 2; }));
    throw_after_marking = true;
    w.submit(ping("a", 4), out.for_write(2));
    w.stop();
    EXPECT_TRUE(out.each_once());
    std::string given;
    for (const auto& batch : s.batches) {
        for (const write_op& op : batch) given += op.stored_same ? '1' : '0';
        given += ' ';
    }
    EXPECT_EQ(given, "1 0 0 ") << "ports 2, 3 and 4 (whose hook threw after marking it)";
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_FALSE(out.errors[i].has_value()) << "write=" << i << " " << *out.errors[i];
    }
}

TEST(Writer, UnexpectedStoreExceptionFailsBatchButNotTheWriter) {
    script s;
    s.throw_unexpected = true;
    outcomes out(2);
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
    w.submit(ping("a", 1), out.for_write(0));
    ASSERT_TRUE(eventually([&] { return out.completed() == 1; }));
    EXPECT_TRUE(out.errors[0].has_value());
    EXPECT_EQ(out.errors[0]->find("bug"), std::string::npos) << "error=" << *out.errors[0];
    s.throw_unexpected = false;
    w.submit(ping("a", 2), out.for_write(1));
    ASSERT_TRUE(eventually([&] { return out.completed() == 2; }));
    EXPECT_FALSE(out.errors[1].has_value());
}

TEST(Writer, ThrowingCompletionDoesNotStopOthers) {
    script s;
    outcomes out(3);
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
    w.submit(ping("a", 1), out.for_write(0));
    w.submit(ping("a", 2), [](const write_op&, const write_result&) {
        throw std::runtime_error("careless completion");
    });
    w.submit(ping("a", 3), out.for_write(1));
    ASSERT_TRUE(eventually([&] { return out.completed() == 2; }));
    w.submit(ping("a", 4), out.for_write(2));
    w.stop();
    EXPECT_EQ(out.completed(), 3u);
    EXPECT_EQ(s.applied_count(), 4u);
}

// A completion may leave work for the end of its batch: it runs once, on the writer thread,
// after the last completion of the batch.
TEST(Writer, ABatchsTailRunsAfterAllItsCompletions) {
    script s;
    gate hold;
    s.first_apply_waits_for = &hold;
    std::mutex events_mutex;
    std::vector<std::string> events;
    const auto record = [&](std::string what) {
        std::lock_guard lock(events_mutex);
        events.push_back(std::move(what));
    };
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
    const auto completion = [&](int id) {
        return [&, id](const write_op&, const write_result& r) {
            record("done " + std::to_string(id));
            if (r.tail == nullptr) return record("no tail " + std::to_string(id));
            if (id == 1) r.tail->push_back([&] { record("tail"); });
        };
    };
    w.submit(ping("a", 0), completion(0));
    ASSERT_TRUE(eventually([&] { return s.first_apply_started.load(); }));
    for (int id = 1; id <= 3; ++id) {
        w.submit(ping("a", static_cast<std::uint16_t>(id)), completion(id));
    }
    hold.open();  // writes 1-3 were queued together: the second batch
    w.stop();
    const std::vector<std::string> expected{"done 0", "done 1", "done 2", "done 3", "tail"};
    std::lock_guard lock(events_mutex);
    std::string seen;
    for (const auto& e : events) seen += e + "; ";
    EXPECT_EQ(events, expected) << "events: " << seen;
    std::lock_guard batches_lock(s.mutex);
    ASSERT_GE(s.batches.size(), 2u);
    EXPECT_EQ(s.batches[1].size(), 3u) << "writes 1-3 were not one batch; events: " << seen;
}

TEST(Writer, StopCommitsEverythingQueued) {
    script s;
    gate hold;
    s.first_apply_waits_for = &hold;
    constexpr std::size_t n = 200;
    outcomes out(n);
    writer_settings settings = quiet_settings();
    settings.max_batch = 64;  // several batches remain queued when stop() is called
    writer w(std::make_unique<fake_store>(s), settings, fixed_clock);
    w.submit(ping("a", 0), out.for_write(0));
    ASSERT_TRUE(eventually([&] { return s.first_apply_started.load(); }));
    for (std::size_t i = 1; i < n; ++i) {
        w.submit(ping("a", static_cast<std::uint16_t>(i)), out.for_write(i));
    }
    std::thread stopper([&] { w.stop(); });
    std::this_thread::sleep_for(20ms);
    EXPECT_EQ(out.completed(), 0u) << "stop() must wait for the commit in flight";
    hold.open();
    stopper.join();
    EXPECT_EQ(out.completed(), n);
    EXPECT_TRUE(out.each_once());
    EXPECT_EQ(s.applied_count(), n);
    for (std::size_t i = 0; i < n; ++i) EXPECT_FALSE(out.errors[i].has_value()) << "write=" << i;
    std::lock_guard lock(s.mutex);
    for (const auto& b : s.batches) EXPECT_LE(b.size(), 64u);
}

TEST(Writer, SubmitAfterStopFailsAtOnce) {
    script s;
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
    w.stop();
    w.stop();  // idempotent
    outcomes out(1);
    w.submit(ping("a", 1), out.for_write(0));
    // Completed before submit() returned.
    EXPECT_EQ(out.calls[0], 1);
    EXPECT_EQ(out.errors[0], std::optional<std::string>("server is shutting down"));
    EXPECT_EQ(s.applied_count(), 0u);
}

TEST(Writer, CompletionMayStopTheWriter) {
    script s;
    outcomes out(1);
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock);
    std::atomic<bool> stopped{false};
    w.submit(ping("a", 1), [&](const write_op&, const write_result&) {
        w.stop();
        stopped = true;
    });
    ASSERT_TRUE(eventually([&] { return stopped.load(); }));
    w.submit(ping("a", 2), out.for_write(0));
    EXPECT_EQ(out.errors[0], std::optional<std::string>("server is shutting down"));
}

TEST(Writer, IdleProbesUpdateHealth) {
    script s;
    writer_settings settings = quiet_settings();
    settings.probe_interval = 5ms;
    writer w(std::make_unique<fake_store>(s), settings, fixed_clock);
    ASSERT_TRUE(eventually([&] { return s.probes.load() >= 2; })) << "probes=" << s.probes;
    EXPECT_TRUE(w.current_health().ok);
    s.fail_probes = true;
    ASSERT_TRUE(eventually([&] { return !w.current_health().ok; }));
    EXPECT_EQ(w.current_health().reason, "connection to test database lost");
    s.fail_probes = false;
    ASSERT_TRUE(eventually([&] { return w.current_health().ok; }));
    EXPECT_EQ(w.current_health().reason, "");
}

TEST(Writer, WritesThatPauseSettleTheStoreOnce) {
    script s;
    writer_settings settings = quiet_settings();
    settings.probe_interval = 5ms;
    outcomes out(2);
    writer w(std::make_unique<fake_store>(s), settings, fixed_clock);
    const auto probes_from = [&](int from, int more) {
        return eventually([&] { return s.probes.load() >= from + more; });
    };
    ASSERT_TRUE(probes_from(0, 3));
    EXPECT_EQ(s.settles, 0) << "nothing was written";
    w.submit(ping("a", 1), out.for_write(0));
    ASSERT_TRUE(eventually([&] { return s.settles.load() == 1; })) << "settles=" << s.settles;
    ASSERT_TRUE(probes_from(s.probes.load(), 3));
    EXPECT_EQ(s.settles, 1) << "idle probes after the settle settle nothing";
    // A store with more to do is called again, step by step, until it is done.
    s.unsettled_steps = 2;
    w.submit(ping("a", 2), out.for_write(1));
    ASSERT_TRUE(eventually([&] { return s.settles.load() == 4; })) << "settles=" << s.settles;
    ASSERT_TRUE(probes_from(s.probes.load(), 3));
    EXPECT_EQ(s.settles, 4);
}

TEST(Writer, HealthTellsOfALateCallAlthoughTheLastOneSucceeded) {
    script s;
    std::mutex late_mutex;
    std::optional<std::string> late;
    writer::hooks hooks;
    hooks.late = [&] {
        std::lock_guard lock(late_mutex);
        return late;
    };
    writer w(std::make_unique<fake_store>(s), quiet_settings(), fixed_clock, hooks);
    EXPECT_TRUE(w.current_health().ok);
    {
        std::lock_guard lock(late_mutex);
        late = "test database has not answered for 1.2 s";
    }
    const auto h = w.current_health();
    EXPECT_FALSE(h.ok);
    EXPECT_EQ(h.reason, "test database has not answered for 1.2 s");
    {
        std::lock_guard lock(late_mutex);
        late.reset();
    }
    EXPECT_TRUE(w.current_health().ok) << w.current_health().reason;
}

TEST(Writer, PrunesPeriodicallyWithCutoffFromClock) {
    script s;
    writer_settings settings = quiet_settings();
    settings.prune_interval = 5ms;
    settings.prune_after = 1000ms;
    std::mutex cutoffs_mutex;
    std::vector<std::int64_t> cutoffs;
    writer::hooks hooks;
    hooks.on_prune = [&](std::int64_t cutoff) {
        std::lock_guard lock(cutoffs_mutex);
        cutoffs.push_back(cutoff);
    };
    writer w(std::make_unique<fake_store>(s), settings, fixed_clock, hooks);
    ASSERT_TRUE(eventually([&] {
        std::lock_guard lock(cutoffs_mutex);
        return cutoffs.size() >= 2;
    }));
    w.stop();
    std::lock_guard lock(s.mutex);
    ASSERT_GE(s.prunes.size(), 2u);
    EXPECT_EQ(s.prunes[0], 49'000);
    EXPECT_EQ(cutoffs[0], 49'000);
}

TEST(Writer, HooksMayBeEmpty) {
    script s;
    writer_settings settings;
    settings.probe_interval = 1ms;
    settings.prune_interval = 1ms;
    outcomes out(1);
    writer w(std::make_unique<fake_store>(s), settings, fixed_clock);
    w.submit(ping("a", 1), out.for_write(0));
    ASSERT_TRUE(eventually([&] { return out.completed() == 1 && s.probes.load() > 0; }));
}

// --- with SQLite -------------------------------------------------------------------------------

// A busy timeout of 0: a locked file fails a write at once.
servreg::config::database_target sqlite_file(const std::string& path) {
    return servreg::test::sqlite_file(path, {{"timeout", "0"}});
}

TEST(WriterOnSqlite, WritesAnsweredAreInTheDatabase) {
    servreg::test::temp_dir dir;
    const auto path = dir.file("reg.db");
    constexpr std::size_t n = 1000;
    outcomes out(n);
    {
        writer w(servreg::storage::open_store(sqlite_file(path)), quiet_settings(), fixed_clock);
        std::vector<std::thread> submitters;
        for (int t = 0; t < 4; ++t) {
            submitters.emplace_back([&, t] {
                for (std::size_t i = static_cast<std::size_t>(t); i < n; i += 4) {
                    w.submit(ping("svc", static_cast<std::uint16_t>(i + 1)), out.for_write(i));
                }
            });
        }
        for (auto& t : submitters) t.join();
        ASSERT_TRUE(eventually([&] { return out.completed() == n; }));
        // Answered means committed: another connection sees every row now, writer still open.
        soci::session sql(soci::sqlite3, "db=" + path);
        int rows = 0;
        sql << "SELECT COUNT(*) FROM servreg_services", soci::into(rows);
        EXPECT_EQ(rows, static_cast<int>(n));
    }
    EXPECT_TRUE(out.each_once());
}

// A ping of a known instance waits in SQLite's heartbeat journal; once writes pause, the rows
// hold every time, for whoever reads the file.
TEST(WriterOnSqlite, PausedWritesLeaveWholeRows) {
    servreg::test::temp_dir dir;
    const auto path = dir.file("reg.db");
    writer_settings settings = quiet_settings();
    settings.probe_interval = 20ms;
    writer w(servreg::storage::open_store(sqlite_file(path)), settings, fixed_clock);
    outcomes out(3);
    for (std::size_t i = 0; i < 3; ++i) {
        write_op op = ping("svc", 1);
        op.now_ms = 1000 * static_cast<std::int64_t>(i + 1);
        w.submit(std::move(op), out.for_write(i));
        ASSERT_TRUE(eventually([&] { return out.completed() == i + 1; }));
    }
    soci::session sql(soci::sqlite3, "db=" + path + " timeout=5");
    const auto row_and_journal = [&] {
        long long last_seen = 0, journaled = -1;
        sql << "SELECT last_seen FROM servreg_services", soci::into(last_seen);
        sql << "SELECT (SELECT COUNT(*) FROM servreg_heartbeats_0) + "
               "(SELECT COUNT(*) FROM servreg_heartbeats_1)",
            soci::into(journaled);
        return std::pair{last_seen, journaled};
    };
    ASSERT_TRUE(eventually([&] {
        return row_and_journal() == std::pair{3000LL, 0LL};
    })) << "last_seen and journaled heartbeats: "
        << row_and_journal().first << ", " << row_and_journal().second;
}

TEST(WriterOnSqlite, LockedDatabaseFailsWholeBatchAndRecovers) {
    servreg::test::temp_dir dir;
    const auto path = dir.file("reg.db");
    soci::session other(soci::sqlite3, "db=" + path + " timeout=5");
    outcomes out(6);
    writer w(servreg::storage::open_store(sqlite_file(path)), quiet_settings(), fixed_clock);
    other << "BEGIN IMMEDIATE";
    for (std::size_t i = 0; i < 5; ++i) {
        w.submit(ping("svc", static_cast<std::uint16_t>(i + 1)), out.for_write(i));
    }
    ASSERT_TRUE(eventually([&] { return out.completed() == 5; }));
    for (std::size_t i = 0; i < 5; ++i) {
        EXPECT_EQ(out.errors[i], std::optional<std::string>("database is locked")) << "write=" << i;
    }
    EXPECT_FALSE(w.current_health().ok);
    other << "ROLLBACK";

    w.submit(ping("svc", 100), out.for_write(5));
    ASSERT_TRUE(eventually([&] { return out.completed() == 6; }));
    EXPECT_FALSE(out.errors[5].has_value()) << "error=" << out.errors[5].value_or("");
    EXPECT_TRUE(w.current_health().ok);
    w.stop();
    int rows = 0;
    other << "SELECT COUNT(*) FROM servreg_services", soci::into(rows);
    EXPECT_EQ(rows, 1) << "a write answered with an error was applied";
}

}  // namespace
