// http::metrics (SPEC section 7) without a server: the Prometheus text format, histograms,
// and a label set that stays fixed whatever the clients send.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "prometheus_text.h"
#include "servreg/http/metrics.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;

TEST(MetricsFormat, EveryFamilyHasHelpAndTypeAndEveryLineParses) {
    http::metrics m("1.2.3");
    m.record_call("ping", 0, 300us);
    m.record_call("locate_service", -32602, 20us);
    m.record_commit(2ms, 5, true);
    const std::string text = m.render({.alive = 4,
                                       .dead = 2,
                                       .connections = {3, 10, 1},
                                       .database_up = true,
                                       .services = {},
                                       .watching = 7});
    auto samples = samples_of(text);
    for (std::string family :
         {"servreg_build_info", "servreg_rpc_requests_total", "servreg_rpc_duration_seconds",
          "servreg_instances", "servreg_db_commit_duration_seconds", "servreg_db_writes_total",
          "servreg_db_commit_failures_total", "servreg_db_up", "servreg_http_connections_open",
          "servreg_http_connections_accepted_total", "servreg_http_connections_refused_total",
          "servreg_watch_waiting"}) {
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
    EXPECT_EQ(value_of(samples, "servreg_watch_waiting"), 7) << text;
    EXPECT_EQ(value_of(samples, "servreg_http_connections_accepted_total"), 10) << text;
    EXPECT_EQ(value_of(samples, "servreg_http_connections_refused_total"), 1) << text;
    EXPECT_EQ(value_of(samples, "servreg_db_writes_total"), 5) << text;
    EXPECT_EQ(value_of(samples, "servreg_db_commit_duration_seconds_count"), 1) << text;
    EXPECT_NEAR(value_of(samples, "servreg_db_commit_duration_seconds_sum"), 0.002, 1e-9) << text;
}

TEST(MetricsFormat, DatabaseTimeoutsReconnectsAndTheRestartGrace) {
    http::metrics m("1");
    auto samples = samples_of(m.render({}));
    EXPECT_EQ(value_of(samples, "servreg_db_timeouts_total"), 0);
    EXPECT_EQ(value_of(samples, "servreg_db_reconnects_total"), 0);
    EXPECT_EQ(value_of(samples, "servreg_restart_grace_instances"), 0);
    m.record_db_timeout();
    m.record_db_timeout();
    m.record_db_reconnect();
    m.set_restart_grace(7, std::chrono::steady_clock::now() + 1h);
    std::string text = m.render({});
    samples = samples_of(text);
    EXPECT_EQ(value_of(samples, "servreg_db_timeouts_total"), 2) << text;
    EXPECT_EQ(value_of(samples, "servreg_db_reconnects_total"), 1) << text;
    EXPECT_EQ(value_of(samples, "servreg_restart_grace_instances"), 7) << text;
    for (std::string family : {"servreg_db_timeouts_total", "servreg_db_reconnects_total",
                               "servreg_restart_grace_instances"}) {
        EXPECT_NE(text.find("# HELP " + family + " "), std::string::npos) << family << "\n" << text;
        EXPECT_NE(text.find("# TYPE " + family + " "), std::string::npos) << family << "\n" << text;
    }
    // Once the grace is over, no instance is kept alive by it.
    m.set_restart_grace(7, std::chrono::steady_clock::now() - 1s);
    text = m.render({});
    EXPECT_EQ(value_of(samples_of(text), "servreg_restart_grace_instances"), 0) << text;
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

}  // namespace
}  // namespace servreg::test
