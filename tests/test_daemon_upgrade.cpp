// Black-box tests of the real binary on a SQLite file (SPEC 4.1, 5): a database of the previous
// release (schema version 2) upgraded in place and served as before, a newer schema refused at
// start, and drains that survive a restart.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <string>
#include <tuple>
#include <vector>

#include "schema_v2.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

// sqlite_url's file, opened directly.
soci::session open_file(const temp_dir& dir) {
    return soci::session(soci::sqlite3, "db=" + dir.file("reg.db") + " timeout=5");
}

long long now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

void stop(daemon_process& p) {
    p.signal(SIGTERM);
    EXPECT_EQ(p.wait(5s), 0) << "SIGTERM must exit 0\n" << p.log();
}

TEST(DaemonUpgrade, Version2DatabaseIsServedAsBeforeWithEveryInstance) {
    temp_dir dir;
    const long long now = now_ms();
    const auto samples = v2_samples(now - 5000, now);
    {
        auto sql = open_file(dir);
        create_schema_v2(sql, config::database_kind::sqlite);
        for (const auto& s : samples) insert_v2_row(sql, s.row);
        insert_v2_tombstone(sql, "gone.example", 9, now - 1000);
    }
    daemon_process servreg({"--dburl", sqlite_url(dir)});
    EXPECT_NE(servreg.log().find("to version 3"), std::string::npos) << servreg.log();

    // Clients of the previous release read [{"host", "port"}]: the upgraded instances answer in
    // that form, by name, host and port.
    json expected = json::array();
    std::vector<const v2_sample*> order;
    for (const auto& s : samples) order.push_back(&s);
    std::ranges::sort(order, [](const v2_sample* a, const v2_sample* b) {
        return std::tie(a->row.name, a->row.host, a->row.port) <
               std::tie(b->row.name, b->row.host, b->row.port);
    });
    for (const auto* s : order) expected.push_back({{"host", s->row.host}, {"port", s->row.port}});
    auto located = call(servreg.port(), "locate_service", {"*"});
    EXPECT_EQ(located.result(), expected) << located.describe() << "\n" << servreg.log();
    for (const auto& s : samples) {
        auto one = call(servreg.port(), "locate_service", {s.row.name});
        EXPECT_EQ(one.result(), json::array({{{"host", s.row.host}, {"port", s.row.port}}}))
            << one.describe();
    }

    auto listed = call(servreg.port(), "list_services", json::array());
    ASSERT_TRUE(listed.result().is_array()) << listed.describe();
    ASSERT_EQ(listed.result().size(), samples.size()) << listed.describe();
    for (const auto& item : listed.result()) {
        const auto s = std::ranges::find(samples, item.value("url", json()).dump(),
                                         [](const v2_sample& v) { return json(v.url).dump(); });
        ASSERT_NE(s, samples.end()) << "an unknown URL in " << listed.describe();
        EXPECT_EQ(item["name"], s->row.name) << listed.describe();
        EXPECT_EQ(item["host"], s->row.host) << listed.describe();
        EXPECT_EQ(item["port"], s->row.port) << listed.describe();
        EXPECT_EQ(item["state"], "alive") << listed.describe();
        EXPECT_EQ(item["meta"], json::object()) << listed.describe();
    }

    // A heartbeat by host and port reaches the upgraded row: still one instance.
    auto beat = call(servreg.port(), "ping", {"back\\slash", "::1", 8080});
    ASSERT_EQ(beat.result(), true) << beat.describe();
    EXPECT_EQ(call(servreg.port(), "list_services", json::array()).result().size(), samples.size());
    stop(servreg);

    auto sql = open_file(dir);
    int version = 0;
    sql << "SELECT version FROM servreg_schema", soci::into(version);
    EXPECT_EQ(version, 3);
}

TEST(DaemonUpgrade, DrainSurvivesARestartUntilUndrained) {
    temp_dir dir;
    {
        daemon_process first({"--dburl", sqlite_url(dir)});
        for (int port : {1, 2}) {
            auto x = call(first.port(), "ping", {"d.drain", "10.6.0.1", port});
            ASSERT_EQ(x.result(), true) << x.describe();
        }
        auto x = call(first.port(), "drain", {"10.6.0.1", 1});
        ASSERT_EQ(x.result(), true) << x.describe();
        stop(first);
    }
    const json one = json::array({{{"host", "10.6.0.1"}, {"port", 2}}});
    const json both =
        json::array({{{"host", "10.6.0.1"}, {"port", 1}}, {{"host", "10.6.0.1"}, {"port", 2}}});
    {
        daemon_process second({"--dburl", sqlite_url(dir)});
        auto located = call(second.port(), "locate_service", {"d.drain"});
        EXPECT_EQ(located.result(), one) << "drained before the restart" << located.describe();
        auto listed = call(second.port(), "list_services", {"d.drain"});
        ASSERT_EQ(listed.result().size(), 2u) << listed.describe();
        EXPECT_EQ(listed.result()[0]["state"], "draining") << listed.describe();
        EXPECT_EQ(listed.result()[1]["state"], "alive") << listed.describe();
        // It goes on pinging, and stays drained.
        ASSERT_EQ(call(second.port(), "ping", {"d.drain", "10.6.0.1", 1}).result(), true);
        EXPECT_EQ(call(second.port(), "locate_service", {"d.drain"}).result(), one);
        auto x = call(second.port(), "undrain", {{"url", "http://10.6.0.1:1/api"}});
        ASSERT_EQ(x.result(), true) << x.describe();
        EXPECT_EQ(call(second.port(), "locate_service", {"d.drain"}).result(), both);
        stop(second);
    }
    daemon_process third({"--dburl", sqlite_url(dir)});
    auto located = call(third.port(), "locate_service", {"d.drain"});
    EXPECT_EQ(located.result(), both) << "undrained before the restart" << located.describe();
}

TEST(DaemonUpgrade, NewerSchemaIsRefusedAtStartWithAClearMessage) {
    temp_dir dir;
    {
        auto sql = open_file(dir);
        sql << "CREATE TABLE servreg_schema (version INTEGER NOT NULL PRIMARY KEY)";
        sql << "INSERT INTO servreg_schema (version) VALUES (4)";
    }
    const std::vector<std::string> args = {"--dburl", sqlite_url(dir), "--port", "0"};
    const auto r = run_servreg(args);
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_NE((r.out + r.err)
                  .find("its schema version 4 is newer than this servreg knows (3); "
                        "upgrade servreg"),
              std::string::npos)
        << describe(args, r);
}

}  // namespace
}  // namespace servreg::test
