// Running out of file descriptors (SPEC section 2): with `ulimit -n` low and many connections,
// servreg refuses new connections without dying, keeps serving the open ones, and serves new
// ones again as soon as descriptors are free. And 10,000 watch_service calls waiting at once
// (SPEC 4.2): the daemon keeps serving, one change wakes them all, SIGTERM answers them.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
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

// The call a watcher of `pattern` sends: index 0 learns the current index, any other holds.
std::string watch_request(std::int64_t index, int id) {
    return post_request(call_text(
        "watch_service", json{{"name", "watch.svc.*"}, {"index", index}, {"wait", 600}}, id));
}

// Reads the answer of every watcher; each must be {"index", "instances"} with `instance`
// among the instances. Returns the indexes seen; fails the test with the first bad answer.
std::set<std::int64_t> read_watch_answers(std::vector<std::unique_ptr<connection>>& watchers,
                                          const json& instance, std::size_t instances) {
    std::set<std::int64_t> indexes;
    for (std::size_t i = 0; i < watchers.size(); ++i) {
        auto r = watchers[i]->read_reply();
        const auto body = r ? json::parse(r->body, nullptr, false) : json();
        const auto result = body.is_object() ? body.value("result", json()) : json();
        const bool right =
            r && r->status == 200 && result.is_object() &&
            result.value("index", json()).is_number_integer() &&
            result.value("instances", json()).is_array() &&
            result["instances"].size() == instances &&
            std::count(result["instances"].begin(), result["instances"].end(), instance) == 1;
        if (!right) {
            ADD_FAILURE() << "watcher " << i << " of " << watchers.size() << ": expected "
                          << instances << " instances with " << instance.dump() << ", got "
                          << (r ? r->status_line + " " + r->body.substr(0, 600) : "no answer");
            return indexes;
        }
        indexes.insert(result["index"].get<std::int64_t>());
    }
    return indexes;
}

