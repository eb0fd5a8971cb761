// GET /metrics (SPEC section 7): the Prometheus text format, a fixed label set whatever the
// clients send, and counters that move with the calls made. promtool and a real Prometheus
// check the same exposition in scripts/test-ops.sh.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "servreg/http/metrics.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// name{labels} -> value, from an exposition; fails the test on a line in no known shape.
std::map<std::string, double> samples_of(const std::string& text) {
    static const std::regex sample(
        R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$)re");
    static const std::regex comment(R"re(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)re");
    std::map<std::string, double> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("#")) {
            EXPECT_TRUE(std::regex_match(line, comment)) << "comment line: " << line;
            continue;
        }
        std::smatch m;
        if (!std::regex_match(line, m, sample)) {
            ADD_FAILURE() << "not a sample line: " << line;
            continue;
        }
        EXPECT_EQ(out.count(m[1].str() + m[2].str()), 0u) << "duplicate series: " << line;
        out[m[1].str() + m[2].str()] = m[3] == "+Inf" ? 1e300 : std::stod(m[3]);
    }
    return out;
}

double value_of(const std::map<std::string, double>& samples, const std::string& series) {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
}

std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

std::string scrape(std::uint16_t port) {
    auto r = get(port, "/metrics");
    EXPECT_EQ(r.status, 200) << r.status_line << "\n" << r.body;
    EXPECT_EQ(r.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
    return r.body;
}

TEST(MetricsFormat, EveryFamilyHasHelpAndTypeAndEveryLineParses) {
    http::metrics m("1.2.3");
    m.record_call("ping", 0, 300us);
    m.record_call("locate_service", -32602, 20us);
    m.record_commit(2ms, 5, true);
    const std::string text = m.render(
        {.alive = 4, .dead = 2, .connections = {3, 10, 1}, .database_up = true, .services = {}});
    auto samples = samples_of(text);
    for (std::string family :
         {"servreg_build_info", "servreg_rpc_requests_total", "servreg_rpc_duration_seconds",
          "servreg_instances", "servreg_db_commit_duration_seconds", "servreg_db_writes_total",
          "servreg_db_commit_failures_total", "servreg_db_up", "servreg_http_connections_open",
          "servreg_http_connections_accepted_total", "servreg_http_connections_refused_total"}) {
        EXPECT_NE(text.find("# HELP " + family + " "), std::string::npos) << family << "\n" << text;
        EXPECT_NE(text.find("# TYPE " + family + " "), std::string::npos) << family << "\n" << text;
    }
    EXPECT_EQ(value_of(samples, R"(servreg_build_info{version="1.2.3"})"), 1) << text;
    EXPECT_EQ(value_of(samples, R"(servreg_rpc_requests_total{method="ping",code="0"})"), 1);
    EXPECT_EQ(
        value_of(samples, R"(servreg_rpc_requests_total{method="locate_service",code="-32602"})"),
        1)
        << text;
    EXPECT_EQ(value_of(samples, R"(servreg_instances{state="alive"})"), 4) << text;
    EXPECT_EQ(value_of(samples, R"(servreg_instances{state="dead"})"), 2) << text;
    EXPECT_EQ(value_of(samples, "servreg_http_connections_open"), 3) << text;
    EXPECT_EQ(value_of(samples, "servreg_http_connections_accepted_total"), 10) << text;
    EXPECT_EQ(value_of(samples, "servreg_http_connections_refused_total"), 1) << text;
    EXPECT_EQ(value_of(samples, "servreg_db_writes_total"), 5) << text;
    EXPECT_EQ(value_of(samples, "servreg_db_commit_duration_seconds_count"), 1) << text;
    EXPECT_NEAR(value_of(samples, "servreg_db_commit_duration_seconds_sum"), 0.002, 1e-9) << text;
}

TEST(MetricsFormat, HistogramBucketsAreCumulativeAndInfEqualsCount) {
    http::metrics m("x");
    for (std::chrono::nanoseconds d :
         std::initializer_list<std::chrono::nanoseconds>{10us, 30us, 30us, 700us, 3ms, 20s})
        m.record_call("ping", 0, d);
    auto samples = samples_of(m.render({}));
    auto bucket = [&](const std::string& le) {
        return value_of(samples,
                        R"(servreg_rpc_duration_seconds_bucket{method="ping",le=")" + le + "\"}");
    };
    EXPECT_EQ(bucket("0.000025"), 1);
    EXPECT_EQ(bucket("0.00005"), 3);
    EXPECT_EQ(bucket("0.001"), 4);
    EXPECT_EQ(bucket("0.005"), 5);
    EXPECT_EQ(bucket("10"), 5) << "20 s is above the last finite bound";
    EXPECT_EQ(bucket("+Inf"), 6);
    EXPECT_EQ(value_of(samples, R"(servreg_rpc_duration_seconds_count{method="ping"})"), 6);
    EXPECT_NEAR(value_of(samples, R"(servreg_rpc_duration_seconds_sum{method="ping"})"), 20.00377,
                1e-6);
    double previous = 0;
    for (auto le : http::duration_histogram::bucket_labels) {
        EXPECT_GE(bucket(std::string(le)), previous) << "le=" << le;
        previous = bucket(std::string(le));
    }
}

