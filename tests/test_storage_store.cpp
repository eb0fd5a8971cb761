// Tests of the SOCI store on SQLite files and in memory: schema and its upgrades, upsert
// semantics, batches, failures and the error messages clients see.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <random>
#include <thread>
#include <tuple>

#include "servreg/storage/connect_string.h"
#include "servreg/storage/db_errors.h"
#include "servreg/storage/schema.h"
#include "servreg/storage/soci_store.h"
#include "servreg/storage/store.h"
#include "sqlite_targets.h"
#include "utils.h"
#include "write_ops.h"

namespace servreg::storage {

// Lets GoogleTest print rows in failure messages.
inline void PrintTo(const instance_row& r, std::ostream* os) {
    *os << "{name=\"" << r.name << "\" host=\"" << r.host << "\" port=" << r.port
        << " first_seen=" << r.first_seen_ms << " last_seen=" << r.last_seen_ms << "}";
}

inline bool operator==(const instance_row& a, const instance_row& b) {
    return std::tie(a.name, a.host, a.port, a.first_seen_ms, a.last_seen_ms) ==
           std::tie(b.name, b.host, b.port, b.first_seen_ms, b.last_seen_ms);
}

}  // namespace servreg::storage

namespace {

using servreg::config::database_kind;
using servreg::config::database_target;
using servreg::storage::instance_row;
using servreg::storage::open_store;
using servreg::storage::storage_error;
using servreg::storage::store;
using servreg::storage::store_options;
using servreg::storage::write_op;
using servreg::test::sqlite_file;
using servreg::test::sqlite_memory;
using servreg::test::temp_dir;

// The two ways of executing upserts: SQLite's own (bulk binds) and the servers' (multi-row
// statements), which only SQLite can exercise here.
constexpr std::array<bool, 2> upsert_modes{false, true};

std::unique_ptr<store> open_memory(bool multi_row) {
    return open_store(sqlite_memory(),
                      store_options{.multi_row_upserts = multi_row, .checkpoints = {}});
}

using servreg::test::ping;
using servreg::test::unregister;

std::vector<bool> apply_ops(store& db, const std::vector<write_op>& ops) {
    std::vector<bool> existed;
    db.apply(ops, existed);
    return existed;
}

std::vector<instance_row> sorted(std::vector<instance_row> rows) {
    std::ranges::sort(rows, [](const instance_row& a, const instance_row& b) {
        return std::tie(a.host, a.port) < std::tie(b.host, b.port);
    });
    return rows;
}

std::string describe(const std::vector<write_op>& ops) {
    std::string out;
    for (const auto& op : ops) {
        out += op.kind == write_op::kind_t::ping
                   ? "ping(" + op.name + "," + op.host + ":" + std::to_string(op.port) + "@" +
                         std::to_string(op.now_ms) + ") "
                   : "unregister(" + op.url + ") ";
    }
    return out;
}

// A second connection to the same file, to look at what the store wrote.
soci::session inspect(const std::string& path) {
    return soci::session(soci::sqlite3, "db=" + path + " timeout=5");
}

std::vector<int> version_rows(const std::string& path) {
    auto sql = inspect(path);
    std::vector<int> versions(16);
    sql << "SELECT version FROM servreg_schema", soci::into(versions);
    return versions;
}

// --- schema ------------------------------------------------------------------------------------

TEST(SociStore, CreatesSchemaWithOneVersionRow) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    { auto db = open_store(sqlite_file(path)); }

    EXPECT_EQ(version_rows(path), std::vector<int>{servreg::storage::schema_version})
        << "path=" << path;
    auto sql = inspect(path);
    std::vector<std::string> columns(16);
    sql << "SELECT name FROM pragma_table_info('servreg_services')", soci::into(columns);
    EXPECT_EQ(columns, (std::vector<std::string>{"url", "name", "host", "port", "url_form", "meta",
                                                 "drained", "first_seen", "last_seen", "changed"}));
    int indexes = 0;
    sql << "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND "
           "name = 'servreg_services_name'",
        soci::into(indexes);
    EXPECT_EQ(indexes, 1) << "the index on name is missing";
}

TEST(SociStore, FileDatabaseIsInWalMode) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    auto sql = inspect(path);
    std::string mode;
    sql << "PRAGMA journal_mode", soci::into(mode);
    EXPECT_EQ(mode, "wal") << "path=" << path;
}

// Transactions of 10 pings each, numbered from `first`, of endpoints spread over 30,000.
void spread_pings(store& db, int transactions, int first) {
    for (int t = first; t < first + transactions; ++t) {
        std::vector<write_op> ops;
        for (int k = 0; k < 10; ++k) {
            const int i = (t * 10 + k) * 7919 % 30'000;
            ops.push_back(ping("svc." + std::to_string(i), "host-" + std::to_string(i / 1000),
                               static_cast<std::uint16_t>(1 + i % 1000), 1000 + t));
        }
        apply_ops(db, ops);
    }
}

