// Black-box tests of JSON-RPC 2.0 over the real daemon (SPEC section 3): errors, batches,
// notifications, ids, and both reply shapes (default and --strict-jsonrpc).
#include <gtest/gtest.h>

#include <memory>
#include <sstream>
#include <string>

#include "utils.h"

namespace servreg::test {
namespace {

using nlohmann::json;

class DaemonJsonRpc : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        compatible_ = std::make_unique<registry_daemon>();
        strict_ = std::make_unique<registry_daemon>(std::vector<std::string>{"--strict-jsonrpc"});
    }
    static void TearDownTestSuite() {
        compatible_.reset();
        strict_.reset();
    }
    static std::uint16_t port() { return compatible_->port(); }

    static json locate(const std::string& pattern) {
        auto x = call(port(), "locate_service", {pattern});
        EXPECT_TRUE(x.result().is_array()) << x.describe();
        return x.result();
    }

    // Checks that `x` is one HTTP 200 error reply with `code` and id null.
    static void expect_error(const rpc_exchange& x, int code, const json& id = nullptr) {
        EXPECT_EQ(x.reply.status, 200) << x.describe();
        EXPECT_EQ(x.reply.header("content-type"), "application/json") << x.describe();
        ASSERT_TRUE(x.body.is_object()) << "expected one reply object" << x.describe();
        EXPECT_EQ(x.body["jsonrpc"], "2.0") << x.describe();
        EXPECT_EQ(x.error()["code"], code) << x.describe();
        EXPECT_TRUE(x.error()["message"].is_string()) << x.describe();
        EXPECT_TRUE(x.body.contains("id")) << x.describe();
        EXPECT_EQ(x.member("id"), id) << x.describe();
    }

    static inline std::unique_ptr<registry_daemon> compatible_;
    static inline std::unique_ptr<registry_daemon> strict_;
};

TEST_F(DaemonJsonRpc, BodyThatIsNotJsonIsParseError) {
    for (std::string body :
         {std::string(R"({"jsonrpc":"2.0","method":"ping",)"), std::string("not json"),
          std::string("{\"jsonrpc\":\"2.0\",\"method\":\"p\xff\"}"), std::string("")}) {
        SCOPED_TRACE("body=" + body);
        expect_error(rpc(port(), body), -32700);
    }
}

TEST_F(DaemonJsonRpc, MalformedRequestObjectIsInvalidRequest) {
    for (std::string body : {R"({"jsonrpc":"1.0","method":"ping","id":1})",
                             R"({"method":"locate_service","params":["x"],"id":1})",
                             R"({"jsonrpc":"2.0","method":42,"id":1})",
                             R"({"jsonrpc":"2.0","params":["x"],"id":1})", R"(42)", R"("ping")"}) {
        SCOPED_TRACE("body=" + body);
        auto x = rpc(port(), body);
        ASSERT_TRUE(x.body.is_object()) << x.describe();
        EXPECT_EQ(x.error()["code"], -32600) << x.describe();
    }
}

TEST_F(DaemonJsonRpc, EmptyBatchIsOneInvalidRequest) {
    expect_error(rpc(port(), "[]"), -32600);
}

TEST_F(DaemonJsonRpc, BatchRepliesToCallsOnlyInOrderAndRunsNotifications) {
    json batch = json::array({
        {{"jsonrpc", "2.0"},
         {"method", "ping"},
         {"params", {"rpc.batch", "10.1.0.1", 1}},
         {"id", 1}},
        {{"jsonrpc", "2.0"}, {"method", "ping"}, {"params", {"rpc.batch", "10.1.0.1", 2}}},
        {{"jsonrpc", "2.0"}, {"method", "get_service_specs"}, {"id", "b"}},
        {{"jsonrpc", "2.0"}, {"method", "no_such_method"}},
        42,
        {{"jsonrpc", "2.0"}, {"method", "no_such_method"}, {"id", 5}},
    });
    auto x = rpc(port(), batch.dump());
    EXPECT_EQ(x.reply.status, 200) << x.describe();
    ASSERT_TRUE(x.body.is_array()) << x.describe();
    ASSERT_EQ(x.body.size(), 4u) << "one reply per call, none for notifications" << x.describe();
    EXPECT_EQ(x.body[0]["id"], 1) << x.describe();
    EXPECT_EQ(x.body[0]["result"], true) << x.describe();
    EXPECT_EQ(x.body[1]["id"], "b") << x.describe();
    EXPECT_EQ(x.body[1]["result"]["name"], "servreg") << x.describe();
    EXPECT_TRUE(x.body[2]["id"].is_null()) << x.describe();
    EXPECT_EQ(x.body[2]["error"]["code"], -32600) << x.describe();
    EXPECT_EQ(x.body[3]["id"], 5) << x.describe();
    EXPECT_EQ(x.body[3]["error"]["code"], -32601) << x.describe();
    EXPECT_EQ(locate("rpc.batch").size(), 2u) << "the notification in the batch must run";
}

