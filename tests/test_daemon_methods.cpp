// Black-box tests of the registry's methods through the real daemon (SPEC section 4): ping,
// locate_service with glob patterns and ordering, unregister, list_services, get_service_specs
// and the TTL.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <regex>
#include <string>
#include <thread>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

json endpoint(const std::string& host, int port) {
    return {{"host", host}, {"port", port}};
}

class DaemonMethods : public ::testing::Test {
protected:
    static void SetUpTestSuite() { daemon_ = std::make_unique<registry_daemon>(); }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }

    static void ping(const std::string& name, const std::string& host, int p) {
        auto x = call(port(), "ping", {name, host, p});
        EXPECT_EQ(x.result(), true) << x.describe();
    }
    static rpc_exchange locate(const json& params) {
        return call(port(), "locate_service", params);
    }

    static inline std::unique_ptr<registry_daemon> daemon_;
};

TEST_F(DaemonMethods, PingAnswersTrue) {
    auto x = call(port(), "ping", {"m.ping", "10.2.0.1", 8080});
    EXPECT_EQ(x.reply.status, 200) << x.describe();
    EXPECT_EQ(x.result(), true) << x.describe();
    EXPECT_TRUE(x.error().is_null()) << x.describe();

    x = call(port(), "ping", {{"port", "8081"}, {"host", "10.2.0.1"}, {"name", "m.ping"}});
    EXPECT_EQ(x.result(), true) << "named, in any order, port as a string of digits"
                                << x.describe();
    EXPECT_EQ(locate({"m.ping"}).result(),
              json::array({endpoint("10.2.0.1", 8080), endpoint("10.2.0.1", 8081)}));
}

TEST_F(DaemonMethods, LocateServiceTakesItsPatternByPositionOrByName) {
    ping("m.locate", "10.2.0.2", 1);
    auto positional = locate({"m.locate"});
    EXPECT_EQ(positional.result(), json::array({endpoint("10.2.0.2", 1)})) << positional.describe();
    auto named = locate({{"name", "m.locate"}});
    EXPECT_EQ(named.result(), json::array({endpoint("10.2.0.2", 1)})) << named.describe();
    auto none = locate({"m.nothing-here"});
    EXPECT_EQ(none.result(), json::array()) << none.describe();
}

TEST_F(DaemonMethods, LocateServiceOrdersByNameThenHostThenPort) {
    // Pinged out of order; port 9 before 10 shows a numeric, not textual, order.
    ping("m.order.b", "10.2.0.1", 1);
    ping("m.order.a", "10.2.0.2", 10);
    ping("m.order.a", "10.2.0.2", 9);
    ping("m.order.a", "10.2.0.10", 5);
    ping("m.order.a", "10.2.0.1", 70);
    auto x = locate({"m.order.*"});
    EXPECT_EQ(x.result(), json::array({endpoint("10.2.0.1", 70), endpoint("10.2.0.10", 5),
                                       endpoint("10.2.0.2", 9), endpoint("10.2.0.2", 10),
                                       endpoint("10.2.0.1", 1)}))
        << x.describe();
}

TEST_F(DaemonMethods, LocateServiceMatchesGlobPatternsLikeFnmatchcase) {
    const std::vector<std::string> names = {"g.alpha.one", "g.beta", "g.Gamma", "g.[x", "g.b1"};
    for (std::size_t i = 0; i < names.size(); ++i)
        ping(names[i], "10.3.0.1", static_cast<int>(i + 1));
    auto ports_of = [](const std::vector<int>& ports) {
        json out = json::array();
        for (int p : ports) out.push_back(endpoint("10.3.0.1", p));
        return out;
    };
    // Results are ordered by name: g.Gamma < g.[x < g.alpha.one < g.b1 < g.beta (bytewise).
    const std::vector<std::pair<std::string, std::vector<int>>> cases = {
        {"g.*", {3, 4, 1, 5, 2}},
        {"g*one", {1}},  // * crosses dots
        {"g.?eta", {2}},
        {"g.b?", {5}},
        {"g.[ab]*", {1, 5, 2}},
        {"g.[!ab]*", {3, 4}},
        {"g.[a-c]*", {1, 5, 2}},
        {"g.b[0-9]", {5}},
        {"g.g*", {}},  // case-sensitive
        {"g.G*", {3}},
        {"g.[x", {4}},  // a [ without its ] is literal
        {"g.beta", {2}},
        {"g.bet", {}},  // whole-string
        {"eta", {}},
        {"*", {3, 4, 1, 5, 2}},
    };
    for (const auto& [pattern, expected] : cases) {
        auto x = locate({pattern});
        json want = ports_of(expected);
        // "*" sees the other tests' services too: keep only this test's host.
        json got = json::array();
        for (const auto& e : x.result()) {
            if (e["host"] == "10.3.0.1") got.push_back(e);
        }
        EXPECT_EQ(got, want) << "pattern=" << pattern << x.describe();
    }
}

