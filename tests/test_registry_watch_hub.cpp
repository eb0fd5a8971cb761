// The watch hub's semantics (SPEC 4.2) on a real index and a manual clock: the index changes
// when, and only when, the answer changes (expiry and coming back included), never goes back,
// a waiting call is answered by a change, an expiry, its wait running out or the hub's stop.
// No thread: the tests call run_due() where the hub's thread would.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "manual_clock.h"
#include "servreg/registry/watch_hub.h"

namespace servreg::test {
namespace {

using registry::endpoint;
using registry::glob;
using registry::metadata;
using registry::watch_answer;
using registry::watch_hub;
using namespace std::chrono_literals;

constexpr std::int64_t ttl_ms = 60'000;

std::string show(const std::optional<watch_answer>& a) {
    if (!a) return "(no answer)";
    std::string out = "index " + std::to_string(a->index) + ", [";
    for (const auto& e : *a->instances) out += " " + e.host + ":" + std::to_string(e.port) + e.url;
    return out + " ]";
}

class WatchHub : public ::testing::Test {
protected:
    // One call; `answer` is set when (and if) it is answered.
    struct call {
        std::optional<watch_answer> answer;
        watch_hub::ticket ticket = 0;
    };

    // The call lives as long as the test's hub, which answers it at the latest when stopped.
    call* watch(std::string pattern, std::uint64_t known, std::chrono::milliseconds wait = 30s,
                metadata filter = {}) {
        call* c = calls.emplace_back(std::make_unique<call>()).get();
        c->ticket = hub.watch(glob(pattern), filter, known, wait, nullptr,
                              [c](watch_answer a) { c->answer = std::move(a); });
        return c;
    }
    // The current answer, from a call that does not wait.
    watch_answer now(std::string pattern, metadata filter = {}) {
        auto c = watch(std::move(pattern), 0, 0ms, std::move(filter));
        EXPECT_TRUE(c->answer);
        return *c->answer;
    }
    // An instance pinged now, the answer with it, and a call waiting 600 s on that answer.
    struct alive_watch {
        std::int64_t t0;
        watch_answer alive;
        call* w;
    };
    alive_watch watch_one_alive() {
        const std::int64_t t0 = clock.now_ms();
        ping("billing.a", "10.0.0.1", 80);
        auto alive = now("billing.*");
        return {t0, alive, watch("billing.*", alive.index, 600s)};
    }
    void ping(std::string name, std::string host, std::uint16_t port) {
        idx.apply_ping(name, host, port, clock.now_ms());
    }

    std::vector<std::unique_ptr<call>> calls;
    manual_clock clock;
    registry::index idx;
    watch_hub hub{idx, clock, std::chrono::milliseconds(ttl_ms)};

