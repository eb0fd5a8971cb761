// http::router without a socket (SPEC section 2): which requests reach the JSON-RPC dispatcher,
// the content-type and method checks before it, the operator endpoints, and the API token, on
// a registry with an in-memory SQLite store.
#include <gtest/gtest.h>

#include <chrono>
#include <future>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "prometheus_text.h"
#include "registry_stack.h"
#include "servreg/http/metrics.h"
#include "servreg/http/router.h"
#include "utils.h"

namespace servreg::test {
namespace {

using nlohmann::json;

// A request as the test writes it; http::request only views its strings.
struct sent {
    std::string method;
    std::string target;
    std::string content_type;
    std::optional<std::string> api_token;
    std::string body;
};

// One request through the router and its response, kept whole so that a failing assertion
// can print both sides.
struct routed {
    sent request;
    http::response reply;

    std::string header(std::string_view name) const {
        for (const auto& [n, v] : reply.headers) {
            if (n == name) return v;
        }
        return {};
    }
    json body() const { return json::parse(reply.body, nullptr, false); }

    std::string describe() const {
        std::string out = "\n  request: " + request.method + " " + request.target;
        if (!request.content_type.empty()) out += "\n    Content-Type: " + request.content_type;
        if (request.api_token) out += "\n    X-Api-Token: " + *request.api_token;
        out += "\n    " + request.body.substr(0, 2000);
        out += "\n  reply: " + std::to_string(reply.status) +
               " Content-Type: " + std::string(reply.content_type);
        for (const auto& [n, v] : reply.headers) out += "\n    " + n + ": " + v;
        out += "\n    " + reply.body.substr(0, 2000);
        return out;
    }
};

constexpr std::string_view ping_body =
    R"({"jsonrpc":"2.0","method":"ping","params":["router.svc","10.9.0.1",8080],"id":1})";
constexpr std::string_view ping_notification =
    R"({"jsonrpc":"2.0","method":"ping","params":["router.svc","10.9.0.1",8080]})";

class Router : public ::testing::Test {
protected:
    // Routes `s` through `r` and waits for its response, which writes give from the writer's
    // thread once they are committed.
    routed send(const http::router& r, sent s) {
        routed out{.request = std::move(s), .reply = {}};
        auto done = std::make_shared<std::promise<http::response>>();
        auto answer = done->get_future();
        const sent& q = out.request;
        r.handle({.method = q.method,
                  .target = q.target,
                  .version = 11,
                  .content_type = q.content_type,
                  .api_token =
                      q.api_token ? std::optional<std::string_view>(*q.api_token) : std::nullopt,
                  .body = q.body,
                  .remote = "127.0.0.1"},
                 [done](http::response reply) { done->set_value(std::move(reply)); });
        if (answer.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            ADD_FAILURE() << "no response" << out.describe();
            return out;
        }
        out.reply = answer.get();
        return out;
    }
    routed send(sent s) { return send(router_, std::move(s)); }

    routed post(std::string_view body, std::string content_type = "application/json") {
        return send({.method = "POST",
                     .target = "/api",
                     .content_type = std::move(content_type),
                     .api_token = std::nullopt,
                     .body = std::string(body)});
    }
    routed get(std::string target) {
        return send({.method = "GET",
                     .target = std::move(target),
                     .content_type = {},
                     .api_token = std::nullopt,
                     .body = {}});
    }