TEST_F(DaemonMethods, UnregisterAnswersTrueOnceThenFalse) {
    ping("m.unreg", "10.2.0.3", 4000);
    auto first = call(port(), "unregister", {"10.2.0.3", 4000});
    EXPECT_EQ(first.result(), true) << first.describe();
    EXPECT_EQ(locate({"m.unreg"}).result(), json::array());
    auto second = call(port(), "unregister", {{"host", "10.2.0.3"}, {"port", 4000}});
    EXPECT_EQ(second.result(), false) << second.describe();
    auto never = call(port(), "unregister", {"10.2.0.99", 1});
    EXPECT_EQ(never.result(), false) << never.describe();
    auto list = call(port(), "list_services", {"m.unreg"});
    EXPECT_EQ(list.result(), json::array()) << "unregister forgets the instance" << list.describe();
}

TEST_F(DaemonMethods, ListServicesReportsEveryInstanceWithRfc3339Times) {
    auto before = std::chrono::system_clock::now();
    ping("m.list", "10.2.0.4", 1);
    ping("m.list", "10.2.0.4", 2);
    auto x = call(port(), "list_services", {"m.list"});
    ASSERT_TRUE(x.result().is_array()) << x.describe();
    ASSERT_EQ(x.result().size(), 2u) << x.describe();
    const std::regex rfc3339(R"(^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$)");
    for (int i = 0; i < 2; ++i) {
        json item = x.result()[i];
        EXPECT_EQ(item["name"], "m.list") << x.describe();
        EXPECT_EQ(item["host"], "10.2.0.4") << x.describe();
        EXPECT_EQ(item["port"], i + 1) << x.describe();
        EXPECT_EQ(item["alive"], true) << x.describe();
        for (const char* key : {"first_seen", "last_seen"}) {
            ASSERT_TRUE(item[key].is_string()) << key << x.describe();
            auto text = item[key].get<std::string>();
            EXPECT_TRUE(std::regex_match(text, rfc3339)) << key << "=" << text << x.describe();
            // The time is now, to the second, in UTC.
            std::tm tm{};
            ASSERT_NE(strptime(text.c_str(), "%Y-%m-%dT%H:%M:%S", &tm), nullptr) << text;
            auto when = std::chrono::system_clock::from_time_t(timegm(&tm));
            EXPECT_GE(when, std::chrono::floor<std::chrono::seconds>(before) - 1s)
                << key << "=" << text;
            EXPECT_LE(when, std::chrono::system_clock::now() + 1s) << key << "=" << text;
        }
        EXPECT_LE(item["first_seen"].get<std::string>(), item["last_seen"].get<std::string>());
    }

    // The pattern defaults to "*", and may be given by name.
    auto all = call(port(), "list_services");
    ASSERT_TRUE(all.result().is_array()) << all.describe();
    std::size_t mine = 0;
    for (const auto& item : all.result()) mine += item["name"] == "m.list";
    EXPECT_EQ(mine, 2u) << all.describe();
    auto named = call(port(), "list_services", {{"pattern", "m.lis?"}});
    EXPECT_EQ(named.result(), x.result()) << named.describe();
}

