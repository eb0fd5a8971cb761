// Tests of what registry::index keeps of an instance beyond its name and times (SPEC 4.1): the
// form of its latest ping, its metadata and the meta filter, drain and undrain, both through
// local writes and through rows merged from other processes.
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "servreg/registry/address.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "servreg/registry/metadata.h"
#include "show.h"
#include "write_ops.h"

namespace {

using servreg::registry::address;
using servreg::registry::address_of_url;
using servreg::registry::endpoint;
using servreg::registry::glob;
using servreg::registry::index;
using servreg::registry::metadata;
using servreg::storage::changes;
using servreg::storage::instance_row;

using servreg::test::show;
using servreg::test::url_at;

constexpr std::int64_t everything = std::numeric_limits<std::int64_t>::min();

address at_url(const std::string& url) {
    auto a = address_of_url(url);
    EXPECT_TRUE(a.has_value()) << url << ": " << a.error();
    return a.value_or(address{});
}

std::vector<endpoint> located(const index& idx, const metadata* filter = nullptr) {
    return idx.locate(glob("*"), everything, filter);
}

TEST(IndexInstances, LocateAnswersEachInstanceInTheFormOfItsLatestPing) {
    index idx;
    idx.apply_ping("svc", "10.0.0.1", 80, 100);
    idx.apply_ping("svc", at_url("https://10.0.0.2:8443/v2"), nullptr, 100);
    EXPECT_EQ(show(located(idx)), "[ 10.0.0.1:80 https://10.0.0.2:8443/v2 ]");

    // The host-and-port instance pings by its URL: the same instance, now in URL form.
    const auto before = idx.generation();
    idx.apply_ping("svc", at_url("http://10.0.0.1:80/api"), nullptr, 200);
    EXPECT_EQ(idx.size(), 2u) << show(idx.list(glob("*")));
    EXPECT_EQ(show(located(idx)), "[ http://10.0.0.1:80/api https://10.0.0.2:8443/v2 ]");
    EXPECT_GT(idx.generation(), before) << "a change of form changes the answer";

    // And back.
    idx.apply_ping("svc", "10.0.0.1", 80, 300);
    EXPECT_EQ(show(located(idx)), "[ 10.0.0.1:80 https://10.0.0.2:8443/v2 ]");
    const auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 2u) << show(rows);
    EXPECT_EQ(rows[0].url, "http://10.0.0.1:80/api");
    EXPECT_EQ(rows[0].first_seen_ms, 100) << "the same instance throughout: " << show(rows);
    EXPECT_EQ(rows[1].host, "10.0.0.2");
    EXPECT_EQ(rows[1].port, 8443);
}

TEST(IndexInstances, AHostAndPortInstanceIsFoundByExactlyTheUrlItStandsFor) {
    // Its URL is not stored (it follows from host and port), and yet it is the key.
    for (const auto& [host, port, url] : std::vector<std::tuple<std::string, int, std::string>>{
             {"10.0.0.1", 80, "http://10.0.0.1:80/api"},
             {"::1", 8001, "http://[::1]:8001/api"},
             {"fe80::1%eth0", 1, "http://[fe80::1%eth0]:1/api"},
             {"svc.example", 65535, "http://svc.example:65535/api"}}) {
        SCOPED_TRACE(url);
        EXPECT_EQ(servreg::registry::url_of(host, static_cast<std::uint16_t>(port)), url);
        EXPECT_TRUE(servreg::registry::is_url_of(url, host, static_cast<std::uint16_t>(port)));
        for (const std::string& other :
             {url + "/", url.substr(0, url.size() - 1), "https" + url.substr(4),
              std::string("http://x") + url.substr(7),
              url.substr(0, url.find(':', 7)) + ":8/api"}) {
            EXPECT_FALSE(
                servreg::registry::is_url_of(other, host, static_cast<std::uint16_t>(port)))
                << other;
        }
        index idx;
        idx.apply_ping("svc", host, static_cast<std::uint16_t>(port), 100);
        idx.apply_ping("svc", at_url(url + "x"), nullptr, 100);
        EXPECT_EQ(idx.list(glob("*")).at(0).url, url);
        EXPECT_TRUE(idx.apply_drain(url, true, 200));
        EXPECT_FALSE(idx.apply_drain(url + "/", true, 200));
        idx.apply_ping("svc", at_url(url), nullptr, 300);  // the same instance, by its URL
        EXPECT_EQ(idx.size(), 2u) << show(idx.list(glob("*")));
        EXPECT_TRUE(idx.apply_unregister(url));
        EXPECT_FALSE(idx.apply_unregister(url));
        EXPECT_EQ(idx.size(), 1u);
    }
}