    sqlite_registry registry_;
    http::router router_{registry_.dispatcher, registry_.service, std::nullopt};
};

TEST_F(Router, PostWithJsonContentTypeReachesTheDispatcher) {
    for (const std::string type :
         {"application/json", "application/json; charset=utf-8", "Application/JSON;charset=UTF-8",
          " application/json ; charset=utf-8"}) {
        registry_.index.reset({});
        auto x = post(ping_body, type);
        EXPECT_EQ(x.reply.status, 200u) << x.describe();
        EXPECT_EQ(x.reply.content_type, "application/json") << x.describe();
        EXPECT_EQ(x.reply.body, R"({"jsonrpc":"2.0","result":true,"error":null,"id":1})")
            << x.describe();
        EXPECT_EQ(x.reply.label, "ping") << x.describe();
        EXPECT_EQ(registry_.index.size(), 1u) << "the ping was committed" << x.describe();
    }
}

TEST_F(Router, QueryStringOnApiIsIgnored) {
    auto x = send({.method = "POST",
                   .target = "/api?from=test",
                   .content_type = "application/json",
                   .api_token = std::nullopt,
                   .body = R"({"jsonrpc":"2.0","method":"locate_service","params":["*"],"id":2})"});
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.body()["result"], json::array()) << x.describe();
}

TEST_F(Router, PostWithAnotherOrNoContentTypeIs415WithInvalidRequest) {
    for (const std::string type :
         {"", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
          "application/jsonp", "application/json-seq", "text/json"}) {
        auto x = post(ping_body, type);
        EXPECT_EQ(x.reply.status, 415u) << x.describe();
        EXPECT_EQ(x.reply.content_type, "application/json") << x.describe();
        const auto body = x.body();
        ASSERT_TRUE(body.is_object()) << x.describe();
        EXPECT_EQ(body["jsonrpc"], "2.0") << x.describe();
        EXPECT_EQ(body["error"]["code"], -32600) << x.describe();
        EXPECT_TRUE(body["id"].is_null()) << x.describe();
        EXPECT_EQ(registry_.index.size(), 0u) << "the call must not run" << x.describe();
    }
}

TEST_F(Router, OtherMethodsOnApiAre405AllowingPost) {
    for (const std::string method : {"GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
        auto x = send({.method = method,
                       .target = "/api",
                       .content_type = "application/json",
                       .api_token = std::nullopt,
                       .body = std::string(ping_body)});
        EXPECT_EQ(x.reply.status, 405u) << x.describe();
        EXPECT_EQ(x.header("Allow"), "POST") << x.describe();
        EXPECT_EQ(registry_.index.size(), 0u) << "the call must not run" << x.describe();
    }
}

TEST_F(Router, HealthIsOkWhileTheDatabaseAnswers) {
    auto x = get("/health");
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.reply.content_type, "application/json") << x.describe();
    EXPECT_EQ(x.reply.body, R"({"status":"ok"})") << x.describe();
}

TEST_F(Router, RootIsTheStatusPageWithAContentSecurityPolicy) {
    ASSERT_EQ(post(ping_body).reply.status, 200u);
    auto x = get("/");
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.reply.content_type, "text/html; charset=utf-8") << x.describe();
    EXPECT_TRUE(x.reply.body.starts_with("<!doctype html>")) << x.describe();
    EXPECT_NE(x.reply.body.find("router.svc"), std::string::npos)
        << "the instances are rendered in" << x.describe();
    const std::string csp = x.header("Content-Security-Policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << x.describe();
    const auto at = csp.find("'nonce-");
    ASSERT_NE(at, std::string::npos) << x.describe();
    const std::string nonce = csp.substr(at + 7, csp.find('\'', at + 7) - at - 7);
    EXPECT_GE(nonce.size(), 16u) << x.describe();
    EXPECT_NE(x.reply.body.find("nonce=\"" + nonce + "\""), std::string::npos)
        << "the page's own script carries the nonce" << x.describe();
    EXPECT_NE(get("/").header("Content-Security-Policy"), csp) << "a fresh nonce per page";
}

TEST_F(Router, MetricsAreServedWhenAMetricsObjectIsGiven) {
    http::metrics stats("7.7.7");
    const http::router with_metrics(registry_.dispatcher, registry_.service, std::nullopt, &stats,
                                    [] {
                                        return http::connection_stats{3, 10, 1};
                                    });
    ASSERT_EQ(send(with_metrics, {.method = "POST",
                                  .target = "/api",
                                  .content_type = "application/json",
                                  .api_token = std::nullopt,
                                  .body = std::string(ping_body)})
                  .reply.status,
              200u);
    auto x = send(with_metrics, {.method = "GET",
                                 .target = "/metrics",
                                 .content_type = {},
                                 .api_token = std::nullopt,
                                 .body = {}});
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.reply.content_type, http::metrics::content_type) << x.describe();
    const auto samples = samples_of(x.reply.body);
    EXPECT_EQ(value_of(samples, R"(servreg_build_info{version="7.7.7"})"), 1) << x.describe();
    EXPECT_EQ(value_of(samples, R"(servreg_instances{state="alive"})"), 1) << x.describe();
    EXPECT_EQ(value_of(samples, R"(servreg_service_alive_instances{service="router.svc"})"), 1)
        << x.describe();
    EXPECT_EQ(value_of(samples, "servreg_http_connections_open"), 3) << x.describe();
    EXPECT_EQ(value_of(samples, "servreg_http_connections_accepted_total"), 10) << x.describe();
    EXPECT_EQ(value_of(samples, "servreg_db_up"), 1) << x.describe();