// The checkpoint thread copies the WAL into the file as it goes: under steady writes the WAL
// stays bounded and the rows reach the database file.
TEST(SociStore, CheckpointsKeepTheWalBoundedAndLandInTheFile) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    // 6000 transactions of 10 endpoints spread over 30,000: some 60,000 WAL frames (240 MB)
    // without checkpoints.
    spread_pings(*db, 6000, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // a last checkpoint
    const auto wal = std::filesystem::file_size(path + "-wal");
    const auto file = std::filesystem::file_size(path);
    // Started over once it holds 16,384 frames (64 MiB of pages and their headers), plus what
    // this writer, never waiting for a client, commits while a checkpoint catches up: on a
    // busy machine as much again. Without checkpoints it would hold all 240 MB.
    EXPECT_LT(wal, 180u << 20) << "the WAL of " << path << " is " << wal << " bytes";
    EXPECT_GT(file, 1u << 20) << "the checkpointed rows did not reach " << path << " (" << file
                              << " bytes)";
    auto sql = inspect(path);
    long long rows = 0;
    sql << "SELECT COUNT(*) FROM servreg_services", soci::into(rows);
    EXPECT_EQ(rows, 30'000);
}

// The frames in the WAL of `path` and how many of them are in the file, as a checkpoint that
// copies nothing new reports them.
std::pair<long long, long long> wal_frames(const std::string& path) {
    auto sql = inspect(path);
    long long busy = 0, in_wal = 0, copied = 0;
    sql << "PRAGMA wal_checkpoint(PASSIVE)", soci::into(busy), soci::into(in_wal),
        soci::into(copied);
    return {in_wal, copied};
}

// A store whose WAL is checkpointed after 50 frames and started over after 400.
std::unique_ptr<store> open_with_small_wal(const std::string& path) {
    store_options options;
    options.checkpoints = {.passive_after = 50, .restart_after = 400};
    return open_store(sqlite_file(path), options);
}

TEST(SociStore, CheckpointsRunBesideTheWriterAndStartTheWalOver) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    // The writer's own automatic checkpoints are off: without the checkpoint thread the WAL
    // would hold every frame of 1000 transactions (some 10,000).
    auto db = open_with_small_wal(path);
    spread_pings(*db, 1000, 0);
    // The last checkpoints catch up within moments of the last write; a busy machine may take
    // longer.
    auto [in_wal, copied] = wal_frames(path);
    for (int i = 0; i < 50 && (in_wal >= 2000 || copied < in_wal - 50); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        std::tie(in_wal, copied) = wal_frames(path);
    }
    EXPECT_LT(in_wal, 2000) << "the WAL of " << path << " was not started over";
    EXPECT_GE(copied, in_wal - 50)
        << "the checkpoints fell behind: " << copied << " of " << in_wal << " frames in the file";
    const auto wal = std::filesystem::file_size(path + "-wal");
    // At its largest: the restart threshold plus what the writer, never waiting for a client,
    // committed while a checkpoint caught up; far from the 10,000 frames it would hold.
    EXPECT_LT(wal, 5000u * 4120) << "the WAL of " << path << " is " << wal << " bytes";
    auto sql = inspect(path);
    long long rows = 0;
    sql << "SELECT COUNT(*) FROM servreg_services", soci::into(rows);
    EXPECT_GT(rows, 9000);
}

TEST(SociStore, AReaderOfTheFileHoldsTheWalBackWithoutFailingWrites) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_with_small_wal(path);
    spread_pings(*db, 10, 0);
    {
        // Another process's read transaction: its snapshot must stay readable, so the WAL
        // cannot start over under it.
        auto reader = inspect(path);
        reader << "BEGIN";
        long long before = 0;
        reader << "SELECT COUNT(*) FROM servreg_services", soci::into(before);
        EXPECT_NO_THROW(spread_pings(*db, 300, 10)) << "writes must go on while a reader reads";
        long long still = 0;
        reader << "SELECT COUNT(*) FROM servreg_services", soci::into(still);
        EXPECT_EQ(still, before) << "the reader's snapshot changed under it";
        EXPECT_GT(wal_frames(path).first, 3000) << "the WAL started over under a reader";
        reader << "COMMIT";
    }
    // Once the reader is gone, the next checkpoints catch up and the WAL starts over.
    bool restarted = false;
    for (int round = 0; round < 50 && !restarted; ++round) {
        spread_pings(*db, 20, 310 + round * 20);
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        restarted = wal_frames(path).first < 1000;  // it held over 3000 with the reader
    }
    EXPECT_TRUE(restarted) << "the WAL of " << path << " holds " << wal_frames(path).first
                           << " frames after the reader left";
}

TEST(SociStore, PrimaryKeyIsTheUrl) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    auto sql = inspect(path);
    sql << "INSERT INTO servreg_services VALUES ('http://h:1/api', 'a', 'h', 1, 0, NULL, 0, 1, 1, "
           "1)";
    EXPECT_THROW(sql << "INSERT INTO servreg_services VALUES "
                        "('http://h:1/api', 'b', 'h', 1, 0, NULL, 0, 1, 1, 1)",
                 soci::soci_error);
    EXPECT_NO_THROW(sql << "INSERT INTO servreg_services VALUES "
                           "('http://h:1/v2', 'a', 'h', 1, 1, NULL, 0, 1, 1, 1)")
        << "two URLs on one host and port are two instances";
}

