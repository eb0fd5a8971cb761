// GET /v1/targets as served (SPEC section 7): Prometheus HTTP service discovery groups for the
// alive, undrained instances, pinged by host and port or by URL, with their metadata as labels;
// a bad query is a 400 naming the problem. scripts/test-ops.sh has a real Prometheus discover
// and scrape through it.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// One GET and its reply, kept whole so that a failing assertion can print both sides.
struct fetched {
    std::string target;
    http_reply reply;
    json body;

    std::string describe() const {
        return "\n  request: GET " + target + "\n  reply: " + reply.status_line +
               " Content-Type: " + reply.header("content-type") + "\n  " +
               reply.body.substr(0, 4000);
    }
};

fetched fetch(std::uint16_t port, const std::string& target) {
    fetched f{target, get(port, target), nullptr};
    f.body = json::parse(f.reply.body, nullptr, false);
    return f;
}

json group(std::string target, std::string name, std::string url,
           json meta_labels = json::object()) {
    json labels = {{"__meta_servreg_service", std::move(name)},
                   {"__meta_servreg_url", std::move(url)}};
    labels.update(meta_labels);
    return {{"targets", json::array({std::move(target)})}, {"labels", std::move(labels)}};
}

// The daemon takes writes only with a token; /v1/targets is read without one.
constexpr std::string_view token_header = "X-Api-Token: t0ken\r\n";

class DaemonTargets : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        daemon_ =
            std::make_unique<registry_daemon>(std::vector<std::string>{"--api-token", "t0ken"});
    }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }

    static void write(std::string_view method, const json& params) {
        auto x = call(port(), method, params, token_header);
        ASSERT_EQ(x.result(), true) << x.describe();
    }

    static inline std::unique_ptr<registry_daemon> daemon_;
};

TEST_F(DaemonTargets, HostPortAndUrlPingsAreGroupsWithTheirLabels) {
    write("ping", {"sd.api", "10.60.0.1", 8080});
    write("ping", {"sd.api", "http://10.60.0.2:9100/metrics/x?y=1",
                   json::object({{"env", "prod"}, {"team.name", "pay"}})});
    write("ping", {"sd.web", "https://web.example/app", json::object({{"tier", "front"}})});
    write("ping", {"sd.web", "::1", 7001});
    write("ping", {"sd.web", "http://[fd00::9]:9200/metrics"});

    auto f = fetch(port(), "/v1/targets?name=sd.%2A");
    ASSERT_EQ(f.reply.status, 200) << f.describe();
    EXPECT_EQ(f.reply.header("content-type"), "application/json") << f.describe();
    const json want = json::array({
        group("10.60.0.1:8080", "sd.api", "http://10.60.0.1:8080/api"),
        group("10.60.0.2:9100", "sd.api", "http://10.60.0.2:9100/metrics/x?y=1",
              {{"__meta_servreg_meta_env", "prod"}, {"__meta_servreg_meta_team_name", "pay"}}),
        group("[::1]:7001", "sd.web", "http://[::1]:7001/api"),
        group("[fd00::9]:9200", "sd.web", "http://[fd00::9]:9200/metrics"),
        group("web.example:443", "sd.web", "https://web.example/app",
              {{"__meta_servreg_meta_tier", "front"}}),
    });
    EXPECT_EQ(f.body, want) << "ordered by name, host, port" << f.describe();
}

TEST_F(DaemonTargets, TheMetaFilterAndThePatternNarrowTheGroups) {
    write("ping",
          {"filter.a", "http://10.61.0.1:1/m", json::object({{"env", "prod"}, {"v", "1 2+"}})});
    write("ping", {"filter.a", "http://10.61.0.2:1/m", json::object({{"env", "dev"}})});
    write("ping", {"filter.b", "http://10.61.0.3:1/m", json::object({{"env", "prod"}})});
    auto targets_of = [](const fetched& f) {
        std::vector<std::string> out;
        if (!f.body.is_array()) return out;
        for (const auto& g : f.body) out.push_back(g["targets"][0]);
        return out;
    };
    using list = std::vector<std::string>;
    for (const auto& [target, want] : std::vector<std::pair<std::string, list>>{
             {"/v1/targets?name=filter.*&meta.env=prod", {"10.61.0.1:1", "10.61.0.3:1"}},
             {"/v1/targets?meta.env=prod&name=filter.a", {"10.61.0.1:1"}},
             {"/v1/targets?name=filter.a&meta.v=1+2%2B", {"10.61.0.1:1"}},
             {"/v1/targets?name=filter.a&meta.v=1%202%2B&meta.env=dev", {}},
             {"/v1/targets?name=filter.%5Bab%5D", {"10.61.0.1:1", "10.61.0.2:1", "10.61.0.3:1"}},
             {"/v1/targets?name=filter.c", {}}}) {
        auto f = fetch(port(), target);
        ASSERT_EQ(f.reply.status, 200) << f.describe();
        EXPECT_EQ(targets_of(f), want) << f.describe();
        if (want.empty()) {
            EXPECT_EQ(f.reply.body, "[]") << f.describe();
        }
    }
}

