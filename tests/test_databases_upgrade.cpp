// Tests of the schema upgrade from the previous release (version 2, keyed by host and port) to
// instances keyed by URL (SPEC 4.1, 5), on every database (SQLite always, PostgreSQL and
// MariaDB when scripts/test-databases.sh runs them), and of the refusal of a newer schema.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <tuple>
#include <vector>

#include "databases.h"
#include "schema_v2.h"
#include "servreg/registry/address.h"
#include "servreg/storage/db_errors.h"
#include "servreg/storage/schema.h"
#include "servreg/storage/soci_store.h"
#include "servreg/storage/store.h"
#include "show.h"
#include "write_ops.h"

namespace servreg::test {
namespace {

using storage::instance_row;
using storage::open_store;
using storage::write_op;

std::vector<int> schema_versions(const std::string& url) {
    auto sql = connect(url);
    std::vector<int> versions(8);
    sql << "SELECT version FROM servreg_schema", soci::into(versions);
    return versions;
}

// Everything a row holds, in one comparable value, sorted by URL.
using row_fields = std::tuple<std::string, std::string, std::string, int, long long, long long,
                              bool, bool, std::string, long long>;

std::vector<row_fields> fields_of(const std::vector<instance_row>& rows) {
    std::vector<row_fields> out;
    for (const auto& r : rows) {
        out.emplace_back(r.url, r.name, r.host, r.port, r.first_seen_ms, r.last_seen_ms, r.url_form,
                         r.drained, r.meta, r.changed_ms);
    }
    std::ranges::sort(out);
    return out;
}

std::string show_fields(const std::vector<row_fields>& rows) {
    std::string out;
    for (const auto& [url, name, host, port, first, last, url_form, drained, meta, changed] :
         rows) {
        out += "\n  {" + url + " name=\"" + name + "\" host=\"" + host +
               "\" port=" + std::to_string(port) + " seen=" + std::to_string(first) + ".." +
               std::to_string(last) + " url_form=" + std::to_string(url_form) +
               " drained=" + std::to_string(drained) + " meta=" + meta +
               " changed=" + std::to_string(changed) + "}";
    }
    return out;
}

long long count_rows(const std::string& url, const std::string& table) {
    auto sql = connect(url);
    long long n = 0;
    sql << "SELECT COUNT(*) FROM " + table, soci::into(n);
    return n;
}

class DatabaseUpgrade : public database_test {};

TEST_P(DatabaseUpgrade, UpgradesVersion2InPlaceKeepingEveryInstance) {
    const auto url = fresh_database_url();
    const auto samples = v2_samples(1000, 2000);
    {
        auto sql = connect(url);
        create_schema_v2(sql, kind());
        for (const auto& s : samples) insert_v2_row(sql, s.row);
        insert_v2_tombstone(sql, "gone.example", 9, 1500);
        insert_v2_tombstone(sql, "::3", 9, 1600);
    }
    ASSERT_EQ(schema_versions(url), std::vector<int>{2});

    // What the upgrade must give: the same instances, each at http://host:port/api, in the
    // host-and-port form, undrained, without metadata, their times kept.
    std::vector<row_fields> expected;
    for (const auto& s : samples) {
        const auto& r = s.row;
        expected.emplace_back(s.url, r.name, r.host, r.port, r.first_seen, r.last_seen, false,
                              false, "", r.last_seen);
        // The C++ side names each instance the same way: later pings and unregisters by host
        // and port find the upgraded rows.
        EXPECT_EQ(registry::url_of(r.host, static_cast<std::uint16_t>(r.port)), s.url);
    }
    std::ranges::sort(expected);

    const auto target = translate_or_throw(url);
    std::vector<row_fields> upgraded;
    {
        auto db = open_store(target);
        upgraded = fields_of(db->load_all());
        EXPECT_EQ(upgraded, expected)
            << "got:" << show_fields(upgraded) << "\nexpected:" << show_fields(expected);
        // Version 2's tombstones named host and port; the table starts again, keyed by URL.
        EXPECT_TRUE(db->changes_since(0).tombstones.empty()) << show(db->changes_since(0));
    }
    EXPECT_EQ(schema_versions(url), std::vector<int>{storage::schema_version});
    EXPECT_EQ(count_rows(url, "servreg_tombstones"), 0);

    // A second open is a no-op: nothing copied or rewritten (the drain made in between stays).
    {
        auto db = open_store(target);
        std::vector<bool> existed;
        db->apply(std::vector<write_op>{drain("10.0.0.1", 443, 3000)}, existed);
        EXPECT_EQ(existed, std::vector<bool>{true});
    }
    {
        auto db = open_store(target);
        auto again = fields_of(db->load_all());
        auto drained = std::ranges::find(again, std::string("http://10.0.0.1:443/api"),
                                         [](const row_fields& f) { return std::get<0>(f); });
        ASSERT_NE(drained, again.end()) << show_fields(again);
        EXPECT_TRUE(std::get<7>(*drained)) << "the second open undid a drain" << show_fields(again);
        EXPECT_EQ(std::get<9>(*drained), 3000) << show_fields(again);
        std::get<7>(*drained) = false;
        std::get<9>(*drained) = 2000;
        EXPECT_EQ(again, upgraded) << show_fields(again);

        // Pings and unregisters by host and port name the upgraded instances, IPv6 ones too.
        const auto& v6 = samples[1];
        ASSERT_EQ(v6.row.host, "::1");
        write_op heartbeat = ping(v6.row.name, v6.row.host, 8080, 4000);
        heartbeat.url = registry::url_of(v6.row.host, 8080);
        std::vector<bool> existed;
        db->apply(std::vector<write_op>{heartbeat}, existed);
        write_op gone = unregister("fe80::1%eth0", 65535, 5000);
        gone.url = registry::url_of("fe80::1%eth0", 65535);
        db->apply(std::vector<write_op>{gone}, existed);
        EXPECT_EQ(existed, std::vector<bool>{true});
        const auto rows = db->load_all();
        EXPECT_EQ(rows.size(), samples.size() - 1) << show(rows);
        const auto pinged = std::ranges::find(rows, v6.url, &instance_row::url);
        ASSERT_NE(pinged, rows.end()) << show(rows);
        EXPECT_EQ(std::make_tuple(pinged->first_seen_ms, pinged->last_seen_ms),
                  std::make_tuple(std::int64_t{1000}, std::int64_t{4000}))
            << "a heartbeat keeps first_seen " << show(*pinged);
        const auto tombstones = db->changes_since(0).tombstones;
        ASSERT_EQ(tombstones.size(), 1u) << show(db->changes_since(0));
        EXPECT_EQ(tombstones[0].url, "http://[fe80::1%eth0]:65535/api");
    }
    EXPECT_EQ(schema_versions(url), std::vector<int>{storage::schema_version});
}

TEST_P(DatabaseUpgrade, RefusesASchemaNewerThanItKnows) {
    const auto url = fresh_database_url();
    const auto target = translate_or_throw(url);
    { auto db = open_store(target); }
    const int newer = storage::schema_version + 1;
    {
        auto sql = connect(url);
        sql << "UPDATE servreg_schema SET version = " + std::to_string(newer);
    }
    try {
        auto db = open_store(target);
        ADD_FAILURE() << "opened " << url << " at schema version " << newer;
    } catch (const storage::storage_error& e) {
        const std::string message = e.what();
        EXPECT_NE(message.find("schema version " + std::to_string(newer) + " is newer"),
                  std::string::npos)
            << "message=" << message;
        EXPECT_NE(message.find("upgrade servreg"), std::string::npos) << "message=" << message;
    }
    EXPECT_EQ(schema_versions(url), std::vector<int>{newer}) << "the database must be left alone";
}

INSTANTIATE_TEST_SUITE_P(Databases, DatabaseUpgrade,
                         ::testing::Values(sqlite_file, postgres_server, mariadb_server),
                         server_name{});

}  // namespace
}  // namespace servreg::test
