// Tests of registry::service with a fake clock and an in-memory store behind the real
// group-commit writer: liveness at the ttl boundary, writes reaching the index only once
// committed, failures reported and leaving the index alone, unregister's answer.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "manual_clock.h"
#include "recording_executor.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "servreg/registry/service.h"
#include "servreg/storage/store.h"
#include "servreg/storage/writer.h"
#include "show.h"
#include "write_ops.h"

namespace {

using namespace std::chrono_literals;
using servreg::registry::endpoint;
using servreg::registry::glob;
using servreg::registry::index;
using servreg::registry::listed_instance;
using servreg::registry::service;
using servreg::storage::instance_row;
using servreg::storage::write_op;

using servreg::test::manual_clock;

// What the in-memory database holds; shared with the test, which the writer's store is not.
struct database {
    std::mutex mutex;
    std::map<std::string, instance_row> rows;  // by URL
    std::atomic<bool> failing{false};

    std::optional<instance_row> row(const std::string& host, std::uint16_t port) {
        std::lock_guard lock(mutex);
        const auto it = rows.find(servreg::test::url_at(host, port));
        if (it == rows.end()) return std::nullopt;
        return it->second;
    }
};

// A store double: upserts and deletes keyed by URL like the SQL one, all or nothing,
// and throws storage_error while the database is "down".
class memory_store final : public servreg::storage::store {
public:
    explicit memory_store(std::shared_ptr<database> db) : db_(std::move(db)) {}

    void scan_all(const row_sink& sink) override {
        std::lock_guard lock(db_->mutex);
        check();
        std::vector<instance_row> out;
        for (const auto& [key, row] : db_->rows) out.push_back(row);
        sink(out);
    }

    void apply(std::span<const write_op> ops, std::vector<bool>& existed) override {
        std::lock_guard lock(db_->mutex);
        check();
        existed.assign(ops.size(), false);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            const auto& op = ops[i];
            const std::string& key = op.url;
            if (op.kind == write_op::kind_t::unregister) {
                existed[i] = db_->rows.erase(key) > 0;
                continue;
            }
            auto it = db_->rows.find(key);
            if (it == db_->rows.end() || it->second.name != op.name) {
                instance_row row{op.name, op.host, op.port, op.now_ms, op.now_ms};
                row.url = op.url;
                db_->rows[key] = row;
            } else {
                it->second.last_seen_ms = op.now_ms;
            }
        }
    }

    std::size_t prune(std::int64_t cutoff_ms) override {
        std::lock_guard lock(db_->mutex);
        check();
        return std::erase_if(
            db_->rows, [&](const auto& entry) { return entry.second.last_seen_ms < cutoff_ms; });
    }

    void probe() override {
        std::lock_guard lock(db_->mutex);
        check();
    }

private:
    void check() const {
        if (db_->failing) throw servreg::storage::storage_error("database is unreachable");
    }
    std::shared_ptr<database> db_;
};

constexpr std::int64_t start_ms = 1'700'000'000'000;

using servreg::test::show;

std::string show(const std::vector<listed_instance>& instances) {
    std::ostringstream out;
    out << '[';
    for (const auto& i : instances) {
        out << " {" << i.row.name << ' ' << i.row.host << ':' << i.row.port << ' '
            << i.row.first_seen_ms - start_ms << ' ' << i.row.last_seen_ms - start_ms << ' '
            << (i.alive ? "alive" : "dead") << '}';
    }
    out << " ]";
    return out.str();
}

// A service over a fresh index, the real writer and an in-memory database.
class ServiceTest : public ::testing::Test {
protected:
    std::shared_ptr<database> db = std::make_shared<database>();
    manual_clock clock{start_ms};
    index idx;
    servreg::storage::writer writer{std::make_unique<memory_store>(db),
                                    servreg::storage::writer_settings{},
                                    [this] { return clock.now_ms(); }};
    service svc{idx, writer, clock, 60s};

    // Pings and waits for the answer: the reason on failure.
    std::optional<std::string> ping(const std::string& name, const std::string& host,
                                    std::uint16_t port) {
        std::promise<std::optional<std::string>> answer;
        auto future = answer.get_future();
        svc.ping(name, host, port, [&answer](std::optional<std::string> error) {
            answer.set_value(std::move(error));
        });
        if (future.wait_for(10s) != std::future_status::ready) {
            ADD_FAILURE() << "ping " << name << ' ' << host << ':' << port << " never answered";
            return "timeout";
        }
        return future.get();
    }