    auto without = get("/metrics");
    EXPECT_EQ(without.reply.status, 404u) << "no metrics object, no endpoint" << without.describe();
}

TEST_F(Router, TargetsAreTheAliveUndrainedInstancesAndNeedNoToken) {
    const http::router guarded(registry_.dispatcher, registry_.service, "s3cret-t0ken");
    auto write = [&](const json& params, std::string_view method = "ping") {
        auto x = send(guarded, {.method = "POST",
                                .target = "/api",
                                .content_type = "application/json",
                                .api_token = "s3cret-t0ken",
                                .body = call_text(method, params)});
        EXPECT_EQ(x.body()["result"], true) << x.describe();
    };
    write({"router.old", "10.9.0.9", 80});
    registry_.clock.advance(61'000);  // past the TTL of 60 s: router.old is dead
    write({"router.svc", "10.9.0.1", 8080});
    write({"router.svc", "http://[fd00::7]:9100/metrics", json::object({{"env", "prod"}})});
    write({"router.svc", "10.9.0.2", 8080});
    write({"10.9.0.2", 8080}, "drain");
    const json host_port = {{"targets", {"10.9.0.1:8080"}},
                            {"labels",
                             {{"__meta_servreg_service", "router.svc"},
                              {"__meta_servreg_url", "http://10.9.0.1:8080/api"}}}};
    const json by_url = {{"targets", {"[fd00::7]:9100"}},
                         {"labels",
                          {{"__meta_servreg_service", "router.svc"},
                           {"__meta_servreg_url", "http://[fd00::7]:9100/metrics"},
                           {"__meta_servreg_meta_env", "prod"}}}};

    auto x = send(guarded, {.method = "GET",
                            .target = "/v1/targets",
                            .content_type = {},
                            .api_token = std::nullopt,
                            .body = {}});
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.reply.content_type, "application/json") << x.describe();
    EXPECT_EQ(x.header("Cache-Control"), "no-store") << x.describe();
    EXPECT_EQ(x.body(), json::array({host_port, by_url}))
        << "router.old is dead, 10.9.0.2 draining" << x.describe();

    x = get("/v1/targets?name=router.%2A&meta.env=prod");
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.body(), json::array({by_url})) << x.describe();
    x = get("/v1/targets?name=router.old");
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.reply.body, "[]") << x.describe();
}

TEST_F(Router, TargetsWithABadQueryAre400WithTheReason) {
    for (const auto& [target, reason] : std::vector<std::pair<std::string, std::string>>{
             {"/v1/targets?nmae=x", "unknown parameter \"nmae\""},
             {"/v1/targets?name=a&name=b", "parameter \"name\" is given twice"},
             {"/v1/targets?name=%G1", "bad percent-encoding in \"name=%G1\""},
             {"/v1/targets?meta.a%2Fb=1", "meta filter: key \"a/b\""},
             {"/v1/targets?name=", "name: pattern must be 1 to 255 characters"},
             // Repeated as %XX, so that the answer stays valid UTF-8.
             {"/v1/targets?x%FF\x01=1", "unknown parameter \"x%FF%01\""}}) {
        auto x = get(target);
        EXPECT_EQ(x.reply.status, 400u) << x.describe();
        EXPECT_EQ(x.reply.content_type, "application/json") << x.describe();
        const auto body = x.body();
        ASSERT_TRUE(body.is_object() && body["error"].is_string()) << x.describe();
        EXPECT_NE(body["error"].get<std::string>().find(reason), std::string::npos)
            << "want the reason " << reason << x.describe();
    }
}