TEST(SociStore, InMemoryDatabaseWorks) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("svc", "h", 80, 1000)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"svc", "h", 80, 1000, 1000}}));
    EXPECT_NO_THROW(db->probe());
}

TEST(SociStore, ReopenKeepsData) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    {
        auto db = open_store(sqlite_file(path));
        apply_ops(*db, {ping("a", "h1", 1, 10), ping("b", "h2", 2, 20)});
    }
    auto db = open_store(sqlite_file(path));
    EXPECT_EQ(sorted(db->load_all()),
              (std::vector<instance_row>{{"a", "h1", 1, 10, 10}, {"b", "h2", 2, 20, 20}}));
    EXPECT_EQ(version_rows(path), std::vector<int>{servreg::storage::schema_version});
}

// A file's claim (database_file.h) refuses other processes, not the stores of this one; the
// daemon's test refuses a second process.
TEST(SociStore, StoresOfOneProcessShareAFileAndItsClaim) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto first = open_store(sqlite_file(path));
    std::unique_ptr<servreg::storage::store> second;
    ASSERT_NO_THROW(second = open_store(sqlite_file(path)));
    apply_ops(*second, {ping("a", "h1", 1, 10)});
    first.reset();
    apply_ops(*second, {ping("b", "h2", 2, 20)});
    EXPECT_EQ(sorted(second->load_all()),
              (std::vector<instance_row>{{"a", "h1", 1, 10, 10}, {"b", "h2", 2, 20, 20}}));
    second.reset();
    auto third = open_store(sqlite_file(path));
    EXPECT_EQ(third->load_all().size(), 2u);
}

TEST(SociStore, UpgradesDatabaseAtVersionZero) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    {
        auto db = open_store(sqlite_file(path));
        apply_ops(*db, {ping("a", "h", 1, 10)});
    }
    inspect(path) << "UPDATE servreg_schema SET version = 0";
    ASSERT_EQ(version_rows(path), std::vector<int>{0});

    auto db = open_store(sqlite_file(path));
    EXPECT_EQ(version_rows(path), std::vector<int>{servreg::storage::schema_version});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 10, 10}}));
}

TEST(SociStore, UpgradesDatabaseWithoutSchemaTable) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    {
        auto db = open_store(sqlite_file(path));
        apply_ops(*db, {ping("a", "h", 1, 10)});
    }
    inspect(path) << "DROP TABLE servreg_schema";

    auto db = open_store(sqlite_file(path));
    EXPECT_EQ(version_rows(path), std::vector<int>{servreg::storage::schema_version});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 10, 10}}));
}

TEST(SociStore, SetsAsideServicesTableOfUnknownLayout) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    {
        auto sql = inspect(path);
        sql << "CREATE TABLE servreg_services (id INTEGER PRIMARY KEY, name TEXT, url TEXT)";
        sql << "INSERT INTO servreg_services (name, url) VALUES ('old', 'http://x/api')";
    }
    auto db = open_store(sqlite_file(path));
    EXPECT_TRUE(db->load_all().empty());
    apply_ops(*db, {ping("a", "h", 1, 10)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 10, 10}}));
    int old_rows = 0;
    inspect(path) << "SELECT COUNT(*) FROM servreg_services_v0", soci::into(old_rows);
    EXPECT_EQ(old_rows, 1) << "the old table should be kept under another name";
}

TEST(SociStore, RefusesSchemaNewerThanItKnows) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    { auto db = open_store(sqlite_file(path)); }
    const int newer = servreg::storage::schema_version + 1;
    inspect(path) << "UPDATE servreg_schema SET version = " << newer;

    try {
        auto db = open_store(sqlite_file(path));
        ADD_FAILURE() << "opened a database at schema version " << newer;
    } catch (const storage_error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("newer"), std::string::npos) << "message=" << message;
        EXPECT_NE(message.find("sqlite file " + path), std::string::npos) << "message=" << message;
    }
    EXPECT_EQ(version_rows(path), std::vector<int>{newer}) << "the database must be left alone";
}

TEST(SociStore, ConcurrentOpensOfEmptyDatabaseAllSucceed) {
    temp_dir dir;
    for (int round = 0; round < 5; ++round) {
        const auto path = dir.file("race" + std::to_string(round) + ".db");
        std::atomic<int> failures{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 4; ++t) {
            threads.emplace_back([&] {
                try {
                    auto db = open_store(sqlite_file(path, {{"timeout", "5"}}));
                } catch (const std::exception& e) {
                    std::cerr << "open failed: " << e.what() << "\n";
                    ++failures;
                }
            });
        }
        for (auto& t : threads) t.join();
        EXPECT_EQ(failures.load(), 0) << "round=" << round;
        EXPECT_EQ(version_rows(path), std::vector<int>{servreg::storage::schema_version})
            << "round=" << round;
    }
}