TEST_F(DaemonJsonRpc, BatchOfOnlyNotificationsIs204AndRuns) {
    json batch = json::array({
        {{"jsonrpc", "2.0"}, {"method", "ping"}, {"params", {"rpc.nbatch", "10.1.0.2", 1}}},
        {{"jsonrpc", "2.0"},
         {"method", "ping"},
         {"params", {{"name", "rpc.nbatch"}, {"host", "10.1.0.2"}, {"port", 2}}}},
        {{"jsonrpc", "2.0"}, {"method", "locate_service"}, {"params", {"x"}}},
    });
    auto x = rpc(port(), batch.dump());
    EXPECT_EQ(x.reply.status, 204) << x.describe();
    EXPECT_EQ(x.reply.body, "") << x.describe();
    EXPECT_EQ(locate("rpc.nbatch").size(), 2u) << "the notifications must run before the 204";
}

TEST_F(DaemonJsonRpc, SingleNotificationIs204AndRuns) {
    auto x = rpc(port(), R"({"jsonrpc":"2.0","method":"ping","params":["rpc.note","10.1.0.3",1]})");
    EXPECT_EQ(x.reply.status, 204) << x.describe();
    EXPECT_EQ(x.reply.body, "") << x.describe();
    EXPECT_EQ(locate("rpc.note").size(), 1u) << "a notification answered 204 has run";

    x = rpc(port(), R"({"jsonrpc":"2.0","method":"no_such_method"})");
    EXPECT_EQ(x.reply.status, 204) << "a failing notification gets no reply either" << x.describe();
}

TEST_F(DaemonJsonRpc, NullIdIsAnOrdinaryIdAndGetsAReply) {
    auto x =
        rpc(port(),
            R"({"jsonrpc":"2.0","method":"ping","params":["rpc.nullid","10.1.0.4",1],"id":null})");
    EXPECT_EQ(x.reply.status, 200) << x.describe();
    ASSERT_TRUE(x.body.is_object()) << x.describe();
    EXPECT_TRUE(x.body.contains("id") && x.body["id"].is_null()) << x.describe();
    EXPECT_EQ(x.result(), true) << x.describe();
}

TEST_F(DaemonJsonRpc, ZeroIdGetsAReplyWithIdZero) {
    auto x =
        rpc(port(), R"({"jsonrpc":"2.0","method":"locate_service","params":["rpc.zero"],"id":0})");
    EXPECT_EQ(x.reply.status, 200) << x.describe();
    EXPECT_EQ(x.member("id"), 0) << x.describe();
    EXPECT_EQ(x.result(), json::array()) << x.describe();
}

TEST_F(DaemonJsonRpc, StringAndNumberIdsAreEchoedExactly) {
    for (json id : {json("abc"), json(""), json("1"), json("ünï\"code"), json(-7),
                    json(123456789012345), json(2.5)}) {
        auto x = rpc(port(), call_text("locate_service", {"rpc.ids"}, id));
        EXPECT_EQ(x.member("id"), id) << "id=" << id.dump() << x.describe();
        EXPECT_EQ(x.result(), json::array()) << x.describe();
    }
}

TEST_F(DaemonJsonRpc, UnknownMethodIsMethodNotFound) {
    expect_error(rpc(port(), call_text("no_such_method", {1, 2}, 9)), -32601, 9);
    expect_error(rpc(port(), call_text("Ping", {"a", "b", 1}, 10)), -32601, 10);
}