TEST_F(DaemonMethods, RepeatedPingKeepsFirstSeenAndAdvancesLastSeen) {
    ping("m.seen", "10.2.0.5", 1);
    auto first = call(port(), "list_services", {"m.seen"}).result();
    std::this_thread::sleep_for(1100ms);
    ping("m.seen", "10.2.0.5", 1);
    auto x = call(port(), "list_services", {"m.seen"});
    ASSERT_EQ(x.result().size(), 1u) << x.describe();
    EXPECT_EQ(x.result()[0]["first_seen"], first[0]["first_seen"]) << x.describe();
    EXPECT_GT(x.result()[0]["last_seen"].get<std::string>(),
              first[0]["last_seen"].get<std::string>())
        << "before: " << first.dump() << x.describe();
}

TEST_F(DaemonMethods, GetServiceSpecsDescribesTheRegistry) {
    auto x = call(port(), "get_service_specs");
    ASSERT_TRUE(x.result().is_object()) << x.describe();
    json specs = x.result();
    EXPECT_EQ(specs["name"], "servreg") << x.describe();
    EXPECT_EQ(specs["host"], "127.0.0.1") << x.describe();
    EXPECT_EQ(specs["port"], port()) << x.describe();
    EXPECT_TRUE(specs["max_parallel_blocking_tasks"].is_number_integer()) << x.describe();
    ASSERT_TRUE(specs["methods"].is_object()) << x.describe();
    for (const char* m :
         {"ping", "locate_service", "unregister", "list_services", "get_service_specs"}) {
        EXPECT_TRUE(specs["methods"].contains(m)) << m << x.describe();
    }
    auto empty = call(port(), "get_service_specs", json::array());
    EXPECT_EQ(empty.result(), specs) << empty.describe();
}

TEST_F(DaemonMethods, PingFromTheSameEndpointUnderANewNameMovesIt) {
    ping("m.move.old", "10.2.0.6", 5000);
    ping("m.move.new", "10.2.0.6", 5000);
    EXPECT_EQ(locate({"m.move.old"}).result(), json::array());
    EXPECT_EQ(locate({"m.move.new"}).result(), json::array({endpoint("10.2.0.6", 5000)}));
    auto x = call(port(), "list_services", {"m.move.*"});
    ASSERT_EQ(x.result().size(), 1u) << "one instance per endpoint" << x.describe();
    EXPECT_EQ(x.result()[0]["name"], "m.move.new") << x.describe();
}

TEST(DaemonTtl, InstanceExpiresAfterTtlButStaysListedAsDead) {
    registry_daemon daemon({"--ttl", "2"});
    auto x = call(daemon.port(), "ping", {"ttl.svc", "10.4.0.1", 1});
    ASSERT_EQ(x.result(), true) << x.describe();
    auto pinged = std::chrono::steady_clock::now();

    auto alive = call(daemon.port(), "locate_service", {"ttl.svc"});
    EXPECT_EQ(alive.result(), json::array({endpoint("10.4.0.1", 1)})) << alive.describe();
    auto listed = call(daemon.port(), "list_services", {"ttl.svc"});
    ASSERT_EQ(listed.result().size(), 1u) << listed.describe();
    EXPECT_EQ(listed.result()[0]["alive"], true) << listed.describe();

    std::this_thread::sleep_until(pinged + 2300ms);
    auto gone = call(daemon.port(), "locate_service", {"ttl.svc"});
    EXPECT_EQ(gone.result(), json::array()) << "2.3 s after a ping with --ttl 2" << gone.describe();
    auto dead = call(daemon.port(), "list_services", {"ttl.svc"});
    ASSERT_EQ(dead.result().size(), 1u) << dead.describe();
    EXPECT_EQ(dead.result()[0]["alive"], false) << dead.describe();

    // A new ping brings it back.
    x = call(daemon.port(), "ping", {"ttl.svc", "10.4.0.1", 1});
    EXPECT_EQ(x.result(), true) << x.describe();
    auto back = call(daemon.port(), "locate_service", {"ttl.svc"});
    EXPECT_EQ(back.result(), json::array({endpoint("10.4.0.1", 1)})) << back.describe();
}

}  // namespace
}  // namespace servreg::test
