// The restart grace (SPEC section 5), applied to the instances loaded at start-up before they go
// into the index.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
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

// The grace given to `rows` loaded at `now`, and each host's last_seen in the index after it.
struct graced {
    registry::restart_grace grace;
    std::map<std::string, std::int64_t> last_seen;
};

graced load(const std::vector<instance_row>& rows, std::int64_t now) {
    registry::index::loader loaded;
    // In two chunks, as the database hands them over.
    const std::size_t half = rows.size() / 2;
    loaded.take(std::span(rows).first(half));
    loaded.take(std::span(rows).subspan(half));
    graced out{apply_restart_grace(loaded, now, ttl, prune_after), {}};
    registry::index idx;
    idx.reset(loaded);
    for (const auto& r : idx.list(registry::glob("*"))) out.last_seen[r.host] = r.last_seen_ms;
    return out;
}

TEST(RestartGrace, AfterADowntimeTheInstancesAliveThenGetOneTtlFromTheStart) {
    // Down at 1,000,000 ms; started again 10 minutes later.
    const std::int64_t down = 1'000'000, now = down + 600'000;
    const auto got =
        load({row("newest", down), row("alive", down - 59'000), row("edge", down - 60'000),
              row("dead", down - 61'000), row("long dead", down - 3'600'000)},
             now);
    EXPECT_EQ(got.grace.instances, 3u);
    EXPECT_EQ(got.grace.newest_ms, down);
    EXPECT_EQ(got.grace.until_ms, now + 60'000);
    EXPECT_EQ(got.last_seen,
              (std::map<std::string, std::int64_t>{{"newest", now},
                                                   {"alive", now},
                                                   {"edge", now},
                                                   {"dead", down - 61'000},
                                                   {"long dead", down - 3'600'000}}));
}

TEST(RestartGrace, NothingChangesWhenTheNewestPingIsFresh) {
    // Another process kept the database up, or the restart was quick.
    const std::int64_t now = 5'000'000;
    const auto got = load({row("fresh", now - 60'000), row("dead", now - 200'000)}, now);
    EXPECT_EQ(got.grace.instances, 0u);
    EXPECT_EQ(got.grace.until_ms, 0);
    EXPECT_EQ(got.grace.newest_ms, now - 60'000);
    EXPECT_EQ(got.last_seen, (std::map<std::string, std::int64_t>{{"fresh", now - 60'000},
                                                                  {"dead", now - 200'000}}));
}

TEST(RestartGrace, AnEmptyRegistryNeedsNone) {
    const auto got = load({}, 1'000'000);
    EXPECT_EQ(got.grace.instances, 0u);
    EXPECT_EQ(got.grace.newest_ms, 0);
    EXPECT_EQ(got.grace.until_ms, 0);
}

TEST(RestartGrace, RowsThePruneWillDeleteGetNone) {
    // Down for more than the prune age: the first prune deletes these rows from the database,
    // so they must not live on in memory.
    const std::int64_t down = 1'000'000'000, now = down + 25 * 3'600'000LL;
    const auto got = load({row("a", down), row("b", down - 1000)}, now);
    EXPECT_EQ(got.grace.instances, 0u);
    EXPECT_EQ(got.grace.until_ms, 0);
    EXPECT_EQ(got.last_seen,
              (std::map<std::string, std::int64_t>{{"a", down}, {"b", down - 1000}}));
}

TEST(RestartGrace, AClockThatWentBackwardsIsNoDowntime) {
    const std::int64_t now = 1'000'000;
    const auto got = load({row("future", now + 120'000)}, now);
    EXPECT_EQ(got.grace.instances, 0u);
    EXPECT_EQ(got.last_seen, (std::map<std::string, std::int64_t>{{"future", now + 120'000}}));
}

}  // namespace
}  // namespace servreg::test
