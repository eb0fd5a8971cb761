// Black-box tests of servreg on a database that hangs or fails over (SPEC section 5): a server
// stopped with SIGSTOP and continued, a network path that stops forwarding without closing,
// and a PostgreSQL primary killed and its synchronous standby promoted. Each prints what it
// measured: the time to the first -32000, to /health's 503, and to writes served again. They
// need the servers that scripts/test-databases.sh starts, and skip without them.
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "databases.h"
#include "tcp_relay.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using std::chrono::milliseconds;

milliseconds between(steady::time_point from, steady::time_point to) {
    return std::chrono::duration_cast<milliseconds>(to - from);
}

std::string describe_log(const daemon_process& p) {
    return "\n  servreg's log:\n" + p.log();
}

// A shell command that must succeed; its failure fails the test where it is called.
bool run(const std::string& command) {
    const int status = std::system(command.c_str());
    if (status != 0) ADD_FAILURE() << command << " exited with " << status;
    return status == 0;
}

// Runs `command` on destruction unless disarmed: whatever fails, the server runs again after.
struct undo {
    std::string command;
    ~undo() {
        if (!command.empty() && std::system(command.c_str()) != 0)
            std::fprintf(stderr, "undo failed: %s\n", command.c_str());
    }
};

struct ping_outcome {
    std::string host;
    std::uint16_t process = 0;  // the servreg process's port
    int code = 0;               // 0: answered true; -1: no answer at all
    std::string failure;        // why there was no answer
    steady::time_point sent;
    steady::time_point answered;
};

// Threads that ping new endpoints, one call after another each, and record every outcome.
class pingers {
public:
    pingers(std::vector<std::uint16_t> processes, int per_process, std::string prefix) {
        for (std::size_t p = 0; p < processes.size(); ++p) {
            for (int t = 0; t < per_process; ++t) {
                const std::uint16_t port = processes[p];
                const std::string net = prefix + std::to_string(p * 10 + t) + ".";
                threads_.emplace_back([this, port, net] { loop(port, net); });
            }
        }
    }
    ~pingers() { stop(); }

