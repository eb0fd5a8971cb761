// Black-box tests of the daemon's command line and environment (SPEC section 1): refused
// values, SERVREG_* variables, --version, database errors at start-up, and IPv6.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// A port that nothing listens on right now.
std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t length = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
    ::close(fd);
    return ntohs(addr.sin_port);
}

bool listening(std::uint16_t port) {
    try {
        connection c(port);
        return true;
    } catch (const std::runtime_error&) {
        return false;
    }
}

TEST(DaemonCommandLine, BadValuesExitTwoNamingTheOptionBeforeListening) {
    temp_dir dir;
    const std::uint16_t port = free_port();
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--port=0.0.0.0"}, "--port"},
        {{"--port", "70000"}, "--port"},
        {{"--port", "-1"}, "--port"},
        {{"--port", std::to_string(port), "--ttl", "0"}, "--ttl"},
        {{"--port", std::to_string(port), "--dburl", "oracle+cx_oracle://u:p@h/db"}, "--dburl"},
        {{"--port", std::to_string(port), "--accesslog", "/nonexistent-dir/x.log"}, "--accesslog"},
        {{"--port", std::to_string(port), "--threads", "0"}, "--threads"},
        {{"--port", std::to_string(port), "--db-timeout", "0"}, "--db-timeout"},
        {{"--port", std::to_string(port), "--db-timeout", "2s"}, "--db-timeout"},
        {{"--port", std::to_string(port), "--no-such-option"}, "--no-such-option"},
    };
    for (const auto& [bad, option] : cases) {
        std::vector<std::string> args = bad;
        if (option != "--dburl") args.insert(args.end(), {"--dburl", sqlite_url(dir)});
        auto r = run_servreg(args);
        EXPECT_EQ(r.status, 2) << describe(args, r);
        EXPECT_NE((r.out + r.err).find(option), std::string::npos)
            << "the message must name " << option << describe(args, r);
        EXPECT_EQ((r.out + r.err).find("listening on"), std::string::npos) << describe(args, r);
        EXPECT_FALSE(listening(port)) << describe(args, r);
    }
    EXPECT_FALSE(std::filesystem::exists(dir.file("reg.db")))
        << "nothing may start, not even the database, with a bad option";
}

TEST(DaemonCommandLine, UnknownDatabaseSchemeListsTheSupportedOnes) {
    std::vector<std::string> args = {"--dburl", "oracle+cx_oracle://u:p@h/db"};
    auto r = run_servreg(args);
    EXPECT_EQ(r.status, 2) << describe(args, r);
    for (const char* scheme : {"sqlite", "postgresql", "mysql"}) {
        EXPECT_NE(r.err.find(scheme), std::string::npos) << scheme << describe(args, r);
    }
}

TEST(DaemonCommandLine, VersionExitsZero) {
    auto r = run_servreg({"--version"});
    EXPECT_EQ(r.status, 0) << describe({"--version"}, r);
    EXPECT_NE(r.out.find("servreg"), std::string::npos) << describe({"--version"}, r);
}

TEST(DaemonCommandLine, UnopenableDatabaseExitsOneNamingIt) {
    std::vector<std::string> args = {"--port", "0", "--dburl", "sqlite:////nonexistent-dir/x.db"};
    auto r = run_servreg(args);
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_NE((r.out + r.err).find("/nonexistent-dir/x.db"), std::string::npos)
        << describe(args, r);
    EXPECT_EQ((r.out + r.err).find("listening on"), std::string::npos) << describe(args, r);
}

TEST(DaemonCommandLine, UnreachablePostgresqlExitsOneWithoutShowingThePassword) {
    for (std::string url : {"postgresql://u:s3cretpw@127.0.0.1:1/servreg_pwtest",
                            "postgresql+psycopg2://u:s3cret%21pw@127.0.0.1:1/servreg_pwtest"}) {
        std::vector<std::string> args = {"--port", "0", "--dburl", url};
        auto r = run_servreg(args);
        std::string output = r.out + r.err;
        EXPECT_EQ(r.status, 1) << describe(args, r);
        EXPECT_NE(output.find("servreg_pwtest"), std::string::npos)
            << "the message must name the database" << describe(args, r);
        for (const char* secret : {"s3cretpw", "s3cret!pw", "s3cret%21pw"}) {
            EXPECT_EQ(output.find(secret), std::string::npos)
                << "the password appears in the output" << describe(args, r);
        }
    }
}

TEST(DaemonCommandLine, PortFromTheEnvironmentIsHonouredAndTheCommandLineWins) {
    const std::uint16_t from_env = free_port();
    {
        registry_daemon daemon({}, {"SERVREG_PORT=" + std::to_string(from_env)});
        EXPECT_EQ(daemon.port(), from_env) << daemon.process().log();
        auto x = call(daemon.port(), "locate_service", {"x"});
        EXPECT_EQ(x.result(), json::array()) << x.describe();
    }
    const std::uint16_t from_args = free_port();
    registry_daemon daemon({"--port", std::to_string(from_args)},
                           {"SERVREG_PORT=" + std::to_string(from_env)});
    EXPECT_EQ(daemon.port(), from_args) << daemon.process().log();
}