TEST(MetricsFormat, UnknownMethodNamesCannotGrowTheSeries) {
    http::metrics m("x");
    const std::size_t lines_before = samples_of(m.render({})).size();
    for (int i = 0; i < 500; ++i) m.record_call("method_" + std::to_string(i), -32601, 1us);
    m.record_call("-", -32700, 1us);
    m.record_call("ping", 12345, 1us);  // a code outside the known set
    auto samples = samples_of(m.render({}));
    EXPECT_EQ(value_of(samples, R"(servreg_rpc_requests_total{method="other",code="-32601"})"),
              500);
    EXPECT_EQ(value_of(samples, R"(servreg_rpc_requests_total{method="invalid",code="-32700"})"),
              1);
    EXPECT_EQ(value_of(samples, R"(servreg_rpc_requests_total{method="ping",code="other"})"), 1);
    EXPECT_EQ(samples.size(), lines_before + 3) << "only the three new (method, code) pairs appear";
}

TEST(MetricsFormat, ServiceSeriesAreEscapedValidUtf8AndBounded) {
    http::metrics m("x");
    http::live_values live;
    live.services = {{"billing.api", 2}, {"say \"hi\" \\ o/", 0}, {"caf\xc3\xa9 \xff", 1}};
    const std::string text = m.render(live);
    EXPECT_NE(text.find("servreg_service_alive_instances{service=\"billing.api\"} 2\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find(R"(servreg_service_alive_instances{service="say \"hi\" \\ o/"} 0)"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("servreg_service_alive_instances{service=\"caf\xc3\xa9 \xef\xbf\xbd\"} 1"),
              std::string::npos)
        << "a byte that is not UTF-8 becomes U+FFFD\n"
        << text;

    live.services.clear();
    for (std::size_t i = 0; i < http::metrics::max_service_series + 5; ++i)
        live.services.push_back({"svc." + std::to_string(i), 1});
    EXPECT_EQ(count_of(m.render(live), "servreg_service_alive_instances{"),
              http::metrics::max_service_series);
}

TEST(MetricsFormat, VersionLabelIsEscaped) {
    http::metrics m("1.0 \"quoted\" \\ back\nslash");
    const std::string text = m.render({});
    EXPECT_NE(text.find(R"(servreg_build_info{version="1.0 \"quoted\" \\ back\nslash"} 1)"),
              std::string::npos)
        << text;
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
    EXPECT_EQ(moved(R"(servreg_rpc_duration_seconds_count{method="ping"})"), 4);
    EXPECT_GE(moved("servreg_db_writes_total"), 3);
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
