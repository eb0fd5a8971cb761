// Running out of file descriptors (SPEC section 2): with `ulimit -n` low and many connections,
// servreg refuses new connections without dying, keeps serving the open ones, and serves new
// ones again as soon as descriptors are free.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

// True when the server closed `c` (EOF or reset) within `limit`, without sending anything.
bool closed_unanswered(connection& c, std::chrono::milliseconds limit) {
    pollfd p{c.fd(), POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
    char byte;
    return ::recv(c.fd(), &byte, 1, MSG_DONTWAIT) <= 0;
}

TEST(FaultsConnections, OutOfDescriptorsRefusesNewConnectionsServesOpenOnesAndRecovers) {
    temp_dir dir;
    daemon_process daemon({"--dburl", sqlite_url(dir)});
    const auto port = daemon.port();

    // A client connected before the shortage, which must keep being served through it.
    connection early(port);
    ASSERT_TRUE(early.send(post_request(call_text("ping", {"fd.early", "10.7.0.1", 1}))));
    auto first = early.read_reply();
    ASSERT_TRUE(first && first->body.find("\"result\":true") != std::string::npos);

    // `ulimit -n 64` on the running daemon: a few dozen connections at most. A descriptor it
    // already holds above the limit stays (the limit binds new ones).
    constexpr rlim_t limit = 64;
    int above_limit = 0;
    for (const auto& fd :
         std::filesystem::directory_iterator("/proc/" + std::to_string(daemon.pid()) + "/fd")) {
        above_limit += std::stoi(fd.path().filename().string()) >= static_cast<int>(limit);
    }
    rlimit old{};
    ASSERT_EQ(::prlimit(daemon.pid(), RLIMIT_NOFILE, nullptr, &old), 0);
    rlimit low{limit, old.rlim_max};
    ASSERT_EQ(::prlimit(daemon.pid(), RLIMIT_NOFILE, &low, nullptr), 0) << std::strerror(errno);

    // Far more connections than descriptors. The kernel completes each handshake on its own;
    // the daemon then accepts what it can and must close the rest at once.
    constexpr int flood_size = 300;
    std::vector<std::unique_ptr<connection>> flood;
    for (int i = 0; i < flood_size; ++i) {
        flood.push_back(std::make_unique<connection>(port, 5s));
    }
    std::this_thread::sleep_for(500ms);

    EXPECT_EQ(daemon.wait(0ms), -1) << "servreg died out of descriptors\n" << daemon.log();
    EXPECT_LE(open_fds(daemon.pid()), static_cast<int>(limit) + above_limit);
    // Those it could not take are closed without an answer, and promptly.
    int closed = 0;
    const auto deadline = steady::now() + 3s * sanitizer_slack;
    for (auto& c : flood) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (closed_unanswered(*c, std::max(left, 1ms))) ++closed;
    }
    EXPECT_GE(closed, flood_size - static_cast<int>(limit))
        << "connections beyond the descriptors must be closed at once";
    EXPECT_NE(daemon.log().find("out of file descriptors"), std::string::npos) << daemon.log();

    // The connection opened before is still served, writes included.
    ASSERT_TRUE(early.send(post_request(call_text("ping", {"fd.early", "10.7.0.1", 2}))));
    auto during = early.read_reply();
    EXPECT_TRUE(during && during->body.find("\"result\":true") != std::string::npos)
        << "an open connection must be served while descriptors are short: "
        << (during ? during->body : "no reply");

    // Once the flood is gone, new connections are served again.
    flood.clear();
    const auto recovery = steady::now() + 5s * sanitizer_slack;
    bool served = false;
    while (!served && steady::now() < recovery) {
        try {
            served = call(port, "ping", {"fd.after", "10.7.0.2", 1}).result() == true;
        } catch (const std::exception&) {
        }
        if (!served) std::this_thread::sleep_for(100ms);
    }
    EXPECT_TRUE(served) << "servreg must recover when connections close\n" << daemon.log();
    EXPECT_EQ(listed_endpoints(port, "fd.*"),
              (std::set<std::string>{"10.7.0.1:1", "10.7.0.1:2", "10.7.0.2:1"}));
}

TEST(FaultsConnections, MaxConnectionsClosesTheExtraOnesAtOnceAndServesTheOthers) {
    registry_daemon daemon({"--max-connections", "20"});
    const auto port = daemon.port();
    std::vector<std::unique_ptr<connection>> open;
    for (int i = 0; i < 20; ++i) open.push_back(std::make_unique<connection>(port));
    // Every one of them is a real, served connection.
    for (auto& c : open) {
        ASSERT_TRUE(c->send(post_request(call_text("get_service_specs", nullptr))));
        ASSERT_TRUE(c->read_reply());
    }
    std::vector<std::unique_ptr<connection>> extra;
    for (int i = 0; i < 50; ++i) extra.push_back(std::make_unique<connection>(port));
    for (auto& c : extra) {
        EXPECT_TRUE(closed_unanswered(*c, 2s * sanitizer_slack))
            << "a connection over --max-connections must be closed at once";
    }
    for (auto& c : open) {
        ASSERT_TRUE(c->send(post_request(call_text("locate_service", {"*"}))));
        auto r = c->read_reply();
        EXPECT_TRUE(r && r->status == 200) << "open connections are served at the limit";
    }
    open.resize(10);
    std::this_thread::sleep_for(200ms);
    auto x = call(port, "get_service_specs");
    EXPECT_TRUE(x.result().is_object()) << "served again below the limit" << x.describe();
}

}  // namespace
}  // namespace servreg::test
