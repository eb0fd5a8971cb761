// Black-box tests of what servreg does around its SQLite database's faults (SPEC section 5): a
// file that another process holds locked, and the grace after a downtime of the registry.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <chrono>
#include <string>
#include <thread>

#include "prometheus_text.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

std::chrono::milliseconds since(steady::time_point start) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
}

json endpoint(const std::string& host, int port) {
    return {{"host", host}, {"port", port}};
}

json locate(std::uint16_t port, const std::string& pattern) {
    return call(port, "locate_service", {pattern}).result();
}

// --- a file locked by another process -----------------------------------------------------------

void expect_lock_costs_at_most(const std::vector<std::string>& extra,
                               std::chrono::milliseconds bound) {
    temp_dir dir;
    std::vector<std::string> args{"--dburl", sqlite_url(dir)};
    args.insert(args.end(), extra.begin(), extra.end());
    daemon_process servreg(args);
    ASSERT_EQ(call(servreg.port(), "ping", {"lock.svc", "10.3.0.1", 1}).result(), true);

    // What the sqlite3 shell does with BEGIN IMMEDIATE: it holds the write lock until COMMIT.
    soci::session holder(soci::sqlite3, "db=" + dir.file("reg.db"));
    holder << "BEGIN IMMEDIATE";
    const auto sent = steady::now();
    auto x = call(servreg.port(), "ping", {"lock.svc", "10.3.0.2", 1});
    const auto took = since(sent);
    EXPECT_EQ(x.error().value("code", 0), -32000) << x.describe();
    EXPECT_LE(took, bound) << x.describe();
    auto health = get(servreg.port(), "/health");
    EXPECT_EQ(health.status, 503) << health.body;
    EXPECT_NE(health.body.find("locked"), std::string::npos) << health.body;
    // Reads go on.
    EXPECT_EQ(locate(servreg.port(), "lock.svc"), json::array({endpoint("10.3.0.1", 1)}));

    holder << "COMMIT";
    const auto released = steady::now();
    EXPECT_TRUE(wait_until(
        [&] {
            return call(servreg.port(), "ping", {"lock.svc", "10.3.0.3", 1}).result() == true;
        },
        5000ms))
        << servreg.log();
    EXPECT_TRUE(wait_until([&] { return get(servreg.port(), "/health").status == 200; },
                           5000ms - since(released)))
        << servreg.log();
    std::printf("SQLite file locked by another process (%s): -32000 after %lld ms\n",
                extra.empty() ? "default --db-timeout 2" : (extra[0] + " " + extra[1]).c_str(),
                static_cast<long long>(took.count()));
}

TEST(DaemonDatabaseFaults, AFileLockedByAnotherProcessFailsWritesWithinHalfTheDeadline) {
    expect_lock_costs_at_most({}, 1500ms);
}

TEST(DaemonDatabaseFaults, TheLockWaitFollowsDbTimeout) {
    expect_lock_costs_at_most({"--db-timeout", "0.4"}, 600ms);
}

// --- the grace after a downtime -----------------------------------------------------------------

// The registry on `url` with a TTL of 2 s.
std::unique_ptr<daemon_process> start(const std::string& url, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"--dburl", url, "--ttl", "2"};
    args.insert(args.end(), extra.begin(), extra.end());
    return std::make_unique<daemon_process>(args);
}

void stop(std::unique_ptr<daemon_process>& p) {
    p->signal(SIGTERM);
    EXPECT_EQ(p->wait(), 0) << p->log();
}

TEST(DaemonDatabaseFaults, InstancesAliveAtADowntimeGetOneTtlAfterTheStartAndNoMore) {
    temp_dir dir;
    auto a = start(sqlite_url(dir));
    ASSERT_EQ(call(a->port(), "ping", {"grace.svc", "dead", 1}).result(), true);
    std::this_thread::sleep_for(2300ms);  // dead before the downtime
    for (const char* host : {"kept", "unregistered", "pinging"})
        ASSERT_EQ(call(a->port(), "ping", {"grace.svc", host, 1}).result(), true);
    stop(a);
    std::this_thread::sleep_for(2300ms);  // down for more than the TTL

    const auto started = steady::now();
    auto b = start(sqlite_url(dir));
    const json all_three =
        json::array({endpoint("kept", 1), endpoint("pinging", 1), endpoint("unregistered", 1)});
    EXPECT_EQ(locate(b->port(), "grace.svc"), all_three) << b->log();
    EXPECT_NE(b->log().find("3 instances alive then count as alive"), std::string::npos)
        << b->log();
    const auto metrics = get(b->port(), "/metrics").body;
    EXPECT_EQ(value_of(samples_of(metrics), "servreg_restart_grace_instances"), 3) << metrics;

    // An unregister ends the grace at once, a ping turns it into life.
    ASSERT_EQ(call(b->port(), "unregister", {"unregistered", 1}).result(), true);
    std::this_thread::sleep_for(1500ms - since(started));
    ASSERT_EQ(call(b->port(), "ping", {"grace.svc", "pinging", 1}).result(), true);
    EXPECT_EQ(locate(b->port(), "grace.svc"),
              json::array({endpoint("kept", 1), endpoint("pinging", 1)}));

    // One TTL after the start the grace is over; the instance that pinged lives on.
    std::this_thread::sleep_for(2300ms - since(started));
    EXPECT_EQ(locate(b->port(), "grace.svc"), json::array({endpoint("pinging", 1)})) << b->log();
    EXPECT_EQ(
        value_of(samples_of(get(b->port(), "/metrics").body), "servreg_restart_grace_instances"),
        0);
    // The database kept what the services said: the grace lived in memory only. (A stopped
    // servreg has folded its heartbeat journal into the rows.)
    stop(b);
    soci::session sql(soci::sqlite3, "db=" + dir.file("reg.db"));
    long long kept_last_seen = 0, pinging_last_seen = 0;
    sql << "SELECT last_seen FROM servreg_services WHERE host = 'kept'", soci::into(kept_last_seen);
    sql << "SELECT last_seen FROM servreg_services WHERE host = 'pinging'",
        soci::into(pinging_last_seen);
    EXPECT_GE(pinging_last_seen - kept_last_seen, 3000) << "kept's row was rewritten";
}

TEST(DaemonDatabaseFaults, NoRestartGraceLeavesTheInstancesOfBeforeTheDowntimeDead) {
    temp_dir dir;
    auto a = start(sqlite_url(dir));
    ASSERT_EQ(call(a->port(), "ping", {"nograce.svc", "h", 1}).result(), true);
    stop(a);
    std::this_thread::sleep_for(2300ms);
    auto b = start(sqlite_url(dir), {"--no-restart-grace"});
    EXPECT_EQ(locate(b->port(), "nograce.svc"), json::array()) << b->log();
    EXPECT_EQ(b->log().find("restart grace"), std::string::npos) << b->log();
}

TEST(DaemonDatabaseFaults, AQuickRestartNeedsNoGrace) {
    temp_dir dir;
    auto a = start(sqlite_url(dir));
    ASSERT_EQ(call(a->port(), "ping", {"quick.svc", "alive", 1}).result(), true);
    stop(a);
    auto b = start(sqlite_url(dir));
    EXPECT_NE(b->log().find("restart grace: given to no instance"), std::string::npos) << b->log();
    EXPECT_EQ(locate(b->port(), "quick.svc"), json::array({endpoint("alive", 1)}));
}

}  // namespace
}  // namespace servreg::test
