// SIGTERM in the middle of 200 pings in flight (SPEC sections 5 and 6): servreg exits 0 within
// 5 seconds, every ping it answered true is on disk after a restart, and none it refused is.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "faults.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

TEST(FaultsShutdown, SigtermAmongTwoHundredPingsInFlightKeepsEveryAnsweredOne) {
    temp_dir dir;
    constexpr int clients = 200;
    std::vector<std::string> answered, refused;
    int unanswered = 0;
    {
        daemon_process daemon({"--dburl", sqlite_url(dir)});
        // Connections first, each used once: the signal finds them open, not still connecting.
        std::vector<std::unique_ptr<connection>> conns;
        for (int i = 0; i < clients; ++i) {
            conns.push_back(std::make_unique<connection>(daemon.port()));
            ASSERT_TRUE(conns.back()->send(post_request(call_text("get_service_specs", nullptr))));
            ASSERT_TRUE(conns.back()->read_reply()) << "connection " << i;
        }
        // Half the pings go out before the signal, half after it.
        steady::time_point signalled;
        for (int i = 0; i < clients; ++i) {
            if (i == clients / 2) {
                daemon.signal(SIGTERM);
                signalled = steady::now();
            }
            conns[i]->send(post_request(call_text("ping", {"term.flight", "10.9.0.1", 1 + i}, i)));
        }
        for (int i = 0; i < clients; ++i) {
            const std::string e = "10.9.0.1:" + std::to_string(1 + i);
            auto r = conns[i]->read_reply();
            if (!r) {
                ++unanswered;  // closed before its request was read: never in flight
                continue;
            }
            auto body = json::parse(r->body, nullptr, false);
            if (r->status == 200 && body.is_object() && body["result"] == true) {
                answered.push_back(e);
            } else if (r->status == 200 && body.is_object() && body["error"].is_object() &&
                       body["error"]["code"] == -32000) {
                refused.push_back(e);
            } else {
                ADD_FAILURE() << "ping " << i << ": " << r->status_line << " " << r->body;
            }
        }
        const int status = daemon.wait(10s);
        const auto took = steady::now() - signalled;
        EXPECT_EQ(status, 0) << "SIGTERM must exit 0\n" << daemon.log();
        EXPECT_LT(took, 5s * sanitizer_slack) << "SIGTERM must exit within 5 s";
        std::cout << answered.size() << " answered, " << refused.size() << " refused, "
                  << unanswered << " closed unanswered; exit after "
                  << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms"
                  << std::endl;
    }
    daemon_process again({"--dburl", sqlite_url(dir)});
    const auto listed = listed_endpoints(again.port(), "term.*");
    for (const auto& e : answered) EXPECT_TRUE(listed.contains(e)) << "answered ping lost: " << e;
    for (const auto& e : refused) EXPECT_FALSE(listed.contains(e)) << "refused ping applied: " << e;
}

}  // namespace
}  // namespace servreg::test