    void SetUp() override { idx.observe(&hub, ttl_ms); }
    void TearDown() override { idx.observe(nullptr, 0); }
};

TEST_F(WatchHub, AnswersAtOnceForAnOtherIndexAndWaitsForTheCurrentOne) {
    ping("billing.a", "10.0.0.1", 80);
    const auto first = watch("billing.*", 0);
    ASSERT_TRUE(first->answer) << "index 0 is never current: answered at once";
    EXPECT_GT(first->answer->index, 0u);
    EXPECT_EQ(*first->answer->instances, (std::vector<endpoint>{{"10.0.0.1", 80, {}}}));
    EXPECT_EQ(first->ticket, 0u);

    const auto stale = watch("billing.*", first->answer->index - 1);
    ASSERT_TRUE(stale->answer) << "an index that is not the current one is answered at once";
    EXPECT_EQ(stale->answer->index, first->answer->index);

    const auto held = watch("billing.*", first->answer->index);
    EXPECT_FALSE(held->answer) << show(held->answer);
    EXPECT_NE(held->ticket, 0u);
    EXPECT_EQ(hub.waiting(), 1u);
    hub.run_due();
    EXPECT_FALSE(held->answer) << "nothing changed: " << show(held->answer);
}

TEST_F(WatchHub, ChangesOfTheAnswerWakeItsWatchersAndNothingElseDoes) {
    ping("billing.a", "10.0.0.1", 80);
    auto index = now("billing.*").index;
    std::uint64_t last = index;

    // Each step changes the answer of billing.* and must wake a watcher with a later index.
    const auto expect_wakes = [&](const char* what, auto change, std::vector<endpoint> expected) {
        const auto w = watch("billing.*", index);
        ASSERT_FALSE(w->answer) << what << ": answered before the change " << show(w->answer);
        clock.advance(1);
        change();
        hub.run_due();
        ASSERT_TRUE(w->answer) << what << ": the watcher was not woken";
        EXPECT_GT(w->answer->index, last) << what << ": the index must grow";
        EXPECT_EQ(*w->answer->instances, expected) << what << ": " << show(w->answer);
        index = last = w->answer->index;
    };
    expect_wakes("a new instance", [&] { ping("billing.b", "10.0.0.2", 81); },
                 {{"10.0.0.1", 80, {}}, {"10.0.0.2", 81, {}}});
    expect_wakes("a drain",
                 [&] { idx.apply_drain(registry::url_of("10.0.0.2", 81), true, clock.now_ms()); },
                 {{"10.0.0.1", 80, {}}});
    expect_wakes("an undrain",
                 [&] { idx.apply_drain(registry::url_of("10.0.0.2", 81), false, clock.now_ms()); },
                 {{"10.0.0.1", 80, {}}, {"10.0.0.2", 81, {}}});
    expect_wakes("a ping by URL",
                 [&] {
                     idx.apply_ping("billing.b",
                                    *registry::address_of_url("http://10.0.0.2:81/api"), nullptr,
                                    clock.now_ms());
                 },
                 {{"10.0.0.1", 80, {}}, {{}, 81, "http://10.0.0.2:81/api"}});
    expect_wakes("an unregister",
                 [&] { idx.apply_unregister(registry::url_of("10.0.0.2", 81), clock.now_ms()); },
                 {{"10.0.0.1", 80, {}}});
    expect_wakes("a move to another name", [&] { ping("orders.a", "10.0.0.1", 80); }, {});

    // Heartbeats, and changes of other services, wake nobody and leave the index alone.
    ping("billing.c", "10.0.0.3", 80);
    index = now("billing.*").index;
    const auto w = watch("billing.*", index);
    clock.advance(5'000);
    ping("billing.c", "10.0.0.3", 80);
    ping("orders.b", "10.0.0.9", 80);
    hub.run_due();
    EXPECT_FALSE(w->answer) << "a heartbeat or another service's change woke it: "
                            << show(w->answer);
    EXPECT_EQ(now("billing.*").index, index);
}

TEST_F(WatchHub, MetadataChangesWakeWatchersOfAFilter) {
    metadata blue{{"colour", "blue"}};
    idx.apply_ping("api", registry::address_of("10.0.0.1", 80), &blue, clock.now_ms());
    const auto before = now("api", blue);
    ASSERT_EQ(before.instances->size(), 1u);
    const auto w = watch("api", before.index, 30s, blue);
    metadata green{{"colour", "green"}};
    clock.advance(1);
    idx.apply_ping("api", registry::address_of("10.0.0.1", 80), &green, clock.now_ms());
    hub.run_due();
    ASSERT_TRUE(w->answer);
    EXPECT_TRUE(w->answer->instances->empty()) << show(w->answer);
    EXPECT_GT(w->answer->index, before.index);
}

TEST_F(WatchHub, ExpiryAtTheTtlIsAnEventAndSoIsComingBack) {
    const auto [t0, alive, w] = watch_one_alive();
    // The hub knows when the answer changes by itself: at last_seen + ttl, plus the one
    // millisecond after which the instance is no longer alive.
    EXPECT_EQ(hub.run_due(), t0 + ttl_ms + 1);
    clock.set(t0 + ttl_ms);
    hub.run_due();
    EXPECT_FALSE(w->answer) << "still alive at exactly the TTL: " << show(w->answer);
    clock.set(t0 + ttl_ms + 1);
    hub.run_due();
    ASSERT_TRUE(w->answer) << "the expiry did not wake the watcher";
    EXPECT_TRUE(w->answer->instances->empty()) << show(w->answer);
    EXPECT_GT(w->answer->index, alive.index);

    // A ping of the dead instance brings it back: a change, though the index's structure is
    // the same (only last_seen moved).
    const auto dead = *w->answer;
    const auto back = watch("billing.*", dead.index);
    clock.advance(10'000);
    ping("billing.a", "10.0.0.1", 80);
    hub.run_due();
    ASSERT_TRUE(back->answer) << "coming back did not wake the watcher";
    EXPECT_EQ(back->answer->instances->size(), 1u) << show(back->answer);
    EXPECT_GT(back->answer->index, dead.index);
}

TEST_F(WatchHub, AHeartbeatMovesTheExpiryOnWithoutWakingAnyone) {
    const auto [t0, alive, w] = watch_one_alive();
    clock.set(t0 + 30'000);
    ping("billing.a", "10.0.0.1", 80);
    clock.set(t0 + ttl_ms + 1);
    EXPECT_EQ(hub.run_due(), t0 + 30'000 + ttl_ms + 1) << "the next check is at the new expiry";
    EXPECT_FALSE(w->answer) << show(w->answer);
}

TEST_F(WatchHub, AWaitThatRunsOutAnswersTheSameIndex) {
    ping("billing.a", "10.0.0.1", 80);
    const auto current = now("billing.*");
    const auto w = watch("billing.*", current.index, 5s);
    clock.advance(4'999);
    hub.run_due();
    EXPECT_FALSE(w->answer) << show(w->answer);
    clock.advance(1);
    hub.run_due();
    ASSERT_TRUE(w->answer);
    EXPECT_EQ(w->answer->index, current.index);
    EXPECT_EQ(*w->answer->instances, *current.instances);
    EXPECT_EQ(hub.waiting(), 0u);
}

TEST_F(WatchHub, OneChangeAnswersEveryWatcherOfThePattern) {
    ping("billing.a", "10.0.0.1", 80);
    const auto index = now("billing.*").index;
    std::vector<call*> all;
    for (int i = 0; i < 1000; ++i) all.push_back(watch("billing.*", index));
    const auto other = watch("orders.*", now("orders.*").index);
    EXPECT_EQ(hub.waiting(), 1001u);
    clock.advance(1);
    ping("billing.b", "10.0.0.2", 80);
    hub.run_due();
    for (const call* c : all) {
        ASSERT_TRUE(c->answer);
        ASSERT_EQ(c->answer->instances->size(), 2u) << show(c->answer);
    }
    EXPECT_FALSE(other->answer) << "a watcher of another pattern was woken";
    EXPECT_EQ(hub.waiting(), 1u);
}

TEST_F(WatchHub, ACancelledCallIsNeverAnswered) {
    ping("billing.a", "10.0.0.1", 80);
    const auto w = watch("billing.*", now("billing.*").index);
    hub.cancel(w->ticket);
    EXPECT_EQ(hub.waiting(), 0u);
    clock.advance(1);
    ping("billing.b", "10.0.0.2", 80);
    hub.run_due();
    EXPECT_FALSE(w->answer) << show(w->answer);
}

TEST_F(WatchHub, StopAnswersWaitingCallsAndEveryLaterOneAtOnce) {
    ping("billing.a", "10.0.0.1", 80);
    const auto index = now("billing.*").index;
    const auto w = watch("billing.*", index, 600s);
    hub.stop();
    ASSERT_TRUE(w->answer) << "stop() left a waiting call unanswered";
    EXPECT_EQ(w->answer->index, index);
    const auto later = watch("billing.*", index, 600s);
    ASSERT_TRUE(later->answer) << "a call after stop() waited";
    EXPECT_EQ(hub.waiting(), 0u);
}

// A restarted registry (a new hub over the same instances, later) never gives a smaller
// index, keeps a client's index while the answer is the same, and gives a greater one once
// it differs.
TEST_F(WatchHub, IndexesNeverGoBackAcrossARestart) {
    ping("billing.a", "10.0.0.1", 80);
    const auto before = now("billing.*");

    clock.advance(90'000);  // down for longer than the TTL; restart grace keeps it alive
    ping("billing.a", "10.0.0.1", 80);
    watch_hub restarted(idx, clock, std::chrono::milliseconds(ttl_ms));
    std::optional<watch_answer> kept;
    const auto t = restarted.watch(glob("billing.*"), {}, before.index, 30s, nullptr,
                                   [&](watch_answer a) { kept = std::move(a); });
    EXPECT_NE(t, 0u) << "the same answer under the client's index must wait: " << show(kept);
    restarted.stop();
    ASSERT_TRUE(kept);
    EXPECT_EQ(kept->index, before.index);

    ping("billing.b", "10.0.0.2", 80);
    watch_hub again(idx, clock, std::chrono::milliseconds(ttl_ms));
    std::optional<watch_answer> changed;
    again.watch(glob("billing.*"), {}, before.index, 30s, nullptr,
                [&](watch_answer a) { changed = std::move(a); });
    ASSERT_TRUE(changed) << "a different answer is answered at once";
    EXPECT_GT(changed->index, before.index);
    EXPECT_EQ(changed->instances->size(), 2u);
}

TEST_F(WatchHub, AnIndexFromAnotherProcessForTheSameAnswerIsKept) {
    ping("billing.a", "10.0.0.1", 80);
    const auto mine = now("billing.*");
    // Another process's index for the same answer: later time, same digest.
    const std::uint64_t theirs =
        mine.index + (std::uint64_t{250} << registry::watch_index::digest_bits);
    const auto w = watch("billing.*", theirs);
    EXPECT_FALSE(w->answer) << "the same answer under a later index must wait: " << show(w->answer);
    EXPECT_EQ(now("billing.*").index, theirs);
    clock.advance(1);
    ping("billing.b", "10.0.0.2", 80);
    hub.run_due();
    ASSERT_TRUE(w->answer);
    EXPECT_GT(w->answer->index, theirs);
}

// A state nobody waits on keeps only its answer's hash: a call after a change gets the new
// answer whole, with a new index.
TEST_F(WatchHub, ACallAfterAChangeNobodyWaitedForGetsTheNewAnswer) {
    const auto before = now("billing.*");
    ASSERT_TRUE(before.instances && before.instances->empty());
    clock.advance(1);
    ping("billing.a", "10.0.0.1", 80);
    const auto after = now("billing.*");
    ASSERT_TRUE(after.instances) << "answered without instances";
    EXPECT_EQ(*after.instances, (std::vector<endpoint>{{"10.0.0.1", 80, {}}}));
    EXPECT_GT(after.index, before.index);
    const auto w = watch("billing.*", before.index);
    ASSERT_TRUE(w->answer && w->answer->instances) << "a stale index is answered at once, whole";
    EXPECT_EQ(w->answer->instances->size(), 1u);
}

// Another process's changes, merged into the index, wake watchers as local ones do.
TEST_F(WatchHub, MergedChangesOfAnotherProcessWakeWatchers) {
    idx.track_deletions(true);
    const auto before = now("billing.*");
    const auto w = watch("billing.*", before.index);
    clock.advance(1);
    storage::changes c;
    c.rows.push_back({.name = "billing.a",
                      .host = "10.0.0.1",
                      .port = 80,
                      .first_seen_ms = clock.now_ms(),
                      .last_seen_ms = clock.now_ms(),
                      .url = "http://10.0.0.1:80/api",
                      .changed_ms = clock.now_ms()});
    idx.merge(c, 0);
    hub.run_due();
    ASSERT_TRUE(w->answer) << "a merged row did not wake the watcher";
    EXPECT_EQ(w->answer->instances->size(), 1u) << show(w->answer);
    const auto again = now("billing.*");
    EXPECT_EQ(again.index, w->answer->index);
}

TEST(WatchIndex, TheDigestTellsAnswersApart) {
    using registry::watch_index::digest;
    const std::vector<endpoint> a{{"10.0.0.1", 80, {}}};
    const std::vector<endpoint> b{{"10.0.0.1", 81, {}}};
    const std::vector<endpoint> c{{{}, 80, "http://10.0.0.1:80/api"}};
    EXPECT_EQ(digest(a), digest(std::vector<endpoint>{{"10.0.0.1", 80, {}}}));
    EXPECT_NE(digest(a), digest(b));
    EXPECT_NE(digest(a), digest(c));
    EXPECT_NE(digest(a), digest({}));
    EXPECT_LE(digest(a), registry::watch_index::digest_mask);
}

}  // namespace
}  // namespace servreg::test