TEST_F(Router, TargetsAllowOnlyGetAndHead) {
    for (const std::string method : {"POST", "PUT", "DELETE"}) {
        auto x = send({.method = method,
                       .target = "/v1/targets",
                       .content_type = "application/json",
                       .api_token = std::nullopt,
                       .body = std::string(ping_body)});
        EXPECT_EQ(x.reply.status, 405u) << x.describe();
        EXPECT_EQ(x.header("Allow"), "GET, HEAD") << x.describe();
    }
    auto x = send({.method = "HEAD",
                   .target = "/v1/targets",
                   .content_type = {},
                   .api_token = std::nullopt,
                   .body = {}});
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
}

TEST_F(Router, UnknownPathsAre404) {
    for (const std::string target :
         {"/nope", "/api/", "/apix", "/API", "/healthz", "/index.html", "//", "/api/v1"}) {
        auto x = get(target);
        EXPECT_EQ(x.reply.status, 404u) << x.describe();
        EXPECT_EQ(x.reply.content_type, "application/json") << x.describe();
    }
    auto x = send({.method = "POST",
                   .target = "/rpc",
                   .content_type = "application/json",
                   .api_token = std::nullopt,
                   .body = std::string(ping_notification)});
    EXPECT_EQ(x.reply.status, 404u) << x.describe();
    EXPECT_EQ(registry_.index.size(), 0u)
        << "a call elsewhere than /api never runs" << x.describe();
}

TEST_F(Router, NotificationIs204WithNoBody) {
    auto x = post(ping_notification);
    EXPECT_EQ(x.reply.status, 204u) << x.describe();
    EXPECT_TRUE(x.reply.body.empty()) << x.describe();
    EXPECT_TRUE(x.reply.content_type.empty()) << "no body, no Content-Type" << x.describe();
    EXPECT_EQ(registry_.index.size(), 1u) << "a notification still runs" << x.describe();
}

TEST_F(Router, WithAnApiTokenWritesNeedTheHeader) {
    const http::router guarded(registry_.dispatcher, registry_.service, "s3cret-t0ken");
    auto with = [&](std::optional<std::string> token, std::string_view body) {
        return send(guarded, {.method = "POST",
                              .target = "/api",
                              .content_type = "application/json",
                              .api_token = std::move(token),
                              .body = std::string(body)});
    };
    for (const std::optional<std::string>& wrong : std::vector<std::optional<std::string>>{
             std::nullopt, "", "s3cret-t0keN", "s3cret", "s3cret-t0ken "}) {
        auto x = with(wrong, ping_body);
        EXPECT_EQ(x.reply.status, 200u) << x.describe();
        EXPECT_EQ(x.body()["error"]["code"], -32001) << x.describe();
        EXPECT_EQ(registry_.index.size(), 0u) << "nothing written" << x.describe();
    }
    auto dropped = with(std::nullopt, ping_notification);
    EXPECT_EQ(dropped.reply.status, 204u) << dropped.describe();
    EXPECT_EQ(registry_.index.size(), 0u)
        << "a notification without it writes nothing" << dropped.describe();

    auto x = with("s3cret-t0ken", ping_body);
    EXPECT_EQ(x.reply.status, 200u) << x.describe();
    EXPECT_EQ(x.body()["result"], true) << x.describe();
    EXPECT_TRUE(x.body()["error"].is_null()) << x.describe();
    EXPECT_EQ(registry_.index.size(), 1u) << x.describe();
}

}  // namespace
}  // namespace servreg::test
