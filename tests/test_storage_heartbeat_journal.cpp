// Tests of the heartbeat journal's bookkeeping: which URLs a transaction folds, when a journal
// table may be emptied, and the bound on what waits. Pure logic: the clock is passed in, and a
// model of the two tables stands for the database.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "servreg/storage/heartbeat_journal.h"

namespace {

using namespace std::chrono_literals;
using servreg::storage::heartbeat_journal;
using clock_point = heartbeat_journal::clock::time_point;

std::string url_of(int n) {
    return "http://h:" + std::to_string(n) + "/api";
}

// One transaction: appends `pings` (URL, time), folds at `now`, commits.
std::vector<heartbeat_journal::heartbeat> commit(heartbeat_journal& j, clock_point now,
                                                 const std::vector<std::pair<int, int>>& pings) {
    j.begin();
    for (const auto& [n, at] : pings) j.appended(url_of(n), at);
    auto folded = j.fold_step(now);
    j.committed();
    return folded;
}

std::string describe(const std::vector<heartbeat_journal::heartbeat>& hs) {
    std::ostringstream out;
    for (const auto& h : hs) out << h.url << "@" << h.at_ms << " ";
    return out.str();
}

TEST(HeartbeatJournal, ASweepFoldsEachUrlOnceWithItsLatestTime) {
    heartbeat_journal j;
    const clock_point t0{};
    commit(j, t0, {{1, 10}, {2, 10}, {1, 20}});
    commit(j, t0, {{1, 30}, {3, 30}});  // pending now 1@30, 2@10, 3@30
    std::map<std::string, std::int64_t> folded;
    for (int step = 0; step < 10 && j.pending() > 0; ++step) {
        for (const auto& h : commit(j, t0, {})) {
            EXPECT_FALSE(folded.contains(h.url)) << h.url << " folded twice";
            folded[h.url] = h.at_ms;
        }
    }
    EXPECT_EQ(folded, (std::map<std::string, std::int64_t>{
                          {url_of(1), 30}, {url_of(2), 10}, {url_of(3), 30}}));
}

TEST(HeartbeatJournal, EachTransactionFoldsItsShareOfTheSweepPeriod) {
    heartbeat_journal j({.sweep_period = 1000ms, .max_pending = 1000, .max_fold = 8});
    std::vector<std::pair<int, int>> pings;
    for (int n = 0; n < 100; ++n) pings.emplace_back(n, 1);
    clock_point now{};
    commit(j, now, pings);
    // 100 pending, a transaction every 20 ms of a 1 s sweep: two each.
    now += 20ms;
    EXPECT_EQ(commit(j, now, {}).size(), 2u);
    // Long after the last transaction, no more than max_fold at once.
    now += 10s;
    EXPECT_EQ(commit(j, now, {}).size(), 8u);
    // However close together, a transaction folds one at least.
    EXPECT_EQ(commit(j, now, {}).size(), 1u);
}

TEST(HeartbeatJournal, TheTableOfTheSweepBeforeIsEmptiedWhenASweepEnds) {
    heartbeat_journal j;
    const clock_point t0{};
    EXPECT_EQ(j.active_table(), 0);
    // Nothing pending: the sweep ends at once; table 0 got a row, so table 1 is active next.
    j.begin();
    j.appended(url_of(1), 10);
    j.fold_step(t0);
    EXPECT_EQ(j.table_to_empty(), -1) << "table 1 holds nothing";
    j.committed();
    EXPECT_EQ(j.active_table(), 1);
    // This sweep folds url 1 and ends: table 0's rows are all folded and it is emptied.
    j.begin();
    j.appended(url_of(1), 20);
    EXPECT_EQ(describe(j.fold_step(t0)), url_of(1) + "@10 ");
    EXPECT_EQ(j.table_to_empty(), 0);
    j.committed();
    EXPECT_EQ(j.active_table(), 0);
    EXPECT_EQ(j.pending(), 1u) << "the ping of this transaction waits in table 1";
}

TEST(HeartbeatJournal, FoldingTheFirstUrlsEndsInBothTablesEmptied) {
    heartbeat_journal j;
    const clock_point t0{};
    commit(j, t0, {{1, 10}, {2, 20}, {3, 30}});
    j.begin();
    EXPECT_EQ(describe(j.fold_first(2)), url_of(1) + "@10 " + url_of(2) + "@20 ");
    EXPECT_FALSE(j.folds_all());
    j.committed();
    EXPECT_EQ(j.pending(), 1u);
    j.begin();
    EXPECT_EQ(describe(j.fold_first(2)), url_of(3) + "@30 ");
    EXPECT_TRUE(j.folds_all()) << "the caller empties both tables";
    j.committed();
    EXPECT_EQ(j.pending(), 0u);
    EXPECT_EQ(j.active_table(), 0);
}

TEST(HeartbeatJournal, AFailedAttemptLeavesNothingBehind) {
    heartbeat_journal j;
    const clock_point t0{};
    commit(j, t0, {{1, 10}});
    j.begin();
    j.appended(url_of(2), 20);
    EXPECT_EQ(describe(j.fold_step(t0)), url_of(1) + "@10 ");
    // The transaction failed; its retry appends nothing and folds the same.
    j.begin();
    EXPECT_EQ(describe(j.fold_step(t0)), url_of(1) + "@10 ");
    j.committed();
    EXPECT_EQ(j.pending(), 0u) << "url 2's row was rolled back: nothing of it waits";
}

TEST(HeartbeatJournal, AcceptsNoNewUrlBeyondItsBound) {
    heartbeat_journal j({.sweep_period = 1000ms, .max_pending = 2, .max_fold = 8});
    j.begin();
    j.appended(url_of(1), 10);
    EXPECT_TRUE(j.accepts(url_of(2)));
    j.appended(url_of(2), 10);
    EXPECT_FALSE(j.accepts(url_of(3))) << "two wait already";
    j.committed();
    EXPECT_FALSE(j.accepts(url_of(3)));
    EXPECT_TRUE(j.accepts(url_of(1))) << "a URL that waits takes more pings";
}

// Random transactions against a model of the two tables: whenever a table is emptied, every
// row it held has been folded with a time at least its own, and whatever was never emptied is
// still in a table or folded.
TEST(HeartbeatJournal, NoTableIsEmptiedBeforeEachOfItsRowsIsFolded) {
    for (unsigned seed = 1; seed <= 20; ++seed) {
        std::mt19937 rng(seed);
        heartbeat_journal j({.sweep_period = 200ms, .max_pending = 24, .max_fold = 5});
        std::vector<std::pair<std::string, std::int64_t>> tables[2];
        std::map<std::string, std::int64_t> folded;
        std::vector<std::pair<std::string, std::int64_t>> written;  // every committed ping
        clock_point now{};
        std::int64_t at = 0;
        for (int step = 0; step < 400; ++step) {
            now += std::chrono::milliseconds(rng() % 50);
            j.begin();
            std::vector<std::pair<std::string, std::int64_t>> appended;
            for (unsigned k = rng() % 6; k > 0; --k) {
                const std::string url = url_of(static_cast<int>(rng() % 40));
                if (!j.accepts(url)) continue;  // written in place: not the journal's
                j.appended(url, ++at);
                appended.emplace_back(url, at);
            }
            // Now and then a transaction of the writer's pause instead: the first URLs only.
            const bool first = appended.empty() && rng() % 4 == 0;
            const auto folding = first ? j.fold_first(rng() % 10 + 1) : j.fold_step(now);
            const int emptied = first ? (j.folds_all() ? 2 : -1) : j.table_to_empty();
            if (rng() % 5 == 0) continue;  // rolled back
            const int table = j.active_table();
            j.committed();
            for (const auto& h : folding) {
                folded[h.url] = std::max(folded[h.url], h.at_ms);
            }
            tables[table].insert(tables[table].end(), appended.begin(), appended.end());
            written.insert(written.end(), appended.begin(), appended.end());
            for (int t = 0; t < 2; ++t) {
                if (emptied != t && emptied != 2) continue;  // 2: both
                for (const auto& [url, row_at] : tables[t]) {
                    ASSERT_GE(folded[url], row_at)
                        << "seed " << seed << " step " << step << ": " << url << "@" << row_at
                        << " emptied from table " << t << " before it was folded";
                }
                tables[t].clear();
            }
        }
        for (const auto& [url, row_at] : written) {
            bool kept = folded[url] >= row_at;
            for (const auto& t : tables) {
                for (const auto& row : t) kept = kept || row == std::pair{url, row_at};
            }
            EXPECT_TRUE(kept) << "seed " << seed << ": " << url << "@" << row_at << " lost";
        }
    }
}

}  // namespace
