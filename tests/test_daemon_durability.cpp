// Black-box tests of durability and concurrency (SPEC sections 4, 5 and 6): restarts after
// SIGTERM and kill -9, concurrent first pings, SIGTERM with requests in flight, and a second
// process refused on an SQLite file that one already serves.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<std::string> args_for(const temp_dir& dir) {
    return {"--dburl", sqlite_url(dir)};
}

// The endpoints that list_services reports for `pattern`, as "host:port".
std::set<std::string> listed(std::uint16_t port, const std::string& pattern) {
    auto x = call(port, "list_services", {pattern});
    EXPECT_TRUE(x.result().is_array()) << x.describe();
    std::set<std::string> out;
    for (const auto& item : x.result()) {
        out.insert(item["host"].get<std::string>() + ":" + std::to_string(item["port"].get<int>()));
    }
    return out;
}

TEST(DaemonDurability, RestartAfterSigtermKeepsTheRegistry) {
    temp_dir dir;
    json before;
    {
        daemon_process first(args_for(dir));
        auto x = call(first.port(), "ping", {"d.restart", "10.5.0.1", 7000});
        ASSERT_EQ(x.result(), true) << x.describe();
        before = call(first.port(), "list_services", {"d.restart"}).result();
        auto start = std::chrono::steady_clock::now();
        first.signal(SIGTERM);
        EXPECT_EQ(first.wait(5s), 0) << "SIGTERM must exit 0 within 5 s\n" << first.log();
        EXPECT_LT(std::chrono::steady_clock::now() - start, 5s);
    }
    daemon_process second(args_for(dir));
    auto x = call(second.port(), "locate_service", {"d.restart"});
    EXPECT_EQ(x.result(), json::array({{{"host", "10.5.0.1"}, {"port", 7000}}}))
        << "after a restart on the same database" << x.describe();
    auto after = call(second.port(), "list_services", {"d.restart"});
    EXPECT_EQ(after.result(), before) << "first_seen and last_seen survive" << after.describe();
}

TEST(DaemonDurability, KillNineLosesNoAnsweredPing) {
    temp_dir dir;
    constexpr int threads = 20, per_thread = 10;
    std::set<std::string> expected;
    {
        daemon_process first(args_for(dir));
        std::atomic<int> answered{0};
        std::mutex failures_mutex;
        std::vector<std::string> failures;
        std::vector<std::thread> pool;
        for (int t = 0; t < threads; ++t) {
            pool.emplace_back([&, t] {
                connection c(first.port());
                for (int i = 0; i < per_thread; ++i) {
                    std::string body =
                        call_text("ping", {"d.kill9", "10.6.0." + std::to_string(t), 1000 + i}, i);
                    c.send(post_request(body));
                    auto r = c.read_reply();
                    auto reply = r ? json::parse(r->body, nullptr, false) : json();
                    if (reply.is_object() && reply.contains("result") && reply["result"] == true) {
                        ++answered;
                    } else {
                        std::lock_guard lock(failures_mutex);
                        failures.push_back(body + " -> " +
                                           (r ? r->status_line + " " + r->body : "no reply"));
                    }
                }
            });
        }
        for (auto& th : pool) th.join();
        for (const auto& f : failures) ADD_FAILURE() << f;
        ASSERT_EQ(answered, threads * per_thread);
        for (int t = 0; t < threads; ++t) {
            for (int i = 0; i < per_thread; ++i) {
                expected.insert("10.6.0." + std::to_string(t) + ":" + std::to_string(1000 + i));
            }
        }
        // Notifications answered 204 and an answered unregister are as durable.
        for (int i = 0; i < 10; ++i) {
            json note = {
                {"jsonrpc", "2.0"}, {"method", "ping"}, {"params", {"d.kill9", "10.6.1.1", 1 + i}}};
            auto x = rpc(first.port(), note.dump());
            ASSERT_EQ(x.reply.status, 204) << x.describe();
            expected.insert("10.6.1.1:" + std::to_string(1 + i));
        }
        auto x = call(first.port(), "unregister", {"10.6.0.0", 1000});
        ASSERT_EQ(x.result(), true) << x.describe();
        expected.erase("10.6.0.0:1000");
        first.signal(SIGKILL);
        EXPECT_EQ(first.wait(5s), 128 + SIGKILL);
    }
    daemon_process second(args_for(dir));
    auto found = listed(second.port(), "d.kill9");
    EXPECT_EQ(found.size(), expected.size()) << "answered pings lost by kill -9";
    EXPECT_EQ(found, expected);
}

// An SQLite file belongs to one process: a second one would never see the first one's writes
// and would empty heartbeat journal tables that the first still counts on.
TEST(DaemonDurability, ASecondServregOnTheSameSqliteFileExitsOneAndTheFirstServesOn) {
    temp_dir dir;
    daemon_process first(args_for(dir));
    auto x = call(first.port(), "ping", {"d.owned", "10.7.0.1", 7000});
    ASSERT_EQ(x.result(), true) << x.describe();

    std::vector<std::string> args = args_for(dir);
    args.insert(args.end(), {"--port", "0"});
    auto r = run_servreg(args);
    const std::string output = r.out + r.err;
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_NE(output.find(dir.file("reg.db")), std::string::npos)
        << "the message must name the file" << describe(args, r);
    EXPECT_NE(output.find("in use by another process"), std::string::npos) << describe(args, r);
    EXPECT_EQ(output.find("listening on"), std::string::npos) << describe(args, r);

    x = call(first.port(), "ping", {"d.owned", "10.7.0.2", 7000});
    EXPECT_EQ(x.result(), true) << "the first goes on writing" << x.describe();
    first.signal(SIGTERM);
    ASSERT_EQ(first.wait(5s), 0) << first.log();

    // The claim goes with the process: the next one starts and serves both pings.
    daemon_process second(args_for(dir));
    EXPECT_EQ(listed(second.port(), "d.owned"),
              (std::set<std::string>{"10.7.0.1:7000", "10.7.0.2:7000"}));
}

