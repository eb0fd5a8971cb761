// Tests of the storage layer on every database (SQLite always, PostgreSQL and MariaDB when
// scripts/test-databases.sh runs them): schema version 2 and the upgrade from version 1,
// tombstones, changes_since, group commit, concurrent schema creation, and the poller.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "databases.h"
#include "schema_v1.h"
#include "servreg/storage/poller.h"
#include "servreg/storage/schema.h"
#include "servreg/storage/soci_store.h"
#include "servreg/storage/store.h"
#include "servreg/storage/writer.h"
#include "show.h"
#include "write_ops.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using storage::changes;
using storage::instance_row;
using storage::open_store;
using storage::write_op;

std::int64_t wall_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

std::vector<bool> apply(storage::store& db, std::vector<write_op> ops) {
    std::vector<bool> existed;
    db.apply(ops, existed);
    return existed;
}

std::vector<std::tuple<std::string, long long>> sorted_tombstones(const changes& c) {
    std::vector<std::tuple<std::string, long long>> out;
    for (const auto& t : c.tombstones) out.emplace_back(t.url, t.deleted_at_ms);
    std::ranges::sort(out);
    return out;
}

std::vector<int> schema_versions(const std::string& url) {
    auto sql = connect(url);
    std::vector<int> versions(8);
    sql << "SELECT version FROM servreg_schema", soci::into(versions);
    return versions;
}

class DatabaseStore : public database_test {};

TEST_P(DatabaseStore, UnregisterLeavesATombstoneNoEarlierThanTheRowsLastSeen) {
    const auto url = fresh_database_url();
    auto db = open_store(translate_or_throw(url));
    apply(*db, {ping("a", "h1", 1, 1000), ping("a", "h2", 2, 1000)});
    // h1's deleter has a clock behind the pinger's; h3 was never there.
    const auto existed =
        apply(*db, {unregister("h1", 1, 500), unregister("h2", 2, 2000), unregister("h3", 3, 9)});
    EXPECT_EQ(existed, (std::vector<bool>{true, true, false}));
    const auto c = db->changes_since(0);
    EXPECT_TRUE(c.rows.empty()) << show(c);
    EXPECT_EQ(sorted_tombstones(c), (std::vector<std::tuple<std::string, long long>>{
                                        {url_at("h1", 1), 1000}, {url_at("h2", 2), 2000}}))
        << show(c);
    // Deleted again later: the tombstone moves on.
    apply(*db, {ping("a", "h1", 1, 3000), unregister("h1", 1, 3500)});
    EXPECT_EQ(sorted_tombstones(db->changes_since(2500)),
              (std::vector<std::tuple<std::string, long long>>{{url_at("h1", 1), 3500}}));
}

TEST_P(DatabaseStore, ChangesSinceReturnsWhatWasSeenAndDeletedFromThen) {
    const auto url = fresh_database_url();
    auto db = open_store(translate_or_throw(url));
    apply(*db, {ping("a", "h", 1, 100), ping("b", "h", 2, 200), ping("c", "h", 3, 300),
                ping("d", "h", 4, 250)});
    apply(*db, {unregister("h", 4, 260)});
    auto c = db->changes_since(200);
    std::ranges::sort(c.rows, {}, &instance_row::port);
    ASSERT_EQ(c.rows.size(), 2u) << show(c);
    EXPECT_EQ(c.rows[0].name, "b") << show(c);
    EXPECT_EQ(c.rows[1].name, "c") << show(c);
    EXPECT_EQ(c.rows[1].last_seen_ms, 300) << show(c);
    EXPECT_EQ(sorted_tombstones(c),
              (std::vector<std::tuple<std::string, long long>>{{url_at("h", 4), 260}}));
    c = db->changes_since(301);
    EXPECT_TRUE(c.rows.empty() && c.tombstones.empty()) << show(c);
}

