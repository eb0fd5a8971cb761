// Black-box tests of the access log (SPEC section 7 and SIGHUP in section 6): one Combined Log
// Format line per request with duration and JSON-RPC method, reopened after logrotate.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::vector<std::string> lines_of(const std::string& text) {
    std::vector<std::string> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) out.push_back(line);
    return out;
}

// The lines of `path` once it has at least `count` of them (the log is written by its own
// thread), or whatever it has after 3 s.
std::vector<std::string> wait_for_lines(const std::string& path, std::size_t count) {
    auto deadline = std::chrono::steady_clock::now() + 3s;
    for (;;) {
        auto lines = lines_of(read_file(path));
        if (lines.size() >= count || std::chrono::steady_clock::now() > deadline) return lines;
        std::this_thread::sleep_for(10ms);
    }
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& l : lines) out += "\n  " + l;
    return out;
}

const std::regex line_format(
    R"re(^(\S+) - - \[(\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+|-) "((?:[^"\\]|\\.)*)" "((?:[^"\\]|\\.)*)" (\d+) (\S+)$)re");

struct expected_line {
    std::string request_line;
    int status;
    std::size_t bytes;
    std::string referer;
    std::string user_agent;
    std::string label;
};

TEST(DaemonAccessLog, OneCombinedLogFormatLinePerRequestWithDurationAndMethod) {
    temp_dir logs;
    const std::string path = logs.file("access.log");
    registry_daemon daemon({"--accesslog", path});
    const std::string agent = "User-Agent: servreg-test/1.0\r\nReferer: http://example.test/x\r\n";

    std::vector<std::string> requests;
    std::vector<http_reply> replies;
    auto send = [&](const std::string& req) {
        connection c(daemon.port());
        ASSERT_TRUE(c.send(req));
        auto r = c.read_reply();
        ASSERT_TRUE(r) << req;
        requests.push_back(req);
        replies.push_back(*r);
    };
    send(post_request(call_text("ping", {"log.svc", "10.9.0.1", 1}), "application/json", agent,
                      false));
    json batch = json::array();
    for (int i = 0; i < 3; ++i)
        batch.push_back(json::parse(call_text("locate_service", {"log.*"}, i)));
    send(post_request(batch.dump(), "application/json", agent, false));
    send("GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    send(post_request(R"({"jsonrpc":"2.0","method":"ping","params":["log.svc","10.9.0.1",2]})",
                      "application/json", "", false));
    send(post_request(call_text("locate_service", {"log.*"}), "text/plain", "", false));
    send(post_request(call_text("frobnicate", nullptr), "application/json", "", false));

    const std::vector<expected_line> expected = {
        {"POST /api HTTP/1.1", 200, replies[0].body.size(), "http://example.test/x",
         "servreg-test/1.0", "ping"},
        {"POST /api HTTP/1.1", 200, replies[1].body.size(), "http://example.test/x",
         "servreg-test/1.0", "batch(3)"},
        {"GET /health HTTP/1.1", 200, replies[2].body.size(), "-", "-", "-"},
        {"POST /api HTTP/1.1", 204, 0, "-", "-", "ping"},
        {"POST /api HTTP/1.1", 415, replies[4].body.size(), "-", "-", "-"},
        {"POST /api HTTP/1.1", 200, replies[5].body.size(), "-", "-", "other"},
    };
    auto lines = wait_for_lines(path, expected.size());
    ASSERT_EQ(lines.size(), expected.size()) << "one line per request:" << joined(lines);
    auto now = std::time(nullptr);
    for (std::size_t i = 0; i < expected.size(); ++i) {
        const auto& e = expected[i];
        std::smatch m;
        ASSERT_TRUE(std::regex_match(lines[i], m, line_format))
            << "line " << i << " is not in the format of SPEC section 7:\n  " << lines[i];
        std::string what = "\n  request: " + requests[i].substr(0, 200) + "\n  line: " + lines[i];
        EXPECT_EQ(m[1], "127.0.0.1") << what;
        std::tm tm{};
        ASSERT_NE(strptime(m[2].str().c_str(), "%d/%b/%Y:%H:%M:%S", &tm), nullptr) << what;
        auto when = timegm(&tm);
        EXPECT_LE(std::abs(now - when), 10) << "the time is now, in UTC" << what;
        EXPECT_EQ(m[3], e.request_line) << what;
        EXPECT_EQ(std::stoi(m[4]), e.status) << what;
        EXPECT_EQ(m[5], e.bytes == 0 ? "-" : std::to_string(e.bytes))
            << "response body bytes" << what;
        EXPECT_EQ(m[6], e.referer) << what;
        EXPECT_EQ(m[7], e.user_agent) << what;
        EXPECT_LT(std::stoll(m[8]), 10'000'000) << "duration in microseconds" << what;
        // What an unknown method is labelled is the daemon's choice (SPEC fixes method names,
        // batch(N) and "-"); only that it is one word is checked, by the regex.
        if (e.label != "other") {
            EXPECT_EQ(m[9], e.label) << what;
        }
    }
}

TEST(DaemonAccessLog, SighupAfterRenameWritesToANewFileAtTheOriginalPath) {
    temp_dir logs;
    const std::string path = logs.file("access.log");
    const std::string rotated = logs.file("access.log.1");
    registry_daemon daemon({"--accesslog", path});

    auto x = call(daemon.port(), "ping", {"log.rotate", "10.9.0.2", 1});
    ASSERT_EQ(x.result(), true) << x.describe();
    ASSERT_EQ(wait_for_lines(path, 1).size(), 1u);

    std::filesystem::rename(path, rotated);
    daemon.process().signal(SIGHUP);
    // The reopen happens on the log's thread: wait until the new file exists.
    ASSERT_TRUE(eventually([&] { return std::filesystem::exists(path); }, 3s))
        << "no new access log after SIGHUP\n"
        << daemon.process().log();

    x = call(daemon.port(), "locate_service", {"log.rotate"});
    ASSERT_TRUE(x.result().is_array()) << x.describe();
    auto fresh = wait_for_lines(path, 1);
    ASSERT_EQ(fresh.size(), 1u) << "new lines go to the new file:" << joined(fresh);
    EXPECT_NE(fresh[0].find(" locate_service"), std::string::npos) << fresh[0];
    auto old = lines_of(read_file(rotated));
    ASSERT_EQ(old.size(), 1u) << "the rotated file keeps only the old lines:" << joined(old);
    EXPECT_NE(old[0].find(" ping"), std::string::npos) << old[0];

    // The daemon keeps running after the SIGHUP.
    x = call(daemon.port(), "ping", {"log.rotate", "10.9.0.2", 2});
    EXPECT_EQ(x.result(), true) << x.describe();
    EXPECT_EQ(wait_for_lines(path, 2).size(), 2u);
}

}  // namespace
}  // namespace servreg::test
