// GET /metrics as served (SPEC section 7): counters and gauges that move with the calls made,
// the build's version, GET and HEAD only. The format itself is tested in test_http_metrics.cpp;
// promtool and a real Prometheus check the same exposition in scripts/test-ops.sh.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "prometheus_text.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string scrape(std::uint16_t port) {
    auto r = get(port, "/metrics");
    EXPECT_EQ(r.status, 200) << r.status_line << "\n" << r.body;
    EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
}

class DaemonMetrics : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        daemon_ = std::make_unique<registry_daemon>(std::vector<std::string>{"--ttl", "1"});
    }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }
    static inline std::unique_ptr<registry_daemon> daemon_;
};

TEST_F(DaemonMetrics, CountersMoveAsCallsAreMade) {
    auto before = samples_of(scrape(port()));
    const std::string ping_ok = R"(servreg_rpc_requests_total{method="ping",code="0"})";
    const std::string ping_bad = R"(servreg_rpc_requests_total{method="ping",code="-32602"})";
    const std::string other = R"(servreg_rpc_requests_total{method="other",code="-32601"})";
    const std::string invalid = R"(servreg_rpc_requests_total{method="invalid",code="-32700"})";
    const std::string locate = R"(servreg_rpc_requests_total{method="locate_service",code="0"})";

    for (int i = 0; i < 3; ++i) {
        auto x = call(port(), "ping", {"metrics.svc", "10.20.0.1", 100 + i});
        ASSERT_EQ(x.result(), true) << x.describe();
    }
    auto x = call(port(), "ping", {"metrics.svc", "10.20.0.1", 0});
    ASSERT_EQ(x.error()["code"], -32602) << x.describe();
    x = call(port(), "no_such_method");
    ASSERT_EQ(x.error()["code"], -32601) << x.describe();
    x = rpc(port(), "{not json");
    ASSERT_EQ(x.error()["code"], -32700) << x.describe();
    x = call(port(), "drain", {"10.20.0.1", 100});
    ASSERT_EQ(x.result(), true) << x.describe();
    x = call(port(), "undrain", {"http://10.20.0.1:100/api"});
    ASSERT_EQ(x.result(), true) << x.describe();
    json batch = json::array();
    for (int i = 0; i < 4; ++i)
        batch.push_back(json::parse(call_text("locate_service", {"m*"}, i)));
    x = rpc(port(), batch.dump());
    ASSERT_TRUE(x.body.is_array()) << x.describe();

    auto after = samples_of(scrape(port()));
    auto moved = [&](const std::string& series) {
        return value_of(after, series) - std::max(value_of(before, series), 0.0);
    };
    EXPECT_EQ(moved(ping_ok), 3);
    EXPECT_EQ(moved(ping_bad), 1);
    EXPECT_EQ(moved(other), 1) << "an unknown method counts as other";
    EXPECT_EQ(moved(invalid), 1) << "a parse error counts as invalid";
    EXPECT_EQ(moved(locate), 4) << "each call of a batch counts";
    EXPECT_EQ(moved(R"(servreg_rpc_requests_total{method="drain",code="0"})"), 1);
    EXPECT_EQ(moved(R"(servreg_rpc_requests_total{method="undrain",code="0"})"), 1);
    EXPECT_EQ(moved(R"(servreg_rpc_duration_seconds_count{method="ping"})"), 4);
    EXPECT_GE(moved("servreg_db_writes_total"), 5);
    EXPECT_GE(moved("servreg_db_commit_duration_seconds_count"), 1);
    EXPECT_GE(moved("servreg_http_connections_accepted_total"), 8);
    EXPECT_GE(value_of(after, "servreg_http_connections_open"), 1) << "the scrape's own";
    EXPECT_EQ(value_of(after, "servreg_db_up"), 1);
}

TEST_F(DaemonMetrics, InstanceGaugesCountAliveAndDead) {
    ASSERT_EQ(call(port(), "ping", {"metrics.gauge", "10.20.1.1", 1}).result(), true);
    const std::string service = R"(servreg_service_alive_instances{service="metrics.gauge"})";
    auto samples = samples_of(scrape(port()));
    EXPECT_EQ(value_of(samples, service), 1);
    const double alive = value_of(samples, R"(servreg_instances{state="alive"})");
    const double dead = value_of(samples, R"(servreg_instances{state="dead"})");
    EXPECT_GE(alive, 1);
    auto listed = call(port(), "list_services").result();
    EXPECT_EQ(alive + dead, static_cast<double>(listed.size())) << listed.dump();

    std::this_thread::sleep_for(2100ms);  // --ttl 1
    samples = samples_of(scrape(port()));
    EXPECT_EQ(value_of(samples, R"(servreg_instances{state="alive"})"), 0);
    EXPECT_EQ(value_of(samples, R"(servreg_instances{state="dead"})"), alive + dead);
    EXPECT_EQ(value_of(samples, service), 0) << "a service whose instances all died stays, at 0";
}

TEST_F(DaemonMetrics, BuildInfoCarriesTheVersionOfServregDashDashVersion) {
    auto v = run_servreg({"--version"});
    ASSERT_EQ(v.status, 0) << v.err;
    std::string version = v.out.substr(v.out.find(' ') + 1);
    while (!version.empty() && version.back() == '\n') version.pop_back();
    auto samples = samples_of(scrape(port()));
    EXPECT_EQ(value_of(samples, "servreg_build_info{version=\"" + version + "\"}"), 1)
        << "version=" << version;
}

TEST_F(DaemonMetrics, OnlyGetAndHeadAreAllowed) {
    connection c(port());
    c.send("POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    auto reply = c.read_reply();
    ASSERT_TRUE(reply);
    EXPECT_EQ(reply->status, 405) << reply->status_line;
    EXPECT_EQ(reply->header("allow"), "GET, HEAD");
}

}  // namespace
}  // namespace servreg::test