TEST(SociStore, OpenNamesTheDatabaseWhenItCannot) {
    const auto target = sqlite_file("/nonexistent-servreg-dir/reg.db");
    try {
        auto db = open_store(target);
        ADD_FAILURE() << "opened " << target.path;
    } catch (const storage_error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("cannot open sqlite file /nonexistent-servreg-dir/reg.db"),
                  std::string::npos)
            << "message=" << message;
    }
}

TEST(SociStore, OpenRefusesFileThatIsNotADatabase) {
    temp_dir dir;
    const auto path = dir.file("junk.db");
    std::ofstream(path) << std::string(4096, 'x');
    try {
        auto db = open_store(sqlite_file(path));
        ADD_FAILURE() << "opened " << path;
    } catch (const storage_error& e) {
        EXPECT_EQ(std::string(e.what()),
                  "cannot open sqlite file " + path + ": file is not a database");
    }
}

// --- writes ------------------------------------------------------------------------------------

TEST(SociStore, FirstPingInsertsRow) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("svc", "10.0.0.1", 8080, 1000)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"svc", "10.0.0.1", 8080, 1000, 1000}}));
}

TEST(SociStore, PingOfSameNameKeepsFirstSeen) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("svc", "h", 1, 1000)});
    apply_ops(*db, {ping("svc", "h", 1, 2000)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"svc", "h", 1, 1000, 2000}}));
}

TEST(SociStore, PingUnderNewNameMovesEndpointAndRestartsFirstSeen) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("old", "h", 1, 1000)});
    apply_ops(*db, {ping("new", "h", 1, 2000)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"new", "h", 1, 2000, 2000}}));
}

TEST(SociStore, NamesDifferingInCaseOrTrailingSpaceAreDifferent) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("svc", "h", 1, 1000)});
    apply_ops(*db, {ping("Svc", "h", 1, 2000)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"Svc", "h", 1, 2000, 2000}}));
    apply_ops(*db, {ping("Svc ", "h", 1, 3000)});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"Svc ", "h", 1, 3000, 3000}}));
    apply_ops(*db, {ping("x", "H", 1, 4000)});
    EXPECT_EQ(db->load_all().size(), 2u) << "hosts h and H are different endpoints";
}

TEST(SociStore, UnregisterTellsWhetherTheRowExisted) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("svc", "h", 1, 1000)});
    EXPECT_EQ(apply_ops(*db, {unregister("h", 1), unregister("h", 1), unregister("h", 2)}),
              (std::vector<bool>{true, false, false}));
    EXPECT_TRUE(db->load_all().empty());
}

TEST(SociStore, EmptyBatchIsFine) {
    auto db = open_store(sqlite_memory());
    EXPECT_TRUE(apply_ops(*db, {}).empty());
}

struct batch_case {
    std::vector<write_op> ops;
    std::vector<instance_row> rows;  // afterwards, sorted by host and port
    std::vector<bool> unregister_existed;
};

TEST(SociStore, BatchWithSameEndpointSeveralTimesActsAsInTurn) {
    const std::vector<batch_case> cases{
        {{ping("a", "h", 1, 1), ping("a", "h", 1, 2), ping("a", "h", 1, 3)},
         {{"a", "h", 1, 1, 3}},
         {}},
        {{ping("a", "h", 1, 1), ping("b", "h", 1, 2), ping("a", "h", 1, 3)},
         {{"a", "h", 1, 3, 3}},
         {}},
        {{ping("a", "h", 1, 1), ping("b", "h", 1, 2), ping("b", "h", 1, 3)},
         {{"b", "h", 1, 2, 3}},
         {}},
        {{ping("a", "h", 1, 1), unregister("h", 1)}, {}, {true}},
        {{unregister("h", 1), ping("a", "h", 1, 2)}, {{"a", "h", 1, 2, 2}}, {false}},
        {{ping("a", "h", 1, 1), unregister("h", 1), ping("a", "h", 1, 3), ping("a", "h", 1, 4)},
         {{"a", "h", 1, 3, 4}},
         {true}},
        {{ping("a", "h2", 1, 1), ping("b", "h1", 1, 2), ping("a", "h2", 1, 3), unregister("h1", 1),
          unregister("h2", 1), ping("c", "h1", 1, 6)},
         {{"c", "h1", 1, 6, 6}},
         {true, true}},
    };
    for (const bool multi_row : upsert_modes) {
        for (const auto& c : cases) {
            auto db = open_memory(multi_row);
            const auto existed = apply_ops(*db, c.ops);
            std::vector<bool> unregister_existed;
            for (std::size_t i = 0; i < c.ops.size(); ++i) {
                if (c.ops[i].kind == write_op::kind_t::unregister) {
                    unregister_existed.push_back(existed[i]);
                }
            }
            EXPECT_EQ(sorted(db->load_all()), c.rows)
                << "multi_row=" << multi_row << " ops=" << describe(c.ops);
            EXPECT_EQ(unregister_existed, c.unregister_existed)
                << "multi_row=" << multi_row << " ops=" << describe(c.ops);
        }
    }
}