TEST(IndexInstances, TwoUrlsOnOneHostAndPortAreTwoInstances) {
    index idx;
    idx.apply_ping("svc", at_url("http://h:8000/a"), nullptr, 100);
    idx.apply_ping("svc", at_url("http://h:8000/b"), nullptr, 100);
    idx.apply_ping("svc", "h", 8000, 100);
    EXPECT_EQ(idx.size(), 3u);
    EXPECT_EQ(show(located(idx)), "[ http://h:8000/a h:8000 http://h:8000/b ]")
        << "ordered by name, host, port, then URL (h:8000's is http://h:8000/api)";
    EXPECT_TRUE(idx.apply_unregister("http://h:8000/a"));
    EXPECT_EQ(show(located(idx)), "[ h:8000 http://h:8000/b ]");
}

TEST(IndexInstances, AnInstanceAloneUnderItsNameMovesToAnotherHostAndKeepsTheName) {
    // The same URL from another host (a row merged from another process can say so): the
    // name stays, though for a moment the instance is in no list of it.
    index idx;
    idx.apply_ping("svc", address{"http://h:8000/a", "h", 8000, true}, nullptr, 100);
    idx.apply_ping("svc", address{"http://h:8000/a", "h2", 8000, true}, nullptr, 200);
    idx.apply_ping("later", "x", 1, 300);  // a name made after it must not take its place
    const auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 2u) << show(rows);
    EXPECT_EQ(rows[1].name, "svc") << show(rows);
    EXPECT_EQ(rows[1].host, "h2") << show(rows);
    EXPECT_EQ(rows[1].first_seen_ms, 100) << show(rows);
    EXPECT_EQ(show(idx.locate(glob("svc"), everything)), "[ http://h:8000/a ]");
    EXPECT_EQ(show(idx.locate(glob("later"), everything)), "[ x:1 ]");
}

TEST(IndexInstances, AHostAndPortInstanceMovedToAnotherHostKeepsItsUrlWhole) {
    // Its URL was derived from the old host: once the host changes it must be kept as it was.
    index idx;
    idx.apply_ping("svc", "h", 8000, 100);
    idx.apply_ping("svc", address{"http://h:8000/api", "h2", 8000, false}, nullptr, 200);
    auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 1u) << show(rows);
    EXPECT_EQ(rows[0].host, "h2") << show(rows);
    EXPECT_EQ(rows[0].url, "http://h:8000/api") << show(rows);
    const metadata zone{{"zone", "a"}};
    idx.apply_ping("svc", address{"http://h:8000/api", "h2", 8000, false}, &zone, 300);
    EXPECT_EQ(idx.list(glob("*")).at(0).meta, R"({"zone":"a"})");
    const metadata none;
    idx.apply_ping("svc", address{"http://h:8000/api", "h2", 8000, false}, &none, 400);
    rows = idx.list(glob("*"));
    EXPECT_EQ(rows.at(0).meta, "{}") << "metadata taken away, the URL kept: " << show(rows);
    EXPECT_EQ(rows.at(0).url, "http://h:8000/api") << show(rows);
    EXPECT_TRUE(idx.apply_unregister("http://h:8000/api"));
    EXPECT_EQ(idx.size(), 0u);
}

TEST(IndexInstances, APingWithMetaReplacesItAndOneWithoutKeepsIt) {
    index idx;
    const metadata v1{{"version", "1"}, {"zone", "a"}};
    const metadata v2{{"version", "2"}};
    idx.apply_ping("svc", servreg::registry::address_of("h", 1), &v1, 100);
    EXPECT_EQ(idx.list(glob("*")).at(0).meta, R"({"version":"1","zone":"a"})");

    auto before = idx.generation();
    idx.apply_ping("svc", "h", 1, 200);  // no meta: kept
    EXPECT_EQ(idx.list(glob("*")).at(0).meta, R"({"version":"1","zone":"a"})");
    EXPECT_EQ(idx.generation(), before) << "a heartbeat without meta changes nothing";
    idx.apply_ping("svc", servreg::registry::address_of("h", 1), &v1, 250);
    EXPECT_EQ(idx.generation(), before) << "the same meta again changes nothing";

    idx.apply_ping("svc", servreg::registry::address_of("h", 1), &v2, 300);
    EXPECT_EQ(idx.list(glob("*")).at(0).meta, R"({"version":"2"})");
    EXPECT_GT(idx.generation(), before);

    before = idx.generation();
    const metadata none;
    idx.apply_ping("svc", servreg::registry::address_of("h", 1), &none, 400);
    EXPECT_EQ(idx.list(glob("*")).at(0).meta, "{}") << "an empty meta clears it";
    EXPECT_GT(idx.generation(), before);
}

