// The command-line client (SPEC section 8) against a running daemon: every subcommand, as a
// table and with --json, the registry URL from the option or the environment, the API token,
// and each exit status (0 success, 1 registry error, 2 bad usage, 3 unreachable).
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using nlohmann::json;

constexpr const char* token = "cl1ent-t0ken";

class DaemonClient : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        daemon_ = std::make_unique<registry_daemon>(std::vector<std::string>{"--api-token", token});
    }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::string url() {
        return "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/api";
    }
    // Runs a subcommand against the daemon, with the token unless `with_token` is false.
    static run_result client(std::vector<std::string> args, bool with_token = true) {
        args.insert(args.begin() + 1, {"--registry", url()});
        if (with_token) args.insert(args.begin() + 1, {"--api-token", token});
        last_args_ = args;
        return run_servreg(args);
    }
    static inline std::unique_ptr<registry_daemon> daemon_;
    static inline std::vector<std::string> last_args_;
};

TEST_F(DaemonClient, PingRegistersAndSaysSo) {
    auto r = client({"ping", "client.ping", "10.40.0.1", "8001"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "pinged client.ping at 10.40.0.1:8001\n") << describe(last_args_, r);
    auto x = call(daemon_->port(), "locate_service", {"client.ping"});
    EXPECT_EQ(x.result(), json::array({{{"host", "10.40.0.1"}, {"port", 8001}}})) << x.describe();
}

TEST_F(DaemonClient, PingJsonPrintsTheResult) {
    auto r = client({"ping", "--json", "client.pingjson", "10.40.0.2", "1"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), true) << describe(last_args_, r);
}

TEST_F(DaemonClient, LocatePrintsATableOfAliveInstances) {
    ASSERT_EQ(client({"ping", "client.loc", "10.40.1.2", "9002"}).status, 0);
    ASSERT_EQ(client({"ping", "client.loc", "10.40.1.1", "9001"}).status, 0);
    auto r = client({"locate", "client.lo?"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out,
              "HOST       PORT\n"
              "10.40.1.1  9001\n"
              "10.40.1.2  9002\n")
        << describe(last_args_, r);

    r = client({"locate", "--json", "client.loc"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false),
              json::parse(R"([{"host":"10.40.1.1","port":9001},{"host":"10.40.1.2","port":9002}])"))
        << describe(last_args_, r);
}

TEST_F(DaemonClient, LocateWithoutMatchSucceedsWithNothingOnStdout) {
    auto r = client({"locate", "client.nothing.*"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "") << describe(last_args_, r);
    EXPECT_NE(r.err.find("no alive instance matches"), std::string::npos)
        << describe(last_args_, r);
    r = client({"locate", "--json", "client.nothing.*"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), json::array()) << describe(last_args_, r);
}

TEST_F(DaemonClient, ListShowsEveryInstanceWithStateAndTimes) {
    ASSERT_EQ(client({"ping", "client.list.a", "10.40.2.1", "1"}).status, 0);
    ASSERT_EQ(client({"ping", "client.list.b", "10.40.2.2", "2"}).status, 0);
    auto r = client({"list", "client.list.*"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    const std::regex table(
        "NAME +HOST +PORT +STATE +FIRST SEEN +LAST SEEN\n"
        "client\\.list\\.a +10\\.40\\.2\\.1 +1 +alive +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d "
        "UTC +\\d+ s ago\n"
        "client\\.list\\.b +10\\.40\\.2\\.2 +2 +alive +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d "
        "UTC +\\d+ s ago\n");
    EXPECT_TRUE(std::regex_match(r.out, table)) << describe(last_args_, r);

    r = client({"list", "--json", "client.list.*"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    auto listed = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(listed.is_array()) << describe(last_args_, r);
    ASSERT_EQ(listed.size(), 2u) << describe(last_args_, r);
    EXPECT_EQ(listed[0]["name"], "client.list.a");
    EXPECT_EQ(listed[0]["alive"], true);
    EXPECT_TRUE(listed[0]["first_seen"].is_string()) << listed.dump();
}

TEST_F(DaemonClient, ListWithoutPatternListsEverything) {
    ASSERT_EQ(client({"ping", "client.all", "10.40.3.1", "1"}).status, 0);
    auto r = client({"list", "--json"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    auto listed = json::parse(r.out, nullptr, false);
    auto everything = call(daemon_->port(), "list_services").result();
    EXPECT_EQ(listed.size(), everything.size()) << describe(last_args_, r);
}

TEST_F(DaemonClient, UnregisterSaysWhetherTheInstanceWasKnown) {
    ASSERT_EQ(client({"ping", "client.unreg", "10.40.4.1", "7"}).status, 0);
    auto r = client({"unregister", "10.40.4.1", "7"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "unregistered 10.40.4.1:7\n") << describe(last_args_, r);
    r = client({"unregister", "10.40.4.1", "7"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "10.40.4.1:7 was not registered\n") << describe(last_args_, r);
    r = client({"unregister", "--json", "10.40.4.1", "7"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), false) << describe(last_args_, r);
}

TEST_F(DaemonClient, RegistryErrorExitsOneWithTheReason) {
    // A name of 300 characters passes the client's usage checks; the registry refuses it.
    auto r = client({"ping", std::string(300, 'n'), "10.40.5.1", "1"});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32602"), std::string::npos) << describe(last_args_, r);
    EXPECT_NE(r.err.find("name"), std::string::npos) << describe(last_args_, r);

    r = client({"ping", "--json", std::string(300, 'n'), "10.40.5.1", "1"});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    auto out = json::parse(r.out, nullptr, false);
    EXPECT_EQ(out["error"]["code"], -32602) << describe(last_args_, r);
}

TEST_F(DaemonClient, MissingOrWrongTokenExitsOneAndWritesNothing) {
    auto r = client({"ping", "client.denied", "10.40.6.1", "1"}, false);
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32001"), std::string::npos) << describe(last_args_, r);
    std::vector<std::string> args{"unregister",  "--registry", url(), "--api-token",
                                  "wrong-token", "10.40.0.1",  "8001"};
    r = run_servreg(args);
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_EQ(r.err.find("wrong-token"), std::string::npos)
        << "the token is not echoed" << describe(args, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.denied"}).result(), json::array());

    // Reads need no token.
    r = client({"list", "client.*"}, false);
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
}

TEST_F(DaemonClient, RegistryAndTokenComeFromTheEnvironment) {
    std::vector<std::string> args{"ping", "client.env", "10.40.7.1", "1"};
    auto r =
        run_servreg(args, {"SERVREG_REGISTRY=" + url(), std::string("SERVREG_API_TOKEN=") + token});
    ASSERT_EQ(r.status, 0) << describe(args, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.env"}).result().size(), 1u);

    // The option wins over the environment.
    args = {"locate", "--registry", url(), "client.env"};
    r = run_servreg(args, {"SERVREG_REGISTRY=http://127.0.0.1:1/api"});
    EXPECT_EQ(r.status, 0) << describe(args, r);
}

TEST_F(DaemonClient, WrongPathOnTheRegistryExitsOne) {
    std::vector<std::string> args{"list", "--registry",
                                  "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/nope"};
    auto r = run_servreg(args);
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << describe(args, r);
}

TEST(Client, BadUsageExitsTwo) {
    const std::vector<std::vector<std::string>> cases{
        {"ping", "only-a-name"},
        {"ping", "a", "b", "70000"},
        {"ping", "a", "b", "1", "extra"},
        {"unregister", "host"},
        {"locate"},
        {"list", "--no-such-option"},
        {"list", "--registry", "ftp://127.0.0.1/api"},
        {"list", "--registry", "https://127.0.0.1/api"},
        {"list", "--registry", "http://127.0.0.1:99999/api"},
        {"list", "--registry", "http:///api"},
        {"list", "--api-token", ""},
    };
    for (const auto& args : cases) {
        auto r = run_servreg(args);
        EXPECT_EQ(r.status, 2) << describe(args, r);
        EXPECT_FALSE(r.err.empty()) << "a usage error says why" << describe(args, r);
        EXPECT_EQ(r.out, "") << describe(args, r);
    }
}

TEST(Client, UnreachableRegistryExitsThree) {
    // A port that was just free: nothing listens there.
    std::uint16_t port = 0;
    {
        registry_daemon daemon;
        port = daemon.port();
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api";
    for (std::vector<std::string> args :
         {std::vector<std::string>{"ping", "--registry", url, "a", "b", "1"},
          std::vector<std::string>{"locate", "--registry", url, "--json", "a"},
          std::vector<std::string>{"list", "--registry", url},
          std::vector<std::string>{"unregister", "--registry", url, "b", "1"},
          std::vector<std::string>{"list", "--registry", "http://no-such-host.invalid:5000/api"}}) {
        auto r = run_servreg(args);
        EXPECT_EQ(r.status, 3) << describe(args, r);
        EXPECT_NE(r.err.find("cannot reach the registry"), std::string::npos) << describe(args, r);
        EXPECT_EQ(r.out, "") << describe(args, r);
    }
}

TEST(Client, SilentServerTimesOutAndExitsThree) {
    // A listener that accepts (through the backlog) but never answers.
    std::optional<idle_socket> silent(std::in_place, true);
    ASSERT_TRUE(silent->bound());
    ASSERT_TRUE(silent->listening());
    const std::string url = "http://127.0.0.1:" + std::to_string(silent->port()) + "/api";
    std::vector<std::string> args{"list", "--registry", url};
    auto start = std::chrono::steady_clock::now();
    auto r = run_servreg(args);
    auto took = std::chrono::steady_clock::now() - start;
    silent.reset();
    EXPECT_EQ(r.status, 3) << describe(args, r);
    EXPECT_NE(r.err.find("timed out"), std::string::npos) << describe(args, r);
    EXPECT_LT(took, std::chrono::seconds(15)) << describe(args, r);
}

TEST(Client, NoSubcommandStaysTheDaemon) {
    registry_daemon daemon;
    auto x = call(daemon.port(), "get_service_specs");
    EXPECT_EQ(x.result()["name"], "servreg") << x.describe();
}

}  // namespace
}  // namespace servreg::test