TEST(SociStore, BatchSeesRowsOfEarlierBatches) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("a", "h", 1, 1)});
    const std::vector<write_op> ops{ping("a", "h", 1, 5), ping("a", "h", 1, 6)};
    apply_ops(*db, ops);
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 1, 6}}))
        << "ops=" << describe(ops);
}

// Random batches compared with applying each op in turn to a map.
// `hosts` times three endpoints: few make every batch revisit endpoints, many make long runs of
// distinct ones (the 64-row statements).
void check_random_batches(bool multi_row, int hosts, int max_batch, unsigned unregister_percent) {
    auto db = open_memory(multi_row);
    std::map<std::string, instance_row> model;  // by URL
    std::mt19937 rng(20240611);
    std::int64_t now = 0;
    for (int round = 0; round < 30; ++round) {
        std::vector<write_op> ops;
        const int size = std::uniform_int_distribution(1, max_batch)(rng);
        for (int i = 0; i < size; ++i) {
            std::string host = "h" + std::to_string(rng() % static_cast<unsigned>(hosts));
            auto port = static_cast<std::uint16_t>(1 + rng() % 3);
            if (rng() % 100 >= unregister_percent) {
                ops.push_back(ping("n" + std::to_string(rng() % 3), host, port, ++now));
            } else {
                ops.push_back(unregister(host, port));
            }
        }
        std::vector<bool> expected_existed(ops.size(), false);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            const auto& op = ops[i];
            const auto& key = op.url;
            if (op.kind == write_op::kind_t::unregister) {
                expected_existed[i] = model.erase(key) > 0;
                continue;
            }
            auto it = model.find(key);
            if (it == model.end()) {
                model[key] = {op.name, op.host, op.port, op.now_ms, op.now_ms};
            } else if (it->second.name != op.name) {
                it->second = {op.name, op.host, op.port, op.now_ms, op.now_ms};
            } else {
                it->second.last_seen_ms = op.now_ms;
            }
        }
        std::vector<instance_row> expected;
        for (const auto& [key, row] : model) expected.push_back(row);

        const auto existed = apply_ops(*db, ops);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            if (ops[i].kind == write_op::kind_t::unregister) {
                ASSERT_EQ(existed[i], expected_existed[i])
                    << "multi_row=" << multi_row << " round=" << round << " op=" << i
                    << " ops=" << describe(ops);
            }
        }
        ASSERT_EQ(sorted(db->load_all()), sorted(expected))
            << "multi_row=" << multi_row << " round=" << round << " ops=" << describe(ops);
    }
}

TEST(SociStore, RandomBatchesOnFewEndpointsMatchOneOpAtATime) {
    for (const bool multi_row : upsert_modes) check_random_batches(multi_row, 4, 300, 30);
}

TEST(SociStore, RandomBatchesOnManyEndpointsMatchOneOpAtATime) {
    for (const bool multi_row : upsert_modes) check_random_batches(multi_row, 400, 2000, 3);
}

TEST(SociStore, StoresAwkwardNamesAndHostsExactly) {
    for (const bool multi_row : upsert_modes) {
        auto db = open_memory(multi_row);
        const std::vector<std::pair<std::string, std::string>> cases{
            {"under_score", "h_1"},
            {"per%cent", "h%"},
            {"it's", "o'host"},
            {"say \"hi\"", "\"h\""},
            {"back\\slash", "h\\"},
            {":name", ":host"},
            {"semi; DROP TABLE servreg_services; --", "h;--"},
            {"ünïcødé-服务-🚀", "høst.例え.jp"},
            {"tab\tand space ", "h-ws"},
            {std::string(255, 'n'), std::string(255, 'h')},
        };
        std::vector<write_op> ops;
        std::vector<instance_row> expected;
        std::uint16_t port = 1;
        for (const auto& [name, host] : cases) {
            ops.push_back(ping(name, host, port, 7));
            expected.push_back({name, host, port, 7, 7});
            ++port;
        }
        apply_ops(*db, ops);
        EXPECT_EQ(sorted(db->load_all()), sorted(expected)) << "multi_row=" << multi_row;
        // The same names again must be recognised as unchanged.
        for (auto& op : ops) op.now_ms = 8;
        apply_ops(*db, ops);
        for (auto& row : expected) row.last_seen_ms = 8;
        EXPECT_EQ(sorted(db->load_all()), sorted(expected)) << "multi_row=" << multi_row;
    }
}

TEST(SociStore, PruneDeletesRowsSeenBeforeCutoff) {
    auto db = open_store(sqlite_memory());
    apply_ops(*db, {ping("a", "h", 1, 100), ping("b", "h", 2, 200), ping("c", "h", 3, 300)});
    EXPECT_EQ(db->prune(200), 1u);
    EXPECT_EQ(sorted(db->load_all()),
              (std::vector<instance_row>{{"b", "h", 2, 200, 200}, {"c", "h", 3, 300, 300}}));
    EXPECT_EQ(db->prune(0), 0u);
}