    void stop() {
        done_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    std::vector<ping_outcome> outcomes() const {
        std::lock_guard lock(mutex_);
        return outcomes_;
    }
    // When the first answer with `code` came (on `process`, or any), to a ping sent at or after
    // `from`, or to any ping when `sent_after` is false.
    std::optional<steady::time_point> first(int code, steady::time_point from,
                                            std::uint16_t process = 0,
                                            bool sent_after = true) const {
        std::optional<steady::time_point> best;
        for (const auto& o : outcomes()) {
            if (o.code != code || (sent_after ? o.sent : o.answered) < from ||
                (process != 0 && o.process != process))
                continue;
            if (!best || o.answered < *best) best = o.answered;
        }
        return best;
    }

private:
    void loop(std::uint16_t port, const std::string& net) {
        for (int i = 0; !done_; ++i) {
            ping_outcome o;
            o.host = net + std::to_string(i);
            o.process = port;
            o.sent = steady::now();
            try {
                auto x = call(port, "ping", {"hang.svc", o.host, 1});
                o.code = x.result() == true
                             ? 0
                             : (x.error().is_object() ? x.error().value("code", 1) : 1);
            } catch (const std::exception& e) {
                o.code = -1;
                o.failure = e.what();
            }
            o.answered = steady::now();
            {
                std::lock_guard lock(mutex_);
                outcomes_.push_back(o);
            }
            std::this_thread::sleep_for(20ms);
        }
    }

    std::atomic<bool> done_{false};
    mutable std::mutex mutex_;
    std::vector<ping_outcome> outcomes_;
    std::vector<std::thread> threads_;
};

// Every ping answered true is in the database at `url`; returns how many were.
int expect_every_answered_ping_stored(const std::vector<ping_outcome>& outcomes,
                                      const std::string& url) {
    auto sql = connect(url);
    std::vector<std::string> hosts(200000);
    sql << "SELECT host FROM servreg_services WHERE name = 'hang.svc'", soci::into(hosts);
    const std::set<std::string> stored(hosts.begin(), hosts.end());
    int ok = 0;
    for (const auto& o : outcomes) {
        if (o.code != 0) continue;
        ++ok;
        EXPECT_TRUE(stored.contains(o.host))
            << "the ping of " << o.host << " answered true is lost";
    }
    return ok;
}

std::string figure(const std::optional<milliseconds>& d) {
    return d ? std::to_string(d->count()) + " ms" : std::string("never");
}

// What a hang costs, measured around `begin` and `end` of the fault on one servreg process.
struct hang_figures {
    std::optional<milliseconds> first_refusal;  // fault start to the first -32000
    std::optional<milliseconds> unhealthy;      // fault start to /health's 503
    std::optional<milliseconds> recovered;      // fault end to the first ping answered true
    std::optional<milliseconds> healthy;        // fault end to /health's 200
    milliseconds slowest{0};                    // the slowest answer to a ping during the fault
    int answered = 0;
    int refused = 0;
};

hang_figures measure_hang(daemon_process& servreg, const std::string& check_url,
                          const std::function<bool()>& begin, const std::function<bool()>& end) {
    hang_figures f;
    pingers load({servreg.port()}, 2, "10.80.");
    EXPECT_TRUE(wait_until([&] { return load.first(0, steady::now() - 10s).has_value(); }, 3000ms))
        << describe_log(servreg);
    std::this_thread::sleep_for(300ms);

    if (!begin()) return f;
    const auto fault = steady::now();
    f.unhealthy =
        wait_until([&] { return get(servreg.port(), "/health").status == 503; }, 4000ms, 20ms);
    const auto health = get(servreg.port(), "/health");
    EXPECT_NE(health.body.find("\"unavailable\""), std::string::npos) << health.body;
    // Reads go on from memory, at once.
    const auto read_sent = steady::now();
    auto located = call(servreg.port(), "locate_service", {"hang.svc"});
    EXPECT_TRUE(located.result().is_array() && !located.result().empty()) << located.describe();
    EXPECT_LE(between(read_sent, steady::now()), 500ms) << "a read waited for the database";
    std::this_thread::sleep_for(3500ms - between(fault, steady::now()));

    if (!end()) return f;
    const auto back = steady::now();
    wait_until(
        [&] {
            if (!f.healthy && get(servreg.port(), "/health").status == 200)
                f.healthy = between(back, steady::now());
            return f.healthy && load.first(0, back).has_value();
        },
        8000ms, 20ms);
    std::this_thread::sleep_for(300ms);
    load.stop();

    const auto outcomes = load.outcomes();
    if (auto t = load.first(-32000, fault, 0, false)) f.first_refusal = between(fault, *t);
    if (auto t = load.first(0, back)) f.recovered = between(back, *t);
    for (const auto& o : outcomes) {
        // Every call that waited during the fault, also one sent just before it.
        if (o.answered >= fault && o.sent < back) {
            f.slowest = std::max(f.slowest, between(o.sent, o.answered));
            EXPECT_NE(o.code, -1) << "a ping of " << o.host
                                  << " got no answer at all: " << o.failure;
            if (o.code == -32000) ++f.refused;
        }
    }
    f.answered = expect_every_answered_ping_stored(outcomes, check_url);
    return f;
}

void check_and_print(const std::string& what, const hang_figures& f, const daemon_process& p) {
    // The deadline is 2 s; an answer takes a little longer than the deadline it waited for.
    EXPECT_TRUE(f.first_refusal && *f.first_refusal <= 2500ms)
        << what << ": first -32000 after " << figure(f.first_refusal) << describe_log(p);
    EXPECT_TRUE(f.unhealthy && *f.unhealthy <= 2000ms)
        << what << ": /health 503 after " << figure(f.unhealthy) << describe_log(p);
    EXPECT_TRUE(f.recovered && *f.recovered <= 5000ms)
        << what << ": writes served again after " << figure(f.recovered) << describe_log(p);
    EXPECT_TRUE(f.healthy && *f.healthy <= 5000ms)
        << what << ": /health 200 again after " << figure(f.healthy) << describe_log(p);
    EXPECT_LE(f.slowest, 2500ms) << what << ": a ping took that long to be answered";
    EXPECT_GT(f.refused, 0) << what << ": no ping was refused during the fault";
    std::printf(
        "%s: first -32000 after %s, /health 503 after %s; slowest answer during the fault %lld "
        "ms (%d refused); writes again %s and /health 200 %s after the fault ended; %d pings "
        "answered true, all stored\n",
        what.c_str(), figure(f.first_refusal).c_str(), figure(f.unhealthy).c_str(),
        static_cast<long long>(f.slowest.count()), f.refused, figure(f.recovered).c_str(),
        figure(f.healthy).c_str(), f.answered);
}

// --- a server that hangs, a path that drops everything ------------------------------------------

class DatabaseHang : public database_test {
protected:
    std::string command(const std::string& suffix) const {
        const std::string var = GetParam().stop_var.substr(0, GetParam().stop_var.rfind('_') + 1);
        return env_or_empty(var + suffix);
    }
};

TEST_P(DatabaseHang, AStoppedServerCostsOneDeadlineAndWritesResumeWhenItContinues) {
    const std::string freeze = command("FREEZE");
    const std::string thaw = command("THAW");
    if (freeze.empty() || thaw.empty())
        GTEST_SKIP() << "no FREEZE and THAW commands for the server";
    scratch_database db(server_url());
    daemon_process servreg({"--dburl", db.url()});
    undo thaw_guard;
    const auto f = measure_hang(
        servreg, db.url(),
        [&] {
            thaw_guard.command = thaw;
            return run(freeze);
        },
        [&] {
            thaw_guard.command.clear();
            return run(thaw);
        });
    check_and_print(GetParam().label + " stopped (SIGSTOP) for 3.5 s", f, servreg);
}

TEST_P(DatabaseHang, APathThatDropsEverythingCostsOneDeadlineAndWritesResumeWhenItForwards) {
    scratch_database db(server_url());
    const auto target = translate_or_throw(db.url());
    ASSERT_FALSE(target.hosts.empty() || !target.hosts[0].port) << db.url();
    tcp_relay relay(*target.hosts[0].port);
    std::string via_relay = db.url();
    const std::string direct = "@127.0.0.1:" + std::to_string(*target.hosts[0].port) + "/";
    const auto at = via_relay.find(direct);
    ASSERT_NE(at, std::string::npos) << via_relay;
    via_relay.replace(at, direct.size(), "@127.0.0.1:" + std::to_string(relay.port()) + "/");

    daemon_process servreg({"--dburl", via_relay});
    const auto f = measure_hang(
        servreg, db.url(),
        [&] {
            relay.pause();
            return true;
        },
        [&] {
            relay.resume();
            return true;
        });
    check_and_print(GetParam().label + " behind a path that stops forwarding for 3.5 s", f,
                    servreg);
}

// --- PostgreSQL failover ------------------------------------------------------------------------

class DatabaseFailover : public database_test {};

TEST_P(DatabaseFailover, WritesResumeOnThePromotedStandbyAndNothingAnsweredIsLost) {
    const std::string url = env_or_empty("SERVREG_TEST_FAILOVER_URL");
    const std::string sqlalchemy_url = env_or_empty("SERVREG_TEST_FAILOVER_SQLALCHEMY_URL");
    const std::string standby_url = env_or_empty("SERVREG_TEST_FAILOVER_STANDBY_URL");
    const std::string kill_primary = env_or_empty("SERVREG_TEST_FAILOVER_KILL_PRIMARY");
    const std::string promote = env_or_empty("SERVREG_TEST_FAILOVER_PROMOTE");
    if (url.empty() || sqlalchemy_url.empty() || standby_url.empty() || kill_primary.empty() ||
        promote.empty()) {
        GTEST_SKIP() << "SERVREG_TEST_FAILOVER_* are not set: scripts/test-databases.sh starts "
                        "a primary and a standby and sets them";
    }
    // Two processes, one per form of the URL naming both servers.
    daemon_process a({"--dburl", url});
    daemon_process b({"--dburl", sqlalchemy_url});
    pingers load({a.port(), b.port()}, 2, "10.90.");
    for (auto* p : {&a, &b}) {
        ASSERT_TRUE(wait_until(
            [&] { return load.first(0, steady::now() - 10s, p->port()).has_value(); }, 3000ms))
            << describe_log(*p);
    }
    std::this_thread::sleep_for(700ms);

    const auto killed = steady::now();
    ASSERT_TRUE(run(kill_primary));
    // The standby is promoted a second later, as an operator or a failover manager would.
    std::this_thread::sleep_for(1000ms);
    ASSERT_TRUE(run(promote));
    const auto promoted = steady::now();
    std::optional<milliseconds> resumed[2];
    for (int i = 0; i < 2; ++i) {
        const auto port = (i == 0 ? a : b).port();
        resumed[i] =
            wait_until([&] { return load.first(0, promoted, port).has_value(); }, 8000ms, 20ms);
        if (auto t = load.first(0, promoted, port)) resumed[i] = between(promoted, *t);
    }
    std::this_thread::sleep_for(500ms);
    load.stop();

    const auto outcomes = load.outcomes();
    for (const auto& o : outcomes) {
        EXPECT_NE(o.code, -1) << "a ping of " << o.host << " sent "
                              << between(killed, o.sent).count()
                              << " ms after the primary died got no answer at all: " << o.failure
                              << describe_log(o.process == a.port() ? a : b);
    }
    const auto first_refusal = load.first(-32000, killed, 0, false);
    int refused = 0;
    milliseconds slowest{0};
    for (const auto& o : outcomes) {
        if (o.answered < killed || o.sent >= promoted) continue;
        slowest = std::max(slowest, between(o.sent, o.answered));
        if (o.code == -32000) ++refused;
    }
    EXPECT_TRUE(first_refusal.has_value()) << "no ping was refused while no server took writes";
    EXPECT_LE(slowest, 2500ms) << "a ping took that long to be answered";
    for (int i = 0; i < 2; ++i) {
        EXPECT_TRUE(resumed[i] && *resumed[i] <= 5000ms)
            << "process " << i << ": writes again after " << figure(resumed[i])
            << describe_log(i == 0 ? a : b);
    }
    const int stored = expect_every_answered_ping_stored(outcomes, standby_url);
    std::printf(
        "PostgreSQL failover: first -32000 %s after the primary died; standby promoted 1 s "
        "later; writes again %s (libpq's URL form) and %s (SQLAlchemy's) after the promotion; "
        "%d refused meanwhile, slowest answer %lld ms; %d pings answered true, all on the new "
        "primary\n",
        first_refusal ? figure(between(killed, *first_refusal)).c_str() : "never",
        figure(resumed[0]).c_str(), figure(resumed[1]).c_str(), refused,
        static_cast<long long>(slowest.count()), stored);
}

// --- the restart grace with several processes ---------------------------------------------------

class DatabaseRestartGrace : public database_test {};

TEST_P(DatabaseRestartGrace, AProcessRestartingWhileAnotherRunsGivesNoGrace) {
    scratch_database db(server_url());
    const std::vector<std::string> args{"--dburl", db.url(), "--ttl", "2"};
    daemon_process a(args);
    auto b = std::make_unique<daemon_process>(args);
    ASSERT_EQ(call(a.port(), "ping", {"grace.svc", "gone", 1}).result(), true);
    b->signal(SIGTERM);
    ASSERT_EQ(b->wait(), 0) << b->log();
    // a keeps the database fresh while b is down for longer than the TTL.
    const auto down = steady::now();
    while (between(down, steady::now()) < 2500ms) {
        ASSERT_EQ(call(a.port(), "ping", {"grace.svc", "alive", 1}).result(), true);
        std::this_thread::sleep_for(250ms);
    }
    b = std::make_unique<daemon_process>(args);
    EXPECT_NE(b->log().find("restart grace: given to no instance"), std::string::npos) << b->log();
    const auto x = call(b->port(), "locate_service", {"grace.svc"});
    EXPECT_EQ(x.result(), nlohmann::json::array({{{"host", "alive"}, {"port", 1}}}))
        << x.describe() << describe_log(*b);
}

INSTANTIATE_TEST_SUITE_P(Databases, DatabaseRestartGrace,
                         ::testing::Values(postgres_server, mariadb_server), server_name{});
INSTANTIATE_TEST_SUITE_P(Databases, DatabaseHang,
                         ::testing::Values(postgres_server, mariadb_server), server_name{});
INSTANTIATE_TEST_SUITE_P(Databases, DatabaseFailover, ::testing::Values(postgres_server),
                         server_name{});

}  // namespace
}  // namespace servreg::test