TEST_P(DatabaseStore, PruneLeavesTombstonesAndForgetsOldOnes) {
    const auto url = fresh_database_url();
    auto db = open_store(translate_or_throw(url));
    const auto now = wall_ms();
    apply(*db, {ping("dead", "h", 1, 1000), ping("alive", "h", 2, now)});
    {
        auto sql = connect(url);
        long long old = now - storage::tombstone_retention.count() - 1000;
        sql << "INSERT INTO servreg_tombstones (url, deleted_at) VALUES ('http://old:9/api', :at)",
            soci::use(old);
    }
    EXPECT_EQ(db->prune(now - 60'000), 1u);
    const auto c = db->changes_since(0);
    ASSERT_EQ(c.tombstones.size(), 1u) << "the old tombstone should be gone " << show(c);
    EXPECT_EQ(c.tombstones[0].url, url_at("h", 1)) << show(c);
    EXPECT_GE(c.tombstones[0].deleted_at_ms, now) << show(c);
    ASSERT_EQ(c.rows.size(), 1u) << show(c);
    EXPECT_EQ(c.rows[0].name, "alive") << show(c);
}

TEST_P(DatabaseStore, UpgradesVersion1InPlaceKeepingTheRows) {
    const auto url = fresh_database_url();
    const bool mysql = kind() == config::database_kind::mysql;
    {
        auto sql = connect(url);
        create_schema_v1(sql, mysql);
        sql << "INSERT INTO servreg_services VALUES ('kept', 'h', 80, 10, 20)";
    }
    {
        auto db = open_store(translate_or_throw(url));
        const auto rows = db->load_all();
        ASSERT_EQ(rows.size(), 1u);
        EXPECT_EQ(std::tie(rows[0].name, rows[0].host, rows[0].port, rows[0].first_seen_ms,
                           rows[0].last_seen_ms),
                  std::make_tuple(std::string("kept"), std::string("h"), std::uint16_t{80},
                                  std::int64_t{10}, std::int64_t{20}));
        EXPECT_EQ(apply(*db, {unregister("h", 80, 30)}), std::vector<bool>{true});
        EXPECT_EQ(sorted_tombstones(db->changes_since(0)),
                  (std::vector<std::tuple<std::string, long long>>{{url_at("h", 80), 30}}));
    }
    EXPECT_EQ(schema_versions(url), std::vector<int>{storage::schema_version});
    // Opening again changes nothing.
    { auto db = open_store(translate_or_throw(url)); }
    EXPECT_EQ(schema_versions(url), std::vector<int>{storage::schema_version});
}

TEST_P(DatabaseStore, ConcurrentOpensOfAnEmptyDatabaseAllSucceed) {
    for (int round = 0; round < 3; ++round) {
        const auto url = fresh_database_url();
        const auto target = translate_or_throw(url);
        std::atomic<int> failures{0};
        std::mutex mutex;
        std::string first_failure;
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                try {
                    auto db = open_store(target);
                    apply(*db, {ping("race", "h", 1, 10)});
                } catch (const std::exception& e) {
                    std::lock_guard lock(mutex);
                    if (failures++ == 0) first_failure = e.what();
                }
            });
        }
        for (auto& t : threads) t.join();
        EXPECT_EQ(failures.load(), 0) << "round=" << round << " first: " << first_failure;
        EXPECT_EQ(schema_versions(url), std::vector<int>{storage::schema_version})
            << "round=" << round;
    }
}

// What a call under a lock did: what it threw (empty when nothing) and how long it took.
struct call_under_lock {
    std::string failure;
    std::chrono::milliseconds took;
};

// Runs `call` while `admin` holds, for 2.5 s, the lock that `lock` (a statement) takes.
template <class Call>
call_under_lock under_lock(soci::session& admin, const std::string& lock, Call&& call) {
    admin << "BEGIN";
    admin << lock;
    std::thread release([&admin] {
        std::this_thread::sleep_for(2500ms);
        admin << "COMMIT";
    });
    const auto started = std::chrono::steady_clock::now();
    call_under_lock out;
    try {
        call();
    } catch (const std::exception& e) {
        out.failure = e.what();
    }
    out.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    release.join();
    return out;
}

// PostgreSQL ends a statement that outlasts its call's limit on the server (a second line behind
// the watchdog, which this store has none of: 1.5 s a call). The start-up load reads the whole
// table in one statement and has 15 calls' time, then one call's limit holds again: here a lock
// held for 2.5 s, which the load waits out and a write does not.
class PostgresStore : public database_test {};