TEST(DaemonCommandLine, TtlFromTheEnvironmentIsHonouredAndTheCommandLineWins) {
    registry_daemon from_env({}, {"SERVREG_TTL=1"});
    registry_daemon from_args({"--ttl", "60"}, {"SERVREG_TTL=1"});
    ASSERT_EQ(call(from_env.port(), "ping", {"env.ttl", "10.11.0.1", 1}).result(), true);
    ASSERT_EQ(call(from_args.port(), "ping", {"env.ttl", "10.11.0.1", 1}).result(), true);
    std::this_thread::sleep_for(1300ms);
    auto expired = call(from_env.port(), "locate_service", {"env.ttl"});
    EXPECT_EQ(expired.result(), json::array())
        << "SERVREG_TTL=1, 1.3 s later" << expired.describe();
    auto alive = call(from_args.port(), "locate_service", {"env.ttl"});
    EXPECT_EQ(alive.result().size(), 1u)
        << "SERVREG_TTL=1 --ttl 60, 1.3 s later" << alive.describe();

    temp_dir dir;
    std::vector<std::string> args = {"--port", "0", "--dburl", sqlite_url(dir)};
    auto r = run_servreg(args, {"SERVREG_TTL=0"});
    EXPECT_EQ(r.status, 2) << "SERVREG_TTL=0" << describe(args, r);
    EXPECT_NE(r.err.find("SERVREG_TTL"), std::string::npos) << describe(args, r);
}

bool has_ipv6_loopback() {
    int fd = ::socket(AF_INET6, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in6 addr{};
    addr.sin6_family = AF_INET6;
    addr.sin6_addr = in6addr_loopback;
    bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    ::close(fd);
    return ok;
}

TEST(DaemonCommandLine, ListensOnIpv6Loopback) {
    if (!has_ipv6_loopback()) GTEST_SKIP() << "this machine has no IPv6 loopback";
    registry_daemon daemon({"--host", "::1"});
    const std::string url = "http://[::1]:" + std::to_string(daemon.port()) + "/api";
    EXPECT_NE(daemon.process().log().find("listening on " + url), std::string::npos)
        << daemon.process().log();

    std::string body = call_text("ping", {"v6.svc", "::1", 8000});
    connection c(daemon.port(), 5s, "::1");
    ASSERT_TRUE(c.send(post_request(body)));
    auto r = c.read_reply();
    ASSERT_TRUE(r) << "no reply over IPv6 to " << body;
    EXPECT_EQ(r->status, 200) << r->status_line << " " << r->body;
    auto reply = json::parse(r->body, nullptr, false);
    EXPECT_TRUE(reply.is_object() && reply["result"] == true) << r->body;

    body = call_text("get_service_specs", nullptr);
    ASSERT_TRUE(c.send(post_request(body)));
    r = c.read_reply();
    ASSERT_TRUE(r) << body;
    auto specs = json::parse(r->body, nullptr, false);
    ASSERT_TRUE(specs.is_object() && specs.contains("result")) << r->body;
    EXPECT_EQ(specs["result"]["host"], "::1") << r->body;
    EXPECT_EQ(specs["result"]["port"], daemon.port()) << r->body;
}

// Threads carry names for top -H and ps -L (docs/operations.md): the I/O threads, the writer,
// and on an SQLite file, from the first write on, the checkpoint thread.
TEST(DaemonCommandLine, ThreadsAreNamedForTopAndPs) {
    registry_daemon daemon({"--threads", "2"});
    auto pinged = call(daemon.port(), "ping", {{"name", "svc"}, {"host", "h"}, {"port", 1}});
    ASSERT_EQ(pinged.body["result"], true) << pinged.describe();
    const auto names = [&] {
        std::multiset<std::string> out;
        const std::string tasks = "/proc/" + std::to_string(daemon.process().pid()) + "/task";
        for (const auto& task : std::filesystem::directory_iterator(tasks)) {
            std::ifstream comm(task.path() / "comm");
            std::string name;
            std::getline(comm, name);
            out.insert(name);
        }
        return out;
    };
    std::multiset<std::string> seen;
    for (int i = 0; i < 50 && !seen.contains("servreg-ckpt"); ++i) {
        seen = names();
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    std::string listed;
    for (const auto& n : seen) listed += n + " ";
    for (const char* want :
         {"servreg-io-0", "servreg-io-1", "servreg-writer", "servreg-ckpt", "servreg-watch"}) {
        EXPECT_EQ(seen.count(want), 1u) << want << " among the threads: " << listed;
    }
}

}  // namespace
}  // namespace servreg::test