// A ping of a stored row waits in the heartbeat journal; the store below keeps track of which.
// Three pings of one row: the second goes to the journal, the third too, and folds the second.
constexpr std::int64_t folded_ping = 2000, journaled_ping = 3000;
void ping_three_times(store& db) {
    apply_ops(db, {ping("a", "h", 1, 1000), ping("b", "h", 2, 1000)});
    apply_ops(db, {ping("a", "h", 1, folded_ping)});
    apply_ops(db, {ping("a", "h", 1, journaled_ping)});
}

long long stored_last_seen(const std::string& path, const std::string& host_port) {
    auto sql = inspect(path);
    long long last_seen = 0;
    sql << "SELECT last_seen FROM servreg_services WHERE url = 'http://" + host_port + "/api'",
        soci::into(last_seen);
    return last_seen;
}

long long journal_rows(const std::string& path) {
    auto sql = inspect(path);
    long long rows = 0;
    sql << "SELECT (SELECT COUNT(*) FROM servreg_heartbeats_0) + "
           "(SELECT COUNT(*) FROM servreg_heartbeats_1)",
        soci::into(rows);
    return rows;
}

TEST(SociStore, JournaledPingsSurviveAKillAndAreFoldedAtTheNextStart) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    ping_three_times(*db);
    ASSERT_EQ(stored_last_seen(path, "h:1"), folded_ping) << "the latest ping is journaled";
    // The files as a kill -9 leaves them: the store above stays open, unfolded.
    const auto crashed = dir.file("crashed.db");
    std::filesystem::copy_file(path, crashed);
    std::filesystem::copy_file(path + "-wal", crashed + "-wal");
    {
        auto restarted = open_store(sqlite_file(crashed));
        EXPECT_EQ(journal_rows(crashed), 0) << "folded at the start";
        EXPECT_EQ(stored_last_seen(crashed, "h:1"), journaled_ping);
        EXPECT_EQ(sorted(restarted->load_all()),
                  (std::vector<instance_row>{{"a", "h", 1, 1000, journaled_ping},
                                             {"b", "h", 2, 1000, 1000}}));
    }
    // The store that ran on reads the same, and leaves its rows whole when it closes.
    EXPECT_EQ(sorted(db->load_all()),
              (std::vector<instance_row>{{"a", "h", 1, 1000, journaled_ping},
                                         {"b", "h", 2, 1000, 1000}}));
    apply_ops(*db, {ping("b", "h", 2, 4000), ping("b", "h", 2, 5000)});
    db.reset();
    EXPECT_EQ(journal_rows(path), 0);
    EXPECT_EQ(stored_last_seen(path, "h:2"), 5000);
}

TEST(SociStore, PruneKeepsARowWhoseLatestPingIsJournaled) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    ping_three_times(*db);
    ASSERT_EQ(stored_last_seen(path, "h:1"), folded_ping);
    // a's row says 2000, its journal 3000: a cutoff between keeps it, and prunes b.
    EXPECT_EQ(db->prune(journaled_ping - 1), 1u);
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 1000, journaled_ping}}));
    EXPECT_EQ(db->prune(journaled_ping + 1), 1u);
    EXPECT_TRUE(db->load_all().empty());
}

// write_op::stored_same: the caller vouches that the row is stored as the ping would store it,
// so the journal takes the ping without reading the row first; heeded only for the first write
// of a URL in a batch, since the caller judged before the batch.
TEST(SociStore, StoredSameIsHeededForTheFirstWriteOfAUrlInABatchOnly) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    const auto vouched = [](write_op op) {
        op.stored_same = true;
        return op;
    };
    apply_ops(*db, {ping("a", "h", 1, 1000)});
    apply_ops(*db, {vouched(ping("a", "h", 1, 2000))});
    EXPECT_EQ(journal_rows(path), 1) << "journaled";
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 1000, 2000}}));

    // Heeded: vouched for a row that is not there, the ping is journaled against nothing. What
    // a wrong caller would cost, and why the index vouches only for what it saw committed.
    apply_ops(*db, {vouched(ping("b", "h", 2, 3000))});
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 1000, 2000}}));

    // An unregister, then a ping vouched for before the batch: the ping stores its row again.
    const std::vector<write_op> ops{unregister("h", 1, 4000), vouched(ping("a", "h", 1, 4000))};
    apply_ops(*db, ops);
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 4000, 4000}}))
        << describe(ops);
}

// When writes pause, the writer settles the store step by step: each step folds a bounded
// number of URLs, so that a write coming meanwhile waits for one short transaction.
TEST(SociStore, SettlingFoldsTheJournalInSteps) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    constexpr int n = 3000;
    for (const std::int64_t at : {1000, 2000}) {
        std::vector<write_op> ops;
        for (int i = 0; i < n; ++i)
            ops.push_back(ping("s", "h", static_cast<std::uint16_t>(i + 1), at));
        apply_ops(*db, ops);
    }
    ASSERT_GT(journal_rows(path), 0) << "the second pings are journaled";
    int steps = 1;
    while (!db->settle()) ASSERT_LE(++steps, n) << "settle() never ends";
    EXPECT_GT(steps, 1) << n << " URLs folded in one step";
    EXPECT_EQ(journal_rows(path), 0);
    auto sql = inspect(path);
    int stale = -1;
    sql << "SELECT COUNT(*) FROM servreg_services WHERE last_seen <> 2000", soci::into(stale);
    EXPECT_EQ(stale, 0) << "rows without their latest ping after " << steps << " steps";
    EXPECT_TRUE(db->settle()) << "nothing left";
}