TEST_P(PostgresStore, TheLoadOfTheWholeTableHasFifteenCallsOfStatementTimeThenOne) {
    const auto url = fresh_database_url();
    auto db = open_store(translate_or_throw(url));
    apply(*db, {ping("held", "h", 1, 100)});
    auto admin = connect(url);
    const std::string lock = "LOCK TABLE servreg_services IN ACCESS EXCLUSIVE MODE";

    std::vector<instance_row> rows;
    const auto load = under_lock(admin, lock, [&] {
        db->scan_all(
            [&](std::span<const instance_row> r) { rows.insert(rows.end(), r.begin(), r.end()); });
    });
    EXPECT_EQ(load.failure, "") << "the load failed after " << load.took.count() << " ms";
    EXPECT_EQ(rows.size(), 1u);
    EXPECT_GE(load.took, 2s) << "the load did not wait for the lock";

    const auto write = under_lock(admin, lock, [&] { apply(*db, {ping("held", "h", 1, 200)}); });
    EXPECT_NE(write.failure, "") << "a write waited out the lock: " << write.took.count() << " ms";
}

// A write waits for a lock up to three quarters of its round trip's deadline (--db-timeout),
// on PostgreSQL (statement_timeout) and on MariaDB (innodb_lock_wait_timeout, whole seconds,
// and the client's read timeout): rows locked for 2.5 s, a store with a watchdog of 5 s waits
// them out, one with the default 2 s gives up after 1.5 s (MariaDB: 1 s).
class ServerStore : public database_test {};

TEST_P(ServerStore, ALockWaitFollowsTheRoundTripsDeadline) {
    const auto url = fresh_database_url();
    storage::watchdog five_seconds(5000ms);
    auto patient = open_store(translate_or_throw(url), five_seconds);
    auto hasty = open_store(translate_or_throw(url));
    apply(*patient, {ping("held", "h", 1, 100)});
    auto admin = connect(url);
    const std::string lock = "UPDATE servreg_services SET port = port";

    const auto waited =
        under_lock(admin, lock, [&] { apply(*patient, {ping("held", "h", 1, 200)}); });
    EXPECT_EQ(waited.failure, "") << "the write with a 5 s deadline failed after "
                                  << waited.took.count() << " ms";
    EXPECT_GE(waited.took, 2s) << "the write did not wait for the lock";

    const auto gave_up =
        under_lock(admin, lock, [&] { apply(*hasty, {ping("held", "h", 1, 300)}); });
    EXPECT_NE(gave_up.failure, "")
        << "the write with a 2 s deadline waited out the lock: " << gave_up.took.count() << " ms";
    EXPECT_LT(gave_up.took, 2s) << "the write with a 2 s deadline gave up only after "
                                << gave_up.took.count() << " ms: " << gave_up.failure;
    EXPECT_EQ(patient->load_all().at(0).last_seen_ms, 200) << "the second write was applied";
}

TEST_P(DatabaseStore, AwkwardNamesAndHostsRoundTripExactly) {
    const auto url = fresh_database_url();
    auto db = open_store(translate_or_throw(url));
    const std::vector<std::string> names = {"it's",
                                            "back\\slash",
                                            "quote\"d",
                                            "per%cent",
                                            "sp ace ",
                                            "caf\xc3\xa9",
                                            "\xf0\x9f\x98\x80 emoji",
                                            std::string(255, 'n'),
                                            "semi;colon -- comment",
                                            "Svc",
                                            "svc"};
    std::vector<write_op> ops;
    for (std::size_t i = 0; i < names.size(); ++i) {
        ops.push_back(ping(names[i], "h.\xc3\xa9" + std::to_string(i), 1, 100));
    }
    apply(*db, ops);
    auto rows = db->load_all();
    std::set<std::string> stored;
    for (const auto& r : rows) stored.insert(r.name);
    EXPECT_EQ(stored, std::set<std::string>(names.begin(), names.end()));
}

TEST_P(DatabaseStore, WriterGroupsConcurrentWritesIntoSharedTransactions) {
    const auto url = fresh_database_url();
    std::mutex mutex;
    std::size_t commits = 0;
    std::size_t largest = 0;
    storage::writer::hooks hooks;
    hooks.on_commit = [&](std::chrono::nanoseconds, std::size_t batch, bool ok) {
        std::lock_guard lock(mutex);
        ++commits;
        if (ok) largest = std::max(largest, batch);
    };
    std::atomic<int> succeeded{0};
    constexpr int clients = 16;
    constexpr int per_client = 40;
    {
        storage::writer w(open_store(translate_or_throw(url)), {}, wall_ms, hooks);
        std::vector<std::thread> threads;
        for (int t = 0; t < clients; ++t) {
            threads.emplace_back([&, t] {
                // Each client waits for its answer before its next write, as an HTTP client does.
                for (int i = 0; i < per_client; ++i) {
                    std::mutex m;
                    std::condition_variable cv;
                    bool answered = false;
                    w.submit(ping("gc", "h" + std::to_string(t), static_cast<std::uint16_t>(i + 1),
                                  wall_ms()),
                             [&](const write_op&, const storage::write_result& r) {
                                 if (!r.error) ++succeeded;
                                 std::lock_guard lock(m);
                                 answered = true;
                                 cv.notify_one();
                             });
                    std::unique_lock lock(m);
                    cv.wait(lock, [&] { return answered; });
                }
            });
        }
        for (auto& t : threads) t.join();
    }
    EXPECT_EQ(succeeded.load(), clients * per_client);
    EXPECT_GT(largest, 1u) << "no transaction carried more than one write; commits=" << commits;
    EXPECT_LT(commits, static_cast<std::size_t>(clients * per_client))
        << "one commit per write: no group commit";
    auto db = open_store(translate_or_throw(url));
    EXPECT_EQ(db->load_all().size(), static_cast<std::size_t>(clients * per_client));
}

