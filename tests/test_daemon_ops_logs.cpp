// What the operator's logs must and must not hold: the API token never appears in the daemon's
// log or the access log, whatever the log level; and an access log that cannot keep up (a pipe
// nobody reads) never holds up a request.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <chrono>
#include <string>
#include <thread>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(DaemonOpsLogs, TheApiTokenIsNeverLogged) {
    const std::string secret = "s3cret-t0ken-value";
    const std::string wrong = "wr0ng-t0ken-value";
    temp_dir logs;
    const std::string access = logs.file("access.log");
    registry_daemon daemon({"--api-token", secret, "--log-level", "trace", "--accesslog", access});
    const std::string good = "X-Api-Token: " + secret + "\r\n";
    const std::string bad = "X-Api-Token: " + wrong + "\r\n";
    EXPECT_EQ(call(daemon.port(), "ping", {"log.token", "10.60.0.1", 1}, good).result(), true);
    EXPECT_EQ(call(daemon.port(), "ping", {"log.token", "10.60.0.1", 1}, bad).error()["code"],
              -32001);
    EXPECT_EQ(call(daemon.port(), "unregister", {"10.60.0.1", 1}, bad).error()["code"], -32001);
    get(daemon.port(), "/health");
    daemon.process().signal(SIGTERM);
    ASSERT_EQ(daemon.process().wait(), 0) << daemon.process().log();

    const std::string log = daemon.process().log();
    const std::string access_lines = read_file(access);
    EXPECT_NE(access_lines.find(" ping"), std::string::npos) << "the access log was written";
    for (const auto& token : {secret, wrong}) {
        EXPECT_EQ(log.find(token), std::string::npos) << "token in the daemon log:\n" << log;
        EXPECT_EQ(access_lines.find(token), std::string::npos) << "token in the access log:\n"
                                                               << access_lines;
    }
}

TEST(DaemonOpsLogs, AnAccessLogThatCannotBeWrittenNeverHoldsUpRequests) {
    temp_dir dir;
    const std::string fifo = dir.file("access.fifo");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
    // A reader that never reads: the pipe fills after 64 KiB, and the log's thread blocks.
    int reader = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    ASSERT_GE(reader, 0);
    registry_daemon daemon({"--accesslog", fifo});

    // About 150 bytes a line: 3000 requests are several times what the pipe holds.
    connection c(daemon.port());
    const std::string request = post_request(call_text("locate_service", {"fifo.*"}));
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 3000; ++i) {
        ASSERT_TRUE(c.send(request));
        auto r = c.read_reply();
        ASSERT_TRUE(r) << "request " << i << " was not answered";
        ASSERT_EQ(r->status, 200) << r->status_line;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, 20s);

    // And the daemon still stops in time, though its log's thread is stuck in a write.
    daemon.process().signal(SIGTERM);
    EXPECT_EQ(daemon.process().wait(6s), 0) << daemon.process().log();
    ::close(reader);
}

}  // namespace
}  // namespace servreg::test
