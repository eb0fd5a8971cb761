// Black-box tests of --api-token (SPEC sections 1, 3 and 4.1): writes (drain and undrain too) need
// the X-Api-Token header, reads do not, and an unauthenticated notification is dropped.
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "utils.h"

namespace servreg::test {
namespace {

using nlohmann::json;

constexpr const char* right_token = "X-Api-Token: t0ken-42\r\n";

class DaemonApiToken : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        daemon_ =
            std::make_unique<registry_daemon>(std::vector<std::string>{"--api-token", "t0ken-42"});
    }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }

    static json listed(const std::string& pattern) {
        auto x = call(port(), "list_services", {pattern});
        EXPECT_TRUE(x.result().is_array()) << x.describe();
        return x.result();
    }
    static void expect_denied(const rpc_exchange& x) {
        EXPECT_EQ(x.reply.status, 200) << x.describe();
        EXPECT_EQ(x.error()["code"], -32001) << x.describe();
        EXPECT_TRUE(x.result().is_null()) << x.describe();
    }

    static inline std::unique_ptr<registry_daemon> daemon_;
};

TEST_F(DaemonApiToken, PingWithoutTheHeaderIsDeniedAndNotWritten) {
    expect_denied(call(port(), "ping", {"auth.none", "10.10.0.1", 1}));
    EXPECT_EQ(listed("auth.none"), json::array());
}

TEST_F(DaemonApiToken, PingWithTheRightHeaderIsTrue) {
    auto x = call(port(), "ping", {"auth.ok", "10.10.0.2", 1}, right_token);
    EXPECT_EQ(x.result(), true) << x.describe();
    EXPECT_EQ(listed("auth.ok").size(), 1u);
}

TEST_F(DaemonApiToken, PingWithAWrongHeaderIsDeniedAndNotWritten) {
    for (std::string header :
         {"X-Api-Token: t0ken-43\r\n", "X-Api-Token: t0ken-4\r\n", "X-Api-Token: t0ken-420\r\n",
          "X-Api-Token: \r\n", "X-Api-Token: T0KEN-42\r\n"}) {
        SCOPED_TRACE("header=" + header);
        expect_denied(call(port(), "ping", {"auth.wrong", "10.10.0.3", 1}, header));
    }
    EXPECT_EQ(listed("auth.wrong"), json::array());
}

TEST_F(DaemonApiToken, UnregisterNeedsTheHeaderToo) {
    ASSERT_EQ(call(port(), "ping", {"auth.unreg", "10.10.0.4", 1}, right_token).result(), true);
    expect_denied(call(port(), "unregister", {"10.10.0.4", 1}));
    EXPECT_EQ(listed("auth.unreg").size(), 1u) << "a denied unregister must not remove";
    auto x = call(port(), "unregister", {"10.10.0.4", 1}, right_token);
    EXPECT_EQ(x.result(), true) << x.describe();
}

TEST_F(DaemonApiToken, DrainAndUndrainNeedTheHeaderToo) {
    const json at = "http://10.10.0.7:1/api";
    ASSERT_EQ(call(port(), "ping", {"auth.drain", at}, right_token).result(), true);
    expect_denied(call(port(), "drain", json::array({at})));
    EXPECT_EQ(listed("auth.drain").at(0)["state"], "alive") << "a denied drain must not drain";
    auto x = call(port(), "drain", {{"url", at}}, right_token);
    EXPECT_EQ(x.result(), true) << x.describe();
    expect_denied(call(port(), "undrain", {"10.10.0.7", 1}));
    EXPECT_EQ(listed("auth.drain").at(0)["state"], "draining")
        << "a denied undrain must not undrain";
    x = call(port(), "undrain", {"10.10.0.7", 1}, right_token);
    EXPECT_EQ(x.result(), true) << x.describe();
    EXPECT_EQ(listed("auth.drain").at(0)["state"], "alive");
}

TEST_F(DaemonApiToken, ReadsWorkWithoutTheHeader) {
    ASSERT_EQ(call(port(), "ping", {"auth.read", "10.10.0.5", 1}, right_token).result(), true);
    auto x = call(port(), "locate_service", {"auth.read"});
    EXPECT_EQ(x.result(), json::array({{{"host", "10.10.0.5"}, {"port", 1}}})) << x.describe();
    x = call(port(), "get_service_specs");
    EXPECT_TRUE(x.result().is_object()) << x.describe();
    EXPECT_EQ(listed("auth.read").size(), 1u);
}

TEST_F(DaemonApiToken, UnauthenticatedNotificationIs204AndWritesNothing) {
    auto x =
        rpc(port(), R"({"jsonrpc":"2.0","method":"ping","params":["auth.note","10.10.0.6",1]})");
    EXPECT_EQ(x.reply.status, 204) << x.describe();
    x = rpc(port(), R"([{"jsonrpc":"2.0","method":"ping","params":["auth.note","10.10.0.6",2]}])");
    EXPECT_EQ(x.reply.status, 204) << x.describe();
    EXPECT_EQ(listed("auth.note"), json::array());

    x = rpc(port(), R"({"jsonrpc":"2.0","method":"ping","params":["auth.note","10.10.0.6",3]})",
            right_token);
    EXPECT_EQ(x.reply.status, 204) << x.describe();
    EXPECT_EQ(listed("auth.note").size(), 1u) << "an authenticated notification is written";
}

}  // namespace
}  // namespace servreg::test
