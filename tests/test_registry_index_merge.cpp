// Tests of registry::index::merge, which applies what other servreg processes on a shared
// database changed: newer rows win, tombstones remove what was not seen since, and a row read
// before a deletion cannot bring the instance back.
#include <gtest/gtest.h>

#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "show.h"
#include "write_ops.h"

namespace {

using servreg::registry::glob;
using servreg::registry::index;
using servreg::storage::changes;
using servreg::storage::instance_row;
using servreg::storage::tombstone_row;

constexpr std::int64_t everything = std::numeric_limits<std::int64_t>::min();

using servreg::test::show;
using servreg::test::url_at;

// Every instance as "name host:port first last", in index order.
std::string contents(const index& idx) {
    return show(idx.list(glob("*")));
}

changes rows(std::vector<instance_row> r) {
    return {.rows = std::move(r), .tombstones = {}};
}

changes tombstones(std::vector<tombstone_row> t) {
    return {.rows = {}, .tombstones = std::move(t)};
}

TEST(IndexMerge, NewRowsAreInsertedWithTheirTimes) {
    index idx;
    auto stats = idx.merge(rows({{"a", "h", 1, 100, 200}, {"b", "h", 2, 150, 250}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 100 200} {b h:2 150 250} ]");
    EXPECT_EQ(stats.inserted, 2u);
}

TEST(IndexMerge, NewerRowRefreshesOlderRowIsIgnored) {
    index idx;
    idx.apply_ping("a", "h", 1, 500);
    idx.merge(rows({{"a", "h", 1, 500, 400}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 500 500} ]") << "an older row must not move last_seen back";
    auto stats = idx.merge(rows({{"a", "h", 1, 500, 900}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 500 900} ]");
    EXPECT_EQ(stats.updated, 1u);
}

TEST(IndexMerge, NewerRowUnderAnotherNameMovesTheEndpoint) {
    index idx;
    idx.apply_ping("old", "h", 1, 100);
    const auto generation = idx.generation();
    idx.merge(rows({{"new", "h", 1, 300, 300}}), everything);
    EXPECT_EQ(contents(idx), "[ {new h:1 300 300} ]");
    EXPECT_NE(idx.generation(), generation) << "a move changes the generation";
    // An older row under the first name does not move it back.
    idx.merge(rows({{"old", "h", 1, 100, 200}}), everything);
    EXPECT_EQ(contents(idx), "[ {new h:1 300 300} ]");
}

TEST(IndexMerge, NewerRowWithAnotherFirstSeenReplacesIt) {
    // Deleted and pinged again elsewhere: first_seen restarted.
    index idx;
    idx.apply_ping("a", "h", 1, 100);
    idx.merge(rows({{"a", "h", 1, 700, 800}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 700 800} ]");
}

TEST(IndexMerge, TombstoneRemovesAnInstanceNotSeenSince) {
    index idx;
    idx.track_deletions(true);
    idx.apply_ping("a", "h", 1, 100);
    idx.apply_ping("a", "h", 2, 100);
    auto stats = idx.merge(tombstones({{url_at("h", 1), 100}, {url_at("h", 3), 50}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:2 100 100} ]") << "deleted_at equal to last_seen removes";
    EXPECT_EQ(stats.removed, 1u);
}

TEST(IndexMerge, TombstoneSparesAnInstanceSeenAfterTheDeletion) {
    index idx;
    idx.track_deletions(true);
    idx.apply_ping("a", "h", 1, 300);
    idx.merge(tombstones({{url_at("h", 1), 299}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 300 300} ]");
}

TEST(IndexMerge, RowInTheSameChangeSetAsItsTombstoneWins) {
    // The tombstones are read before the rows: a row read after them was pinged again after the
    // deletion, even when its clock says otherwise.
    index idx;
    idx.track_deletions(true);
    idx.apply_ping("a", "h", 1, 100);
    idx.merge({.rows = {{"b", "h", 1, 150, 150}}, .tombstones = {{url_at("h", 1), 200}}},
              everything);
    EXPECT_EQ(contents(idx), "[ {b h:1 150 150} ]");
    // And again in the next poll, which reads both once more.
    idx.merge({.rows = {{"b", "h", 1, 150, 150}}, .tombstones = {{url_at("h", 1), 200}}},
              everything);
    EXPECT_EQ(contents(idx), "[ {b h:1 150 150} ]");
}

TEST(IndexMerge, RowReadBeforeALocalUnregisterDoesNotBringItBack) {
    index idx;
    idx.track_deletions(true);
    idx.apply_ping("a", "h", 1, 100);
    // A poll reads the row, then this process unregisters the endpoint, then the poll merges.
    ASSERT_TRUE(idx.apply_unregister(url_at("h", 1), 90));
    idx.merge(rows({{"a", "h", 1, 100, 100}}), everything);
    EXPECT_EQ(contents(idx), "[ ]") << "the deletion counts from the instance's last_seen";
    // A ping after the deletion does come back.
    idx.merge(rows({{"a", "h", 1, 101, 101}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 101 101} ]");
}

TEST(IndexMerge, RowReadBeforeARemoteDeletionDoesNotBringItBack) {
    index idx;
    idx.track_deletions(true);
    idx.merge(tombstones({{url_at("h", 1), 500}}), everything);
    idx.merge(rows({{"a", "h", 1, 400, 480}}), everything);
    EXPECT_EQ(contents(idx), "[ ]");
}

TEST(IndexMerge, DeletionsAreForgottenOnceNoRowThatOldCanCome) {
    index idx;
    idx.track_deletions(true);
    idx.merge(tombstones({{url_at("h", 1), 500}}), everything);
    // The next change set reaches back to 600: the deletion at 500 is forgotten ...
    idx.merge(changes{}, 600);
    // ... which only matters for a row older than the poll's reach, that no poll returns, but
    // shows that nothing is kept.
    idx.merge(rows({{"a", "h", 1, 400, 480}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 400 480} ]");
}

TEST(IndexMerge, LocalPingAfterADeletionIsKept) {
    index idx;
    idx.track_deletions(true);
    idx.merge(tombstones({{url_at("h", 1), 500}}), everything);
    idx.apply_ping("a", "h", 1, 450);  // committed here after the remote delete
    idx.merge(rows({{"a", "h", 1, 450, 450}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 450 450} ]");
}

TEST(IndexMerge, WithoutTrackingNothingIsRemembered) {
    index idx;
    idx.apply_ping("a", "h", 1, 100);
    ASSERT_TRUE(idx.apply_unregister(url_at("h", 1), 200));
    idx.merge(rows({{"a", "h", 1, 100, 100}}), everything);
    EXPECT_EQ(contents(idx), "[ {a h:1 100 100} ]")
        << "a lone process keeps no deletions, and merges nothing in practice";
}

TEST(IndexMerge, ManyRowsKeepTheOrderOfNamesHostsAndPorts) {
    index idx;
    std::vector<instance_row> batch;
    for (int i = 0; i < 300; ++i) {
        batch.push_back({"svc." + std::to_string(i % 7), "10.0." + std::to_string(i % 5) + ".1",
                         static_cast<std::uint16_t>(1 + i), 10, 20});
    }
    idx.merge(rows(batch), everything);
    EXPECT_EQ(idx.size(), 300u);
    auto listed = idx.list(glob("*"));
    ASSERT_EQ(listed.size(), 300u);
    for (std::size_t i = 1; i < listed.size(); ++i) {
        const auto& x = listed[i - 1];
        const auto& y = listed[i];
        EXPECT_TRUE(std::tie(x.name, x.host, x.port) < std::tie(y.name, y.host, y.port))
            << "at " << i << ": " << show({x, y});
    }
    EXPECT_EQ(idx.locate(glob("svc.3"), 15).size(), 43u);
}

}  // namespace