TEST(IndexInstances, TheMetaFilterKeepsInstancesHoldingEveryPair) {
    index idx;
    const metadata a{{"role", "primary"}, {"zone", "a"}};
    const metadata b{{"role", "replica"}, {"zone", "a"}};
    idx.apply_ping("db", servreg::registry::address_of("h", 1), &a, 100);
    idx.apply_ping("db", servreg::registry::address_of("h", 2), &b, 100);
    idx.apply_ping("db", "h", 3, 100);  // no meta at all

    const metadata zone_a{{"zone", "a"}};
    const metadata primary_a{{"role", "primary"}, {"zone", "a"}};
    const metadata zone_b{{"zone", "b"}};
    const metadata empty;
    EXPECT_EQ(show(located(idx, &zone_a)), "[ h:1 h:2 ]");
    EXPECT_EQ(show(located(idx, &primary_a)), "[ h:1 ]");
    EXPECT_EQ(show(located(idx, &zone_b)), "[ ]");
    EXPECT_EQ(show(located(idx, &empty)), "[ h:1 h:2 h:3 ]") << "an empty filter keeps all";
    const metadata case_differs{{"zone", "A"}};
    EXPECT_EQ(show(located(idx, &case_differs)), "[ ]") << "values compare exactly";
}

TEST(IndexInstances, ADrainedInstanceIsListedButNotLocatedUntilUndrained) {
    index idx;
    idx.apply_ping("svc", "h", 1, 100);
    idx.apply_ping("svc", "h", 2, 100);
    auto before = idx.generation();
    EXPECT_TRUE(idx.apply_drain(url_at("h", 1), true, 150));
    EXPECT_GT(idx.generation(), before);
    EXPECT_EQ(show(located(idx)), "[ h:2 ]");
    auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 2u) << show(rows);
    EXPECT_TRUE(rows[0].drained);
    EXPECT_FALSE(rows[1].drained);

    // It goes on pinging, and stays drained.
    before = idx.generation();
    idx.apply_ping("svc", "h", 1, 200);
    EXPECT_EQ(show(located(idx)), "[ h:2 ]");
    EXPECT_EQ(idx.generation(), before);
    EXPECT_TRUE(idx.apply_drain(url_at("h", 1), true, 210)) << "draining again is known";
    EXPECT_EQ(idx.generation(), before) << "and changes nothing";

    EXPECT_TRUE(idx.apply_drain(url_at("h", 1), false, 300));
    EXPECT_EQ(show(located(idx)), "[ h:1 h:2 ]");
    EXPECT_GT(idx.generation(), before);

    EXPECT_FALSE(idx.apply_drain(url_at("h", 9), true, 300)) << "unknown instance";
    EXPECT_EQ(idx.size(), 2u) << "a drain of an unknown instance adds nothing";
}

TEST(IndexInstances, MergedRowsBringDrainsMetaAndFormNewerThanTheIndexKnows) {
    index idx;
    idx.apply_ping("svc", "h", 1, 100);

    // Another process drained it at 150: its row's changed moved, last_seen did not.
    instance_row drained{"svc", "h", 1, 100, 100};
    drained.url = url_at("h", 1);
    drained.drained = true;
    drained.changed_ms = 150;
    idx.merge({.rows = {drained}, .tombstones = {}}, everything);
    EXPECT_EQ(show(located(idx)), "[ ]") << show(idx.list(glob("*")));

    // A row read before that drain (older changed) does not undrain it.
    instance_row older = drained;
    older.drained = false;
    older.changed_ms = 120;
    idx.merge({.rows = {older}, .tombstones = {}}, everything);
    EXPECT_EQ(show(located(idx)), "[ ]") << "an older row must not undo a drain";

    // A later ping elsewhere with meta and in URL form, still drained.
    instance_row pinged = drained;
    pinged.last_seen_ms = pinged.changed_ms = 200;
    pinged.url_form = true;
    pinged.meta = R"({"zone":"b"})";
    idx.merge({.rows = {pinged}, .tombstones = {}}, everything);
    auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 1u) << show(rows);
    EXPECT_EQ(rows[0].meta, R"({"zone":"b"})");
    EXPECT_TRUE(rows[0].url_form);
    EXPECT_TRUE(rows[0].drained);
    EXPECT_EQ(rows[0].last_seen_ms, 200);

    // Undrained elsewhere.
    instance_row undrained = pinged;
    undrained.drained = false;
    undrained.changed_ms = 250;
    const auto before = idx.generation();
    idx.merge({.rows = {undrained}, .tombstones = {}}, everything);
    EXPECT_EQ(show(located(idx)), "[ http://h:1/api ]");
    EXPECT_GT(idx.generation(), before);
}

