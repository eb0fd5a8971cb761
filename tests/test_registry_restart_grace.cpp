// The restart grace (SPEC section 5) as a pure function of the rows loaded at start-up.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

#include "servreg/registry/restart_grace.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using registry::apply_restart_grace;
using storage::instance_row;

constexpr auto ttl = 60s;
constexpr auto prune_after = 24h;

instance_row row(const std::string& host, std::int64_t last_seen_ms) {
    return {
        .name = "svc", .host = host, .port = 1, .first_seen_ms = 0, .last_seen_ms = last_seen_ms};
}

std::vector<std::int64_t> last_seen(const std::vector<instance_row>& rows) {
    std::vector<std::int64_t> out;
    for (const auto& r : rows) out.push_back(r.last_seen_ms);
    return out;
}

TEST(RestartGrace, AfterADowntimeTheInstancesAliveThenGetOneTtlFromTheStart) {
    // Down at 1,000,000 ms; started again 10 minutes later.
    const std::int64_t down = 1'000'000, now = down + 600'000;
    std::vector<instance_row> rows{row("newest", down), row("alive", down - 59'000),
                                   row("edge", down - 60'000), row("dead", down - 61'000),
                                   row("long dead", down - 3'600'000)};
    const auto grace = apply_restart_grace(rows, now, ttl, prune_after);
    EXPECT_EQ(grace.instances, 3u);
    EXPECT_EQ(grace.newest_ms, down);
    EXPECT_EQ(grace.until_ms, now + 60'000);
    EXPECT_EQ(last_seen(rows),
              (std::vector<std::int64_t>{now, now, now, down - 61'000, down - 3'600'000}));
}

TEST(RestartGrace, NothingChangesWhenTheNewestPingIsFresh) {
    // Another process kept the database up, or the restart was quick.
    const std::int64_t now = 5'000'000;
    std::vector<instance_row> rows{row("fresh", now - 60'000), row("dead", now - 200'000)};
    const auto before = last_seen(rows);
    const auto grace = apply_restart_grace(rows, now, ttl, prune_after);
    EXPECT_EQ(grace.instances, 0u);
    EXPECT_EQ(grace.until_ms, 0);
    EXPECT_EQ(grace.newest_ms, now - 60'000);
    EXPECT_EQ(last_seen(rows), before);
}

TEST(RestartGrace, AnEmptyRegistryNeedsNone) {
    std::vector<instance_row> rows;
    const auto grace = apply_restart_grace(rows, 1'000'000, ttl, prune_after);
    EXPECT_EQ(grace.instances, 0u);
    EXPECT_EQ(grace.newest_ms, 0);
}

TEST(RestartGrace, RowsThePruneWillDeleteGetNone) {
    // Down for more than the prune age: the first prune deletes these rows from the database,
    // so they must not live on in memory.
    const std::int64_t down = 1'000'000'000, now = down + 25 * 3'600'000LL;
    std::vector<instance_row> rows{row("a", down), row("b", down - 1000)};
    const auto grace = apply_restart_grace(rows, now, ttl, prune_after);
    EXPECT_EQ(grace.instances, 0u);
    EXPECT_EQ(grace.until_ms, 0);
    EXPECT_EQ(last_seen(rows), (std::vector<std::int64_t>{down, down - 1000}));
}

TEST(RestartGrace, AClockThatWentBackwardsIsNoDowntime) {
    const std::int64_t now = 1'000'000;
    std::vector<instance_row> rows{row("future", now + 120'000)};
    EXPECT_EQ(apply_restart_grace(rows, now, ttl, prune_after).instances, 0u);
    EXPECT_EQ(rows[0].last_seen_ms, now + 120'000);
}

}  // namespace
}  // namespace servreg::test