TEST(SociStore, LoadsHundredThousandRows) {
    for (const bool multi_row : upsert_modes) {
        temp_dir dir;
        const auto path = dir.file("big.db");
        constexpr int count = 100'000;
        auto row_for = [](int i) {
            return instance_row{"service-" + std::to_string(i % 997),
                                "10.0." + std::to_string(i / 1000),
                                static_cast<std::uint16_t>(1 + i % 1000), 1'700'000'000'000 + i,
                                1'700'000'000'000 + 2 * i};
        };
        {
            auto db = open_store(sqlite_file(path),
                                 store_options{.multi_row_upserts = multi_row, .checkpoints = {}});
            std::vector<write_op> ops;
            for (int i = 0; i < count; ++i) {
                const auto r = row_for(i);
                ops.push_back(ping(r.name, r.host, r.port, r.first_seen_ms));
            }
            apply_ops(*db, ops);
            for (int i = 0; i < count; ++i) ops[i].now_ms = row_for(i).last_seen_ms;
            apply_ops(*db, ops);
        }
        auto db = open_store(sqlite_file(path));
        const auto start = std::chrono::steady_clock::now();
        auto rows = db->load_all();
        const auto took = std::chrono::steady_clock::now() - start;
        std::cout << "load_all of " << rows.size() << " rows took "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms\n";

        ASSERT_EQ(rows.size(), static_cast<std::size_t>(count));
        std::vector<instance_row> expected;
        for (int i = 0; i < count; ++i) expected.push_back(row_for(i));
        rows = sorted(std::move(rows));
        expected = sorted(std::move(expected));
        for (int i = 0; i < count; ++i) {
            ASSERT_EQ(rows[i], expected[i]) << "multi_row=" << multi_row << " i=" << i;
        }
    }
}

// --- failures ----------------------------------------------------------------------------------

TEST(SociStore, FailedBatchAppliesNothingAndTellsNoSql) {
    for (const bool multi_row : upsert_modes) {
        temp_dir dir;
        const auto path = dir.file("reg.db");
        auto db = open_store(sqlite_file(path),
                             store_options{.multi_row_upserts = multi_row, .checkpoints = {}});
        apply_ops(*db, {ping("kept", "h0", 1, 1)});
        inspect(path) << "CREATE TRIGGER refuse BEFORE INSERT ON servreg_services "
                         "WHEN NEW.name = 'boom' BEGIN SELECT RAISE(ABORT, 'refused'); END";

        const std::vector<write_op> ops{unregister("h0", 1), ping("a", "h1", 1, 2),
                                        ping("boom", "h2", 1, 3), ping("z", "h3", 1, 4)};
        try {
            apply_ops(*db, ops);
            ADD_FAILURE() << "the trigger did not refuse: ops=" << describe(ops);
        } catch (const storage_error& e) {
            const std::string message = e.what();
            EXPECT_EQ(message.find("INSERT"), std::string::npos) << "message=" << message;
            EXPECT_EQ(message.find("servreg_services"), std::string::npos) << "message=" << message;
            EXPECT_EQ(message.find("boom"), std::string::npos) << "message=" << message;
        }
        EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"kept", "h0", 1, 1, 1}}))
            << "ops=" << describe(ops);

        inspect(path) << "DROP TRIGGER refuse";
        EXPECT_EQ(apply_ops(*db, ops)[0], true) << "multi_row=" << multi_row;
        EXPECT_EQ(db->load_all().size(), 3u) << "multi_row=" << multi_row;
    }
}

TEST(SociStore, LockedDatabaseFailsThenRecovers) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path, {{"timeout", "0"}}));
    auto other = inspect(path);
    other << "BEGIN IMMEDIATE";
    try {
        apply_ops(*db, {ping("a", "h", 1, 1)});
        ADD_FAILURE() << "wrote past another writer's lock";
    } catch (const storage_error& e) {
        EXPECT_EQ(std::string(e.what()), "database is locked");
    }
    other << "ROLLBACK";
    EXPECT_NO_THROW(apply_ops(*db, {ping("a", "h", 1, 2)}));
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 2, 2}}));
}

TEST(SociStore, WritesFailOnDatabaseOpenedReadOnly) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    {
        auto db = open_store(sqlite_file(path));
        apply_ops(*db, {ping("a", "h", 1, 1)});
    }
    auto db = open_store(sqlite_file(path, {{"timeout", "1"}, {"readonly", "1"}}));
    try {
        apply_ops(*db, {ping("b", "h", 2, 2)});
        ADD_FAILURE() << "wrote to a read-only database";
    } catch (const storage_error& e) {
        EXPECT_EQ(std::string(e.what()), "database is read-only");
    }
    EXPECT_EQ(db->load_all(), (std::vector<instance_row>{{"a", "h", 1, 1, 1}}));
    EXPECT_NO_THROW(db->probe());
}