TEST_P(DatabaseStore, PollerDeliversWhatAnotherConnectionCommits) {
    const auto url = fresh_database_url();
    const auto target = translate_or_throw(url);
    auto writer_db = open_store(target);
    std::mutex mutex;
    std::condition_variable changed;
    changes seen;
    std::int64_t last_since = 0;
    const auto loaded_at = wall_ms();
    storage::poller p(
        open_store(target), {.interval = 50ms, .retry_interval = 50ms, .overlap = 1000ms}, wall_ms,
        loaded_at,
        [&](const changes& c, std::int64_t since_ms) {
            std::lock_guard lock(mutex);
            seen.rows.insert(seen.rows.end(), c.rows.begin(), c.rows.end());
            seen.tombstones.insert(seen.tombstones.end(), c.tombstones.begin(), c.tombstones.end());
            last_since = since_ms;
            changed.notify_all();
        },
        [](storage::store&) { ADD_FAILURE() << "no reload expected"; });
    const auto now = wall_ms();
    apply(*writer_db, {ping("polled", "h", 1, now), ping("gone", "h", 2, now)});
    apply(*writer_db, {unregister("h", 2, now + 1)});
    std::unique_lock lock(mutex);
    const bool delivered = changed.wait_for(lock, 2s, [&] {
        return std::ranges::any_of(seen.rows, [](const auto& r) { return r.name == "polled"; }) &&
               std::ranges::any_of(seen.tombstones,
                                   [](const auto& t) { return t.url == url_at("h", 2); });
    });
    EXPECT_TRUE(delivered) << show(seen);
    EXPECT_GE(last_since, loaded_at - 1000);
    lock.unlock();
    // A poll is counted once its changes are handed over: just after the callback returns.
    for (int i = 0; i < 100 && p.polls() == 0; ++i) std::this_thread::sleep_for(10ms);
    EXPECT_GT(p.polls(), 0u);
}

TEST_P(DatabaseStore, PollerReloadsEverythingAfterAGapLongerThanTombstonesLive) {
    const auto url = fresh_database_url();
    const auto target = translate_or_throw(url);
    apply(*open_store(target), {ping("a", "h", 1, 10)});
    std::mutex mutex;
    std::condition_variable reloaded;
    std::vector<instance_row> rows;
    bool got = false;
    // The rows it has were read two hours ago, as after a long outage.
    storage::poller p(
        open_store(target), {}, wall_ms, wall_ms() - 2 * 3600 * 1000,
        [](const changes&, std::int64_t) {},
        [&](storage::store& db) {
            auto r = db.load_all();
            std::lock_guard lock(mutex);
            rows = std::move(r);
            got = true;
            reloaded.notify_all();
        });
    std::unique_lock lock(mutex);
    ASSERT_TRUE(reloaded.wait_for(lock, 2s, [&] { return got; }));
    ASSERT_EQ(rows.size(), 1u);
    EXPECT_EQ(rows[0].name, "a");
}

INSTANTIATE_TEST_SUITE_P(Databases, DatabaseStore,
                         ::testing::Values(sqlite_file, postgres_server, mariadb_server),
                         server_name{});
INSTANTIATE_TEST_SUITE_P(Databases, PostgresStore, ::testing::Values(postgres_server),
                         server_name{});
INSTANTIATE_TEST_SUITE_P(Databases, ServerStore, ::testing::Values(postgres_server, mariadb_server),
                         server_name{});

}  // namespace
}  // namespace servreg::test