TEST(IndexInstances, ResetKeepsFormMetaAndDrain) {
    index idx;
    instance_row a{"svc", "h", 1, 100, 100};
    a.url = "https://h:1/x";
    a.url_form = true;
    a.meta = R"({"k":"v"})";
    instance_row b{"svc", "h", 2, 100, 100};
    b.drained = true;  // a row made by hand: its URL follows from host and port
    idx.reset({a, b});
    EXPECT_EQ(show(located(idx)), "[ https://h:1/x ]");
    const metadata kv{{"k", "v"}};
    EXPECT_EQ(show(located(idx, &kv)), "[ https://h:1/x ]");
    const auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 2u) << show(rows);
    EXPECT_EQ(rows[1].url, url_at("h", 2));
    EXPECT_TRUE(rows[1].drained);
    EXPECT_TRUE(idx.apply_unregister(url_at("h", 2)));
}

// Which of `ops` mark_stored vouches for, one character each ('1': stored_same).
std::string vouched(const index& idx, std::vector<servreg::storage::write_op> ops) {
    idx.mark_stored(ops);
    std::string out;
    for (const auto& op : ops) out += op.stored_same ? '1' : '0';
    return out;
}

TEST(IndexInstances, MarkStoredVouchesOnlyForWhatAPingCommittedHereStored) {
    using servreg::test::ping;
    index idx;
    // Rows read from the database (at start, after the restart grace) are not vouched for.
    idx.reset({instance_row{"svc", "h", 1, 100, 100}});
    const auto same = ping("svc", "h", 1, 200);
    EXPECT_EQ(vouched(idx, {same}), "0") << "a row read, not committed here";

    // Once a ping committed here stored it, the same ping is vouched for; a ping that would
    // store it otherwise (another name, host, form; metadata; another instance) is not.
    idx.apply_ping("svc", "h", 1, 200);
    auto renamed = same;
    renamed.name = "other";
    auto moved = same;
    moved.host = "h2";  // the same URL, another host
    auto url_form = same;
    url_form.url_form = true;
    auto with_meta = same;
    with_meta.meta = R"({"k":"v"})";
    const auto unknown = ping("svc", "h", 2, 200);
    EXPECT_EQ(vouched(idx, {same, renamed, moved, url_form, with_meta, unknown}), "100000");
    EXPECT_EQ(vouched(idx, {servreg::test::drain("h", 1, 200)}), "0") << "pings only";

    // A renaming ping committed: now that is what is stored.
    idx.apply_ping("other", "h", 1, 300);
    EXPECT_EQ(vouched(idx, {same, renamed}), "01");

    // The database's prune may judge rows by other times than the index: after a prune every
    // instance kept waits for its next ping.
    idx.prune(250);
    EXPECT_EQ(idx.size(), 1u);
    EXPECT_EQ(vouched(idx, {renamed}), "0") << "after a prune";
    idx.apply_ping("other", "h", 1, 400);
    EXPECT_EQ(vouched(idx, {renamed}), "1");

    // Rows merged from other processes are theirs, not vouched for.
    instance_row elsewhere{"svc", "h", 1, 100, 500};
    elsewhere.url = url_at("h", 1);
    elsewhere.changed_ms = 500;
    idx.merge({.rows = {elsewhere}, .tombstones = {}}, everything);
    EXPECT_EQ(vouched(idx, {same}), "0") << "after a merged row";

    // A ping the index could not take (out of memory) leaves the instance unvouched.
    idx.apply_ping("svc", "h", 1, 600);
    idx.unconfirm(url_at("h", 1));
    EXPECT_EQ(vouched(idx, {same}), "0") << "after unconfirm";

    // Unregistered: gone, and a ping that comes back is read first.
    idx.apply_ping("svc", "h", 1, 700);
    EXPECT_TRUE(idx.apply_unregister(url_at("h", 1), 800));
    EXPECT_EQ(vouched(idx, {same}), "0") << "after an unregister";
}

// mark_stored looks a batch up a chunk at a time: in a batch of many, every op gets the answer
// it gets alone, whatever its neighbours and wherever the chunks end.
TEST(IndexInstances, MarkStoredAnswersEachOpOfALongBatchAsItWouldAlone) {
    using servreg::test::ping;
    index idx;
    std::vector<servreg::storage::write_op> batch;
    std::string alone;
    for (std::uint16_t port = 1; port <= 70; ++port) {
        auto op = ping("svc", "h", port, 200);
        // A fifth of them not pings, a fifth unknown, a fifth with metadata, the rest vouched.
        if (port % 5 == 0) op = servreg::test::drain("h", port, 200);
        if (port % 5 == 2) op.meta = R"({"k":"v"})";
        if (port % 5 != 1) idx.apply_ping("svc", "h", port, 100);
        alone += vouched(idx, {op});
        batch.push_back(op);
    }
    ASSERT_NE(alone.find('1'), std::string::npos) << alone;
    ASSERT_NE(alone.find('0'), std::string::npos) << alone;
    EXPECT_EQ(vouched(idx, batch), alone);
}

}  // namespace