TEST(SociStore, WritesFailOnReadOnlyFile) {
    if (geteuid() == 0) GTEST_SKIP() << "root writes through file permissions";
    temp_dir dir;
    const auto path = dir.file("reg.db");
    {
        auto db = open_store(sqlite_file(path));
        apply_ops(*db, {ping("a", "h", 1, 1)});
    }
    ASSERT_EQ(chmod(path.c_str(), 0444), 0);
    ASSERT_EQ(chmod(dir.path().c_str(), 0555), 0);
    bool refused = false;
    try {
        auto db = open_store(sqlite_file(path));
        apply_ops(*db, {ping("b", "h", 2, 2)});
    } catch (const storage_error& e) {
        refused = true;
        std::cout << "refused with: " << e.what() << "\n";
    }
    chmod(dir.path().c_str(), 0755);
    EXPECT_TRUE(refused) << "wrote to read-only file " << path;
}

TEST(SociStore, ProbeFailsWhenSchemaIsGone) {
    temp_dir dir;
    const auto path = dir.file("reg.db");
    auto db = open_store(sqlite_file(path));
    EXPECT_NO_THROW(db->probe());
    inspect(path) << "DROP TABLE servreg_schema";
    EXPECT_THROW(db->probe(), storage_error);
}

// --- error messages ----------------------------------------------------------------------------

TEST(StorageErrors, SqliteCodesBecomeShortReasons) {
    using servreg::storage::client_reason;
    using servreg::storage::error_phase;
    const std::vector<std::pair<int, std::string>> cases{
        {SQLITE_BUSY, "database is locked"},
        {SQLITE_LOCKED, "database is locked"},
        {SQLITE_FULL, "disk is full"},
        {SQLITE_READONLY, "database is read-only"},
        {SQLITE_IOERR_WRITE, "disk I/O error"},
        {SQLITE_CORRUPT, "database file is corrupt"},
        {SQLITE_ERROR, "database error on sqlite file /x.db"},
    };
    for (const auto& [code, want] : cases) {
        const soci::sqlite3_soci_error e("sqlite3_statement_backend::loadOne: INSERT INTO x", code);
        EXPECT_EQ(
            client_reason(e, database_kind::sqlite, "sqlite file /x.db", true, error_phase::use),
            want)
            << "code=" << code;
    }
}

TEST(StorageErrors, ServerMessagesBecomeShortReasons) {
    using servreg::storage::client_reason;
    using servreg::storage::error_phase;
    const std::string pg = "PostgreSQL database 'reg' on db:5432";
    struct error_case {
        std::string message;
        bool connected;
        error_phase phase;
        std::string want;
    };
    const std::vector<error_case> cases{
        {"could not extend file \"base/16384/16385\": No space left on device", true,
         error_phase::use, "disk is full"},
        {"server closed the connection unexpectedly", false, error_phase::use,
         "connection to " + pg + " lost"},
        {"deadlock detected", true, error_phase::use, "deadlock in the database"},
        {"Deadlock found when trying to get lock; try restarting transaction", true,
         error_phase::use, "deadlock in the database"},
        {"The table 'servreg_services' is full", true, error_phase::use, "disk is full"},
        {"cannot execute INSERT in a read-only transaction", true, error_phase::use,
         "database is read-only"},
        {"syntax error at or near \"INSERT INTO servreg_services\"", true, error_phase::use,
         "database error on " + pg},
        {"Cannot establish connection to the database.\nconnection to server at \"db\" "
         "(10.0.0.1), port 5432 failed: Connection refused",
         false, error_phase::connect, "cannot open " + pg + ": connection refused"},
        {"Cannot establish connection to the database.\nFATAL:  password authentication failed "
         "for user \"reg\"",
         false, error_phase::connect, "cannot open " + pg + ": authentication failed for " + pg},
        {"Cannot establish connection to the database.\ncould not translate host name \"db\" to "
         "address: Name or service not known",
         false, error_phase::connect, "cannot open " + pg + ": unknown host"},
        {"Cannot establish connection to the database.\nFATAL:  database \"reg\" does not exist",
         false, error_phase::connect, "cannot open " + pg + ": database does not exist"},
        {"Cannot establish connection to the database.\nFATAL:  role \"u\" does not exist", false,
         error_phase::connect, "cannot open " + pg + ": unknown user"},
        {"Cannot establish connection to the database.\nsomething new", false, error_phase::connect,
         "cannot open " + pg + ": cannot connect"},
    };
    for (const auto& c : cases) {
        const soci::soci_error e(c.message);
        EXPECT_EQ(client_reason(e, database_kind::postgresql, pg, c.connected, c.phase), c.want)
            << "message=" << c.message;
    }
}

}  // namespace