// True when the daemon has read everything sent on `count` connections to `port` or more
// (/proc/net/tcp: established, rx_queue 0). A call still unread when SIGTERM comes is not one
// "in flight", and a watcher's call must be with the daemon before a change is to wake it.
bool all_read_by_daemon(std::uint16_t port, int count) {
    char local_port[8];
    std::snprintf(local_port, sizeof local_port, ":%04X", port);
    std::ifstream in("/proc/net/tcp");
    std::string line;
    std::getline(in, line);  // the column names
    int established = 0;
    while (std::getline(in, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues;
        fields >> slot >> local >> remote >> state >> queues;
        if (!local.ends_with(local_port) || state != "01") continue;
        if (queues.substr(queues.find(':') + 1) != "00000000") return false;
        ++established;
    }
    return established >= count;
}

// True when none of the watchers has anything to read within `limit`: their calls are held.
bool all_held(const std::vector<std::unique_ptr<connection>>& watchers,
              std::chrono::milliseconds limit) {
    std::vector<pollfd> fds;
    for (const auto& w : watchers) fds.push_back({w->fd(), POLLIN, 0});
    return ::poll(fds.data(), static_cast<nfds_t>(fds.size()), static_cast<int>(limit.count())) ==
           0;
}

TEST(FaultsConnections, TenThousandWaitingWatchersLeaveTheDaemonServingWakeTogetherAndEndOnStop) {
    constexpr int watcher_count = 10'000;
    // Both processes need a descriptor per watcher and some to spare.
    if (raise_fd_limit(watcher_count + 1000) < watcher_count + 1000) {
        GTEST_SKIP() << "the hard limit on descriptors (ulimit -Hn) is below "
                     << watcher_count + 1000;
    }
    temp_dir dir;  // inherits the new limit:
    daemon_process daemon(
        {"--dburl", sqlite_url(dir), "--max-connections", std::to_string(watcher_count + 100)});
    const auto port = daemon.port();
    ASSERT_EQ(call(port, "ping", {"watch.svc.a", "10.8.0.1", 1}).result(), true);
    ASSERT_EQ(call(port, "ping", {"watch.svc.b", "10.8.0.2", 1}).result(), true);
    const json a = {{"host", "10.8.0.1"}, {"port", 1}};

    // Each watcher learns the index with index 0, then holds its call with it.
    const auto opening = steady::now();
    std::vector<std::unique_ptr<connection>> watchers;
    watchers.reserve(watcher_count);
    for (int i = 0; i < watcher_count; ++i) {
        watchers.push_back(std::make_unique<connection>(port));
        ASSERT_TRUE(watchers.back()->send(watch_request(0, i))) << "watcher " << i;
    }
    const auto first = read_watch_answers(watchers, a, 2);
    ASSERT_EQ(first.size(), 1U) << "one answer, one index, for every watcher";
    const auto index = *first.begin();
    for (int i = 0; i < watcher_count; ++i) {
        ASSERT_TRUE(watchers[i]->send(watch_request(index, i))) << "watcher " << i;
    }
    ASSERT_TRUE(
        eventually([&] { return all_read_by_daemon(port, watcher_count); }, 10s * sanitizer_slack))
        << "the daemon reads the calls of " << watcher_count << " watchers";
    std::cout
        << "[          ] " << watcher_count << " watchers waiting after "
        << std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - opening).count()
        << " ms" << std::endl;

    // The daemon serves others meanwhile; a heartbeat and a ping of another service change
    // nothing watched, so every call stays held.
    for (int i = 0; i < 20; ++i) {
        const auto start = steady::now();
        auto ping = call(port, "ping", {"other.svc", "10.8.1.1", 1 + i});
        EXPECT_EQ(ping.result(), true) << ping.describe();
        auto heartbeat = call(port, "ping", {"watch.svc.a", "10.8.0.1", 1});
        EXPECT_EQ(heartbeat.result(), true) << heartbeat.describe();
        auto found = call(port, "locate_service", {"watch.svc.*"});
        EXPECT_EQ(found.result(), json::array({a, {{"host", "10.8.0.2"}, {"port", 1}}}))
            << found.describe();
        EXPECT_LT(steady::now() - start, 5s * sanitizer_slack)
            << "three calls with " << watcher_count << " watchers waiting";
    }
    EXPECT_TRUE(all_held(watchers, 200ms)) << "calls held with an unchanged answer must stay held\n"
                                           << daemon.log();

    // One new instance of the pattern wakes every watcher with it and one new index.
    const json c = {{"host", "10.8.0.3"}, {"port", 1}};
    const auto change = steady::now();
    ASSERT_EQ(call(port, "ping", {"watch.svc.c", "10.8.0.3", 1}).result(), true);
    const auto woken = read_watch_answers(watchers, c, 3);
    const auto wake_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - change).count();
    std::cout << "[          ] all " << watcher_count << " answers read " << wake_ms
              << " ms after the change" << std::endl;
    ASSERT_EQ(woken.size(), 1U) << "one change, one new index for every watcher";
    const auto changed = *woken.begin();
    EXPECT_NE(changed, index) << "the index changes with the answer";

    // Held again with the new index, SIGTERM answers them all at once with the current answer.
    for (int i = 0; i < watcher_count; ++i) {
        ASSERT_TRUE(watchers[i]->send(watch_request(changed, i))) << "watcher " << i;
    }
    ASSERT_TRUE(
        eventually([&] { return all_read_by_daemon(port, watcher_count); }, 10s * sanitizer_slack))
        << "the daemon reads the calls of " << watcher_count << " watchers";
    EXPECT_TRUE(all_held(watchers, 200ms)) << "held with the new index" << daemon.log();
    for (auto& w : watchers) w->set_timeout(5s * sanitizer_slack);
    const auto stop = steady::now();
    daemon.signal(SIGTERM);
    const auto at_stop = read_watch_answers(watchers, c, 3);
    const auto answered = steady::now() - stop;
    EXPECT_EQ(at_stop, std::set<std::int64_t>{changed}) << "the current answer and its index";
    EXPECT_LT(answered, 5s * sanitizer_slack) << "waiting calls are answered at once on SIGTERM";
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(5s * sanitizer_slack -
                                                                            (steady::now() - stop));
    const int status = daemon.wait(std::max(left, 1ms));
    EXPECT_EQ(status, 0) << "SIGTERM with " << watcher_count
                         << " calls waiting: exit 0 within 5 s\n"
                         << daemon.log();
}

}  // namespace
}  // namespace servreg::test