    std::pair<std::optional<std::string>, bool> unregister(const std::string& host,
                                                           std::uint16_t port) {
        std::promise<std::pair<std::optional<std::string>, bool>> answer;
        auto future = answer.get_future();
        svc.unregister(host, port, [&answer](std::optional<std::string> error, bool existed) {
            answer.set_value({std::move(error), existed});
        });
        if (future.wait_for(10s) != std::future_status::ready) {
            ADD_FAILURE() << "unregister " << host << ':' << port << " never answered";
            return {"timeout", false};
        }
        return future.get();
    }
};

TEST_F(ServiceTest, PingThenLocateFindsTheInstance) {
    ASSERT_EQ(ping("svc.api", "10.0.0.1", 8080), std::nullopt);
    const auto located = svc.locate(glob("svc.*"));
    EXPECT_EQ(located, (std::vector<endpoint>{{"10.0.0.1", 8080}})) << show(located);
    const auto row = db->row("10.0.0.1", 8080);
    ASSERT_TRUE(row.has_value()) << "the ping must reach the database";
    EXPECT_EQ(row->name, "svc.api");
    EXPECT_EQ(row->last_seen_ms, start_ms) << "the write carries the clock's now";
}

TEST_F(ServiceTest, InstanceIsAliveAtExactlyTtlAndDeadOneMillisecondLater) {
    ASSERT_EQ(ping("svc", "h", 1), std::nullopt);

    clock.set(start_ms + 60'000);
    EXPECT_EQ(svc.locate(glob("svc")), (std::vector<endpoint>{{"h", 1}}))
        << "now - last_seen == ttl: " << show(svc.locate(glob("svc")));
    EXPECT_EQ(show(svc.list(glob("*"))), "[ {svc h:1 0 0 alive} ]");
    EXPECT_EQ(svc.counts().alive, 1u);
    EXPECT_EQ(svc.counts().dead, 0u);

    clock.set(start_ms + 60'001);
    EXPECT_TRUE(svc.locate(glob("svc")).empty())
        << "now - last_seen == ttl + 1 ms: " << show(svc.locate(glob("svc")));
    EXPECT_EQ(show(svc.list(glob("*"))), "[ {svc h:1 0 0 dead} ]");
    EXPECT_EQ(svc.counts().alive, 0u);
    EXPECT_EQ(svc.counts().dead, 1u);
}

TEST_F(ServiceTest, PingRefreshesAnInstanceBackToLife) {
    ASSERT_EQ(ping("svc", "h", 1), std::nullopt);
    clock.set(start_ms + 90'000);
    EXPECT_TRUE(svc.locate(glob("svc")).empty()) << show(svc.locate(glob("svc")));
    ASSERT_EQ(ping("svc", "h", 1), std::nullopt);
    EXPECT_EQ(show(svc.list(glob("svc"))), "[ {svc h:1 0 90000 alive} ]");
}

TEST_F(ServiceTest, PingUnderANewNameMovesTheEndpoint) {
    ASSERT_EQ(ping("old", "h", 1), std::nullopt);
    clock.set(start_ms + 5'000);
    ASSERT_EQ(ping("new", "h", 1), std::nullopt);
    EXPECT_EQ(show(svc.list(glob("*"))), "[ {new h:1 5000 5000 alive} ]");
    EXPECT_TRUE(svc.locate(glob("old")).empty());
}

TEST_F(ServiceTest, ListGivesEveryMatchWithItsLiveness) {
    ASSERT_EQ(ping("b", "h", 2), std::nullopt);
    clock.set(start_ms + 30'000);
    ASSERT_EQ(ping("a", "h", 3), std::nullopt);
    ASSERT_EQ(ping("b", "g", 9), std::nullopt);
    clock.set(start_ms + 61'000);
    EXPECT_EQ(show(svc.list(glob("*"))),
              "[ {a h:3 30000 30000 alive} {b g:9 30000 30000 alive} {b h:2 0 0 dead} ]");
    EXPECT_EQ(show(svc.list(glob("b"))), "[ {b g:9 30000 30000 alive} {b h:2 0 0 dead} ]");
    EXPECT_EQ(svc.locate(glob("?")), (std::vector<endpoint>{{"h", 3}, {"g", 9}}))
        << show(svc.locate(glob("?")));
}

TEST_F(ServiceTest, FailedWriteLeavesTheIndexUnchangedAndReportsTheReason) {
    ASSERT_EQ(ping("svc", "h", 1), std::nullopt);
    const auto before = show(svc.list(glob("*")));
    const auto generation = idx.generation();
    db->failing = true;

    clock.set(start_ms + 1'000);
    EXPECT_EQ(ping("other", "h", 2), "database is unreachable");
    EXPECT_EQ(ping("moved", "h", 1), "database is unreachable");
    EXPECT_EQ(ping("svc", "h", 1), "database is unreachable");
    const auto [error, existed] = unregister("h", 1);
    EXPECT_EQ(error, "database is unreachable");
    EXPECT_FALSE(existed);

    EXPECT_EQ(show(svc.list(glob("*"))), before) << "nothing of a failed write shows";
    EXPECT_EQ(idx.generation(), generation);
    EXPECT_FALSE(svc.health().ok);
    EXPECT_EQ(svc.health().reason, "database is unreachable");

    // Once the database is back, writes succeed again and the failed ones never happen.
    db->failing = false;
    clock.set(start_ms + 2'000);
    ASSERT_EQ(ping("third", "h", 3), std::nullopt);
    EXPECT_EQ(show(svc.list(glob("*"))), "[ {svc h:1 0 0 alive} {third h:3 2000 2000 alive} ]");
    EXPECT_FALSE(db->row("h", 2).has_value()) << "a write answered with an error is never applied";
    EXPECT_EQ(db->row("h", 1)->name, "svc");
    EXPECT_TRUE(svc.health().ok);
}

TEST_F(ServiceTest, UnregisterReportsWhetherTheInstanceExisted) {
    ASSERT_EQ(ping("svc", "h", 1), std::nullopt);
    auto [error, existed] = unregister("h", 1);
    EXPECT_EQ(error, std::nullopt);
    EXPECT_TRUE(existed);
    EXPECT_TRUE(svc.list(glob("*")).empty()) << show(svc.list(glob("*")));
    EXPECT_FALSE(db->row("h", 1).has_value());

    std::tie(error, existed) = unregister("h", 1);
    EXPECT_EQ(error, std::nullopt);
    EXPECT_FALSE(existed);
}

TEST_F(ServiceTest, UnregisterBelievesTheDatabaseOverTheIndex) {
    // Another servreg sharing the database registered this one; this index never saw it.
    {
        std::lock_guard lock(db->mutex);
        instance_row row{"svc", "elsewhere", 7, start_ms, start_ms};
        row.url = servreg::test::url_at("elsewhere", 7);
        db->rows[row.url] = row;
    }
    auto [error, existed] = unregister("elsewhere", 7);
    EXPECT_EQ(error, std::nullopt);
    EXPECT_TRUE(existed);

    // And the other way round: the index remembers a row another servreg already deleted.
    idx.apply_ping("svc", "stale", 8, start_ms);
    std::tie(error, existed) = unregister("stale", 8);
    EXPECT_EQ(error, std::nullopt);
    EXPECT_FALSE(existed);
    EXPECT_TRUE(svc.list(glob("*")).empty())
        << "the index follows the database: " << show(svc.list(glob("*")));
}

TEST_F(ServiceTest, EveryCallbackRunsExactlyOnceUnderConcurrentPings) {
    constexpr int threads = 4;
    constexpr int per_thread = 250;
    std::atomic<int> answered{0};
    std::atomic<int> failed{0};
    std::vector<std::atomic<int>> calls(threads * per_thread);
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            for (int i = 0; i < per_thread; ++i) {
                const int id = t * per_thread + i;
                svc.ping("svc." + std::to_string(t), "h" + std::to_string(t),
                         static_cast<std::uint16_t>(1 + i), [&, id](std::optional<std::string> e) {
                             ++calls[static_cast<std::size_t>(id)];
                             if (e) ++failed;
                             ++answered;
                         });
            }
        });
    }
    for (auto& t : pool) t.join();
    writer.stop();  // commits what is queued, then joins

    EXPECT_EQ(answered.load(), threads * per_thread);
    EXPECT_EQ(failed.load(), 0);
    for (std::size_t id = 0; id < calls.size(); ++id) {
        ASSERT_EQ(calls[id].load(), 1) << "callback of ping " << id;
    }
    EXPECT_EQ(idx.size(), static_cast<std::size_t>(threads * per_thread));
    EXPECT_EQ(svc.locate(glob("svc.2")).size(), static_cast<std::size_t>(per_thread));
}

TEST_F(ServiceTest, ExposesTtlClockAndHealth) {
    EXPECT_EQ(svc.ttl(), 60s);
    EXPECT_EQ(&svc.time(), &clock);
    EXPECT_TRUE(svc.health().ok) << svc.health().reason;
}

TEST(Service, TtlIsConvertedToMilliseconds) {
    auto db = std::make_shared<database>();
    manual_clock clock{start_ms};
    index idx;
    servreg::storage::writer writer{
        std::make_unique<memory_store>(db), {}, [&clock] { return clock.now_ms(); }};
    service svc{idx, writer, clock, 1s};
    idx.apply_ping("svc", "h", 1, start_ms - 1'000);
    idx.apply_ping("svc", "h", 2, start_ms - 1'001);
    EXPECT_EQ(svc.locate(glob("*")), (std::vector<endpoint>{{"h", 1}}))
        << show(svc.locate(glob("*")));
    EXPECT_EQ(svc.counts().alive, 1u);
    EXPECT_EQ(svc.counts().dead, 1u);
}

}  // namespace

namespace {

// The writer thread commits and updates the index, then hands the completion to the caller's
// executor: the reply is made there, not on the one serial thread.
TEST_F(ServiceTest, WriteCompletionRunsOnTheCallersExecutorAfterTheIndexShowsIt) {
    servreg::test::recording_executor loop;
    std::optional<std::optional<std::string>> answered;
    std::thread::id answered_on;
    svc.ping(
        "svc.api", "10.0.0.1", 8080,
        [&](std::optional<std::string> error) {
            answered = std::move(error);
            answered_on = std::this_thread::get_id();
        },
        &loop);
    ASSERT_TRUE(loop.wait_for(1)) << "the ping's completion was never posted";
    ASSERT_FALSE(answered.has_value()) << "the completion ran before the test ran it";
    const auto located = svc.locate(glob("svc.*"));
    EXPECT_EQ(located, (std::vector<endpoint>{{"10.0.0.1", 8080}}))
        << "the index shows the ping before its completion runs: " << show(located);
    loop.run_all();
    ASSERT_TRUE(answered.has_value()) << "ping never answered";
    EXPECT_EQ(*answered, std::nullopt);
    EXPECT_EQ(answered_on, std::this_thread::get_id()) << "the completion ran on another thread";

    std::pair<std::optional<std::string>, bool> unregistered{"not answered", true};
    svc.unregister(
        "10.0.0.9", 1,
        [&](std::optional<std::string> error, bool existed) {
            unregistered = {std::move(error), existed};
        },
        &loop);
    ASSERT_TRUE(loop.wait_for(1)) << "the unregister's completion was never posted";
    EXPECT_EQ(unregistered.first, "not answered") << "the completion ran before the test ran it";
    loop.run_all();
    EXPECT_EQ(unregistered.first, std::nullopt);
    EXPECT_FALSE(unregistered.second) << "unregister of an unknown instance answers false";
}

// The writes of one batch reach each event loop as one task, in the order they were made: a
// batch of pings from two loops wakes each loop once, not once a ping.
TEST_F(ServiceTest, ABatchsCompletionsReachEachLoopAsOneTask) {
    servreg::test::recording_executor loops[2];
    constexpr int per_loop = 20;
    std::vector<int> answered[2];
    {
        // The writer is held in its first commit while the pings queue up behind it: at most
        // two batches, so at most two tasks for each loop.
        std::unique_lock hold(db->mutex);
        for (int i = 0; i < per_loop; ++i) {
            for (int l = 0; l < 2; ++l) {
                svc.ping(
                    "svc.api", "10.0." + std::to_string(l) + "." + std::to_string(i), 8080,
                    [&answered, l, i](std::optional<std::string> error) {
                        EXPECT_EQ(error, std::nullopt) << "ping " << l << '/' << i;
                        answered[l].push_back(i);
                    },
                    &loops[l]);
            }
        }
    }
    writer.stop();  // everything committed and completed
    std::vector<int> expected(per_loop);
    for (int i = 0; i < per_loop; ++i) expected[i] = i;
    for (int l = 0; l < 2; ++l) {
        const std::size_t tasks = loops[l].size();
        EXPECT_GE(tasks, 1u) << "loop " << l;
        EXPECT_LE(tasks, 2u) << "loop " << l << " was handed " << tasks << " tasks for " << per_loop
                             << " pings";
        EXPECT_TRUE(answered[l].empty()) << "a completion ran off its loop " << l;
        loops[l].run_all();
        EXPECT_EQ(answered[l], expected) << "loop " << l << " answered out of order";
    }
}

}  // namespace