TEST(DaemonDurability, FiftyConcurrentFirstPingsOfOneEndpointAllSucceed) {
    registry_daemon daemon;
    constexpr int clients = 50;
    // Connected and accepted beforehand, so that the pings really arrive together.
    std::vector<std::unique_ptr<connection>> conns;
    for (int i = 0; i < clients; ++i) {
        conns.push_back(std::make_unique<connection>(daemon.port()));
        conns.back()->send(post_request(call_text("get_service_specs", nullptr)));
        ASSERT_TRUE(conns.back()->read_reply());
    }
    std::latch go(clients);
    std::vector<std::string> replies(clients);
    std::vector<std::thread> pool;
    for (int i = 0; i < clients; ++i) {
        pool.emplace_back([&, i] {
            std::string body = call_text("ping", {"d.race", "10.7.0.1", 9000}, i);
            go.arrive_and_wait();
            conns[i]->send(post_request(body));
            auto r = conns[i]->read_reply();
            replies[i] = r ? r->body : "no reply";
        });
    }
    for (auto& th : pool) th.join();
    for (int i = 0; i < clients; ++i) {
        auto reply = json::parse(replies[i], nullptr, false);
        EXPECT_TRUE(reply.is_object() && reply["result"] == true && reply["error"].is_null())
            << "concurrent first ping #" << i << " -> " << replies[i];
    }
    auto x = call(daemon.port(), "list_services", {"d.race"});
    EXPECT_EQ(x.result().size(), 1u) << x.describe();
}

TEST(DaemonDurability, SigtermWithFiftyPingsInFlightExitsCleanlyAndKeepsEveryAnsweredPing) {
    temp_dir dir;
    constexpr int clients = 50;
    std::vector<std::string> replies(clients);
    int answered = 0;
    {
        daemon_process first(args_for(dir));
        std::vector<std::unique_ptr<connection>> conns;
        for (int i = 0; i < clients; ++i) {
            conns.push_back(std::make_unique<connection>(first.port()));
            conns.back()->send(post_request(call_text("get_service_specs", nullptr)));
            ASSERT_TRUE(conns.back()->read_reply());
        }
        std::latch sent(clients);
        std::vector<std::thread> pool;
        for (int i = 0; i < clients; ++i) {
            pool.emplace_back([&, i] {
                conns[i]->send(post_request(call_text("ping", {"d.term", "10.8.0.1", 100 + i}, i)));
                sent.count_down();
                auto r = conns[i]->read_reply();
                replies[i] = r ? r->body : "";
            });
        }
        sent.wait();
        auto start = std::chrono::steady_clock::now();
        first.signal(SIGTERM);
        int status = first.wait(5s);
        auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
        for (auto& th : pool) th.join();
        EXPECT_EQ(status, 0) << "exit status after SIGTERM (after " << took.count() << " ms)\n"
                             << first.log();
        EXPECT_LT(took, 5s);
    }
    std::set<std::string> expected;
    for (int i = 0; i < clients; ++i) {
        if (replies[i].empty()) continue;
        auto reply = json::parse(replies[i], nullptr, false);
        EXPECT_TRUE(reply.is_object() && reply["result"] == true)
            << "ping #" << i << " -> " << replies[i];
        expected.insert("10.8.0.1:" + std::to_string(100 + i));
        ++answered;
    }
    std::cout << "[          ] " << answered << " of " << clients
              << " pings in flight were answered\n";
    daemon_process second(args_for(dir));
    auto found = listed(second.port(), "d.term");
    for (const auto& e : expected) {
        EXPECT_TRUE(found.count(e))
            << e << " was answered before SIGTERM but is not in the database";
    }
}

TEST(DaemonDurability, SigtermWithStalledClientsStillExitsZeroWithinFiveSeconds) {
    registry_daemon daemon;
    // An idle keep-alive connection, one stuck in its headers, one stuck in its body.
    connection idle(daemon.port());
    ASSERT_TRUE(idle.send(post_request(call_text("get_service_specs", nullptr))));
    ASSERT_TRUE(idle.read_reply());
    connection headers(daemon.port());
    ASSERT_TRUE(headers.send("POST /api HTTP/1.1\r\nHost: x\r\n"));
    connection body(daemon.port());
    ASSERT_TRUE(
        body.send("POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  "Content-Length: 100\r\n\r\n{\"jsonrpc\""));
    std::this_thread::sleep_for(200ms);  // let the daemon read what was sent
    auto start = std::chrono::steady_clock::now();
    daemon.process().signal(SIGTERM);
    int status = daemon.process().wait(6s);
    auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    EXPECT_EQ(status, 0) << "after " << took.count() << " ms\n" << daemon.process().log();
    EXPECT_LT(took, 5s) << daemon.process().log();
}

}  // namespace
}  // namespace servreg::test
