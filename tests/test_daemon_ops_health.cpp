// GET /health (SPEC sections 2 and 5): 200 while the database answers, 503 with the reason when
// its SQLite file is deleted or replaced under the running daemon (which chmod cannot do for
// root, as CI runs), and 200 again when it comes back.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

// Polls /health until its status is `want` (the writer probes once a second when idle).
http_reply wait_for_health(std::uint16_t port, int want, std::chrono::milliseconds limit = 5s) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (;;) {
        auto r = get(port, "/health");
        if (r.status == want || std::chrono::steady_clock::now() > deadline) return r;
        std::this_thread::sleep_for(100ms);
    }
}

void expect_unavailable(const http_reply& r, const std::string& reason_part) {
    EXPECT_EQ(r.status, 503) << r.status_line << "\n" << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    auto body = json::parse(r.body, nullptr, false);
    EXPECT_EQ(body["status"], "unavailable") << r.body;
    ASSERT_TRUE(body["reason"].is_string()) << r.body;
    EXPECT_NE(body["reason"].get<std::string>().find(reason_part), std::string::npos)
        << "reason should say " << reason_part << ": " << r.body;
}

TEST(DaemonHealth, OkWhileTheDatabaseAnswers) {
    registry_daemon daemon;
    auto r = get(daemon.port(), "/health");
    EXPECT_EQ(r.status, 200) << r.status_line << "\n" << r.body;
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"status", "ok"}})) << r.body;
}

TEST(DaemonHealth, UnavailableWhenTheSqliteFileIsDeletedAndOkWhenItIsBack) {
    registry_daemon daemon;
    ASSERT_EQ(call(daemon.port(), "ping", {"health.svc", "10.30.0.1", 1}).result(), true);
    const fs::path db = daemon.dir().file("reg.db");
    const fs::path aside = daemon.dir().file("reg.db.aside");
    ASSERT_TRUE(fs::exists(db)) << db;

    fs::rename(db, aside);
    expect_unavailable(wait_for_health(daemon.port(), 503), "gone");
    auto x = call(daemon.port(), "ping", {"health.svc", "10.30.0.1", 2});
    EXPECT_EQ(x.error()["code"], -32000)
        << "a write into a deleted file would be lost" << x.describe();
    x = call(daemon.port(), "locate_service", {"health.*"});
    EXPECT_EQ(x.result().size(), 1u) << "reads go on from memory" << x.describe();

    fs::rename(aside, db);
    auto r = wait_for_health(daemon.port(), 200);
    EXPECT_EQ(r.status, 200) << r.body;
    x = call(daemon.port(), "ping", {"health.svc", "10.30.0.1", 3});
    EXPECT_EQ(x.result(), true) << x.describe();
}

TEST(DaemonHealth, UnavailableWhenTheDatabaseDirectoryIsReplaced) {
    temp_dir root;
    const fs::path dir = root.path() / "data";
    fs::create_directories(dir);
    const std::string url = "sqlite:///" + (dir / "reg.db").string();
    daemon_process daemon({"--dburl", url});
    ASSERT_EQ(call(daemon.port(), "ping", {"health.dir", "10.30.1.1", 1}).result(), true);

    // What a botched restore looks like: another directory in its place, holding a file of
    // the same name that is no database.
    fs::rename(dir, root.path() / "data.old");
    fs::create_directories(dir);
    std::ofstream(dir / "reg.db") << "this is not an SQLite database\n";
    expect_unavailable(wait_for_health(daemon.port(), 503), "replaced");
}

TEST(DaemonHealth, OtherMethodsThanGetAreRefused) {
    registry_daemon daemon;
    connection c(daemon.port());
    c.send("DELETE /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << r->status_line;
}

}  // namespace
}  // namespace servreg::test