TEST_F(DaemonTargets, ADrainedInstanceIsLeftOutUntilUndrained) {
    const std::string url = "http://10.62.0.1:9100/metrics";
    write("ping", {"drain.svc", url});
    write("ping", {"drain.svc", "10.62.0.2", 80});
    const std::string target = "/v1/targets?name=drain.svc";
    auto targets = [&] {
        auto f = fetch(port(), target);
        EXPECT_EQ(f.reply.status, 200) << f.describe();
        std::string out;
        for (const auto& g : f.body) out += g["targets"][0].get<std::string>() + " ";
        return out;
    };
    EXPECT_EQ(targets(), "10.62.0.1:9100 10.62.0.2:80 ");
    write("drain", {url});
    write("drain", {"10.62.0.2", 80});
    EXPECT_EQ(targets(), "") << "both draining";
    write("ping", {"drain.svc", url});
    EXPECT_EQ(targets(), "") << "a ping does not undrain";
    write("undrain", {url});
    EXPECT_EQ(targets(), "10.62.0.1:9100 ");
    write("unregister", {url});
    EXPECT_EQ(targets(), "");
}

TEST(DaemonTargetsTtl, ADeadInstanceIsLeftOut) {
    registry_daemon d({"--ttl", "1"});
    auto x = call(d.port(), "ping", {"ttl.svc", "10.63.0.1", 80});
    ASSERT_EQ(x.result(), true) << x.describe();
    fetched f;
    // Alive for a second after its ping; then it must go within the TTL and a little more.
    const auto gone = wait_until(
        [&] {
            f = fetch(d.port(), "/v1/targets");
            return f.reply.status == 200 && f.reply.body == "[]";
        },
        3s, 50ms);
    EXPECT_TRUE(gone) << "the instance is still listed after its TTL" << f.describe();
    x = call(d.port(), "ping", {"ttl.svc", "10.63.0.1", 80});
    ASSERT_EQ(x.result(), true) << x.describe();
    f = fetch(d.port(), "/v1/targets");
    EXPECT_EQ(f.body, json::array({group("10.63.0.1:80", "ttl.svc", "http://10.63.0.1:80/api")}))
        << "a ping brings it back" << f.describe();
}

TEST_F(DaemonTargets, BadQueriesAre400WithAJsonReason) {
    for (const auto& [target, reason] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/targets?pattern=x", "unknown parameter \"pattern\""},
             {"/v1/targets?name=a&name=a", "parameter \"name\" is given twice"},
             {"/v1/targets?meta.k=1&meta.k=2", "parameter \"meta.k\" is given twice"},
             {"/v1/targets?name=%2", "bad percent-encoding in \"name=%2\""},
             {"/v1/targets?name=" + std::string(256, 'n'), "name: pattern must be 1 to 255"},
             {"/v1/targets?meta.b%21d=1", "meta filter: key \"b!d\" must be"},
             {"/v1/targets?meta.k=" + std::string(513, 'v'), "must be at most 512 bytes"}}) {
        auto f = fetch(port(), target);
        EXPECT_EQ(f.reply.status, 400) << f.describe();
        EXPECT_EQ(f.reply.header("content-type"), "application/json") << f.describe();
        ASSERT_TRUE(f.body.is_object() && f.body["error"].is_string()) << f.describe();
        EXPECT_NE(f.body["error"].get<std::string>().find(reason), std::string::npos)
            << "want the reason " << reason << f.describe();
    }
}

TEST_F(DaemonTargets, OnlyGetAndHeadAreAllowed) {
    connection c(port());
    c.send(
        "POST /v1/targets HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
        "HEAD /v1/targets HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << r->status_line << "\n" << r->body;
    EXPECT_EQ(r->header("allow"), "GET, HEAD") << r->status_line;
    r = c.read_reply(true);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 200) << r->status_line;
    EXPECT_EQ(r->header("content-type"), "application/json") << r->status_line;
}

}  // namespace
}  // namespace servreg::test