TEST_F(DaemonJsonRpc, InvalidParamsIs32602WithDataNamingTheParameter) {
    struct bad_call {
        std::string method;
        json params;
        std::string named;  // what error.data must mention (one of "a|b")
    };
    std::vector<bad_call> calls = {
        {"ping", {"svc", "10.1.0.5", 70000}, "port"},
        {"ping", {"svc", "10.1.0.5", 0}, "port"},
        {"ping", {"svc", "10.1.0.5", "12a"}, "port"},
        {"ping", {"svc", "10.1.0.5", 1.5}, "port"},
        {"ping", {"svc", "10.1.0.5"}, "url"},  // by position, [name, url]
        {"ping", {{"name", "svc"}, {"host", "10.1.0.5"}}, "port"},
        {"ping", {{"name", "svc"}, {"host", "10.1.0.5"}, {"port", 1}, {"colour", "red"}}, "colour"},
        {"ping", {42, "10.1.0.5", 1}, "name"},
        {"ping", {"", "10.1.0.5", 1}, "name"},
        {"ping", {std::string(256, 'n'), "10.1.0.5", 1}, "name"},
        {"ping", {"a\nb", "10.1.0.5", 1}, "name"},
        {"ping", {"svc", "10.1.0.5 x", 1}, "host"},
        {"ping", {"svc", "", 1}, "host"},
        {"ping", {"svc", "10.1.0.5", 1, 4}, "meta"},
        {"ping", {"svc", "10.1.0.5", 1, {{"k", 1}}}, "meta"},
        {"ping", {"svc", "ftp://10.1.0.5/"}, "url"},
        {"locate_service", json::array(), "name"},
        {"locate_service", {""}, "name|pattern"},
        {"locate_service", {std::string(256, '*')}, "name|pattern"},
        {"locate_service", {{"pattern", "x"}}, "pattern"},
        {"unregister", {"10.1.0.5"}, "url"},
        {"drain", {"10.1.0.5", 0}, "port"},
        {"undrain", json::array(), "url|host"},
        {"list_services", {17}, "pattern"},
        {"get_service_specs", {{"x", 1}}, "x"},
    };
    int id = 100;
    for (const auto& c : calls) {
        auto x = rpc(port(), call_text(c.method, c.params, id));
        SCOPED_TRACE(c.method + " " + c.params.dump());
        expect_error(x, -32602, id);
        json data = x.error()["data"];
        EXPECT_TRUE(data.is_string() && !data.get<std::string>().empty())
            << "error.data must say which parameter and why" << x.describe();
        if (data.is_string()) {
            const auto text = data.get<std::string>();
            bool named = false;
            std::istringstream alternatives(c.named);
            for (std::string word; std::getline(alternatives, word, '|');) {
                named |= text.find(word) != std::string::npos;
            }
            EXPECT_TRUE(named) << "error.data should name '" << c.named << "'" << x.describe();
        }
        ++id;
    }
    EXPECT_EQ(locate("svc"), json::array()) << "no invalid ping may be recorded";
}

TEST_F(DaemonJsonRpc, DefaultReplyCarriesBothResultAndError) {
    auto ok = rpc(port(), call_text("locate_service", {"rpc.shape"}, 7));
    ASSERT_TRUE(ok.body.is_object()) << ok.describe();
    EXPECT_EQ(ok.body,
              json({{"jsonrpc", "2.0"}, {"result", json::array()}, {"error", nullptr}, {"id", 7}}))
        << ok.describe();

    auto bad = rpc(port(), call_text("no_such_method", nullptr, 8));
    ASSERT_TRUE(bad.body.is_object()) << bad.describe();
    EXPECT_TRUE(bad.body.contains("result") && bad.body["result"].is_null()) << bad.describe();
    EXPECT_EQ(bad.error()["code"], -32601) << bad.describe();
    EXPECT_EQ(bad.error()["message"], "Method not found") << bad.describe();
    EXPECT_EQ(bad.member("id"), 8) << bad.describe();
    EXPECT_EQ(bad.body.size(), 4u) << bad.describe();

    auto parse = rpc(port(), "{");
    EXPECT_TRUE(parse.body.contains("result") && parse.body["result"].is_null())
        << parse.describe();
}

TEST_F(DaemonJsonRpc, StrictReplyCarriesExactlyOneOfResultAndError) {
    auto ok = rpc(strict_->port(), call_text("ping", {"rpc.strict", "10.1.0.6", 1}, 7));
    EXPECT_EQ(ok.body, json({{"jsonrpc", "2.0"}, {"result", true}, {"id", 7}})) << ok.describe();

    auto bad = rpc(strict_->port(), call_text("no_such_method", nullptr, 8));
    ASSERT_TRUE(bad.body.is_object()) << bad.describe();
    EXPECT_FALSE(bad.body.contains("result")) << bad.describe();
    EXPECT_EQ(bad.error()["code"], -32601) << bad.describe();
    EXPECT_EQ(bad.member("id"), 8) << bad.describe();

    for (std::string body : {std::string("{"), std::string("[]"),
                             call_text("ping", {"rpc.strict", "10.1.0.6", 0}, 9)}) {
        auto x = rpc(strict_->port(), body);
        ASSERT_TRUE(x.body.is_object()) << x.describe();
        EXPECT_FALSE(x.body.contains("result")) << x.describe();
        EXPECT_TRUE(x.error().is_object()) << x.describe();
    }

    json batch = json::array({json::parse(call_text("locate_service", {"rpc.strict"}, 1)),
                              json::parse(call_text("no_such_method", nullptr, 2))});
    auto both = rpc(strict_->port(), batch.dump());
    ASSERT_TRUE(both.body.is_array() && both.body.size() == 2) << both.describe();
    EXPECT_FALSE(both.body[0].contains("error")) << both.describe();
    EXPECT_FALSE(both.body[1].contains("result")) << both.describe();
}

}  // namespace
}  // namespace servreg::test
