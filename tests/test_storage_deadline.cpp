// The watchdog of database round trips (storage/deadline.h) on an injected time, without its
// thread: which calls it aborts and when, and what /health is told meanwhile.
#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "servreg/storage/deadline.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using storage::watchdog;

const std::string database = "postgresql database 'reg' on db:5432";

// A watchdog of 2 s without its thread, counting what it does, and a time to start from.
class Watchdog : public ::testing::Test {
protected:
    int aborts = 0;
    int timeouts = 0;
    int reconnects = 0;
    watchdog w{2000ms,
               {.on_timeout = [this] { ++timeouts; }, .on_reconnect = [this] { ++reconnects; }},
               false};
    const watchdog::clock::time_point t0 = watchdog::clock::now();

    watchdog::armed arm_counted() {
        return w.arm(
            database, [this] { ++aborts; }, 1, t0);
    }
};

TEST_F(Watchdog, AbortsACallAtItsDeadlineAndNotBefore) {
    auto armed = arm_counted();
    w.expire(t0 + 1999ms);
    EXPECT_EQ(aborts, 0);
    EXPECT_FALSE(armed.expired());
    w.expire(t0 + 2000ms);
    EXPECT_EQ(aborts, 1);
    EXPECT_EQ(timeouts, 1);
    EXPECT_TRUE(armed.expired());
    // Once only.
    w.expire(t0 + 5000ms);
    EXPECT_EQ(aborts, 1);
    armed.disarm();
    EXPECT_TRUE(armed.expired()) << "kept after disarm()";
}

TEST_F(Watchdog, ACallThatReturnedInTimeIsNeverAborted) {
    {
        auto armed = arm_counted();
        w.expire(t0 + 100ms);
    }
    w.expire(t0 + 10s);
    EXPECT_EQ(aborts, 0);
    EXPECT_EQ(timeouts, 0);
    EXPECT_EQ(w.late(t0 + 10s), std::nullopt);
}

TEST_F(Watchdog, EachCallHasItsOwnDeadlineAndMultiple) {
    int first = 0, second = 0, long_one = 0;
    auto a = w.arm(
        database, [&] { ++first; }, 1, t0);
    auto b = w.arm(
        database, [&] { ++second; }, 1, t0 + 1000ms);
    auto load = w.arm(
        database, [&] { ++long_one; }, 15, t0);
    w.expire(t0 + 2500ms);
    EXPECT_EQ((std::vector<int>{first, second, long_one}), (std::vector<int>{1, 0, 0}));
    w.expire(t0 + 3000ms);
    EXPECT_EQ((std::vector<int>{first, second, long_one}), (std::vector<int>{1, 1, 0}));
    w.expire(t0 + 30'000ms);
    EXPECT_EQ((std::vector<int>{first, second, long_one}), (std::vector<int>{1, 1, 1}));
    EXPECT_EQ(timeouts, 3);
}

TEST_F(Watchdog, HealthHearsOfACallLateByHalfTheDeadlineUntilOneIsAnswered) {
    auto armed = w.arm(database, {}, 1, t0);
    EXPECT_EQ(w.late(t0 + 1000ms), std::nullopt);
    EXPECT_EQ(w.late(t0 + 1200ms), database + " has not answered for 1.2 s");
    w.expire(t0 + 2000ms);
    armed.disarm();
    // The call came back (failed): the database still counts as hanging until one is answered.
    EXPECT_EQ(w.late(t0 + 2100ms), database + ": no answer within 2 s (--db-timeout)");
    auto next = w.arm(database, {}, 1, t0 + 2200ms);
    next.disarm();
    w.answered();
    EXPECT_EQ(w.late(t0 + 2300ms), std::nullopt);
}

TEST_F(Watchdog, ACallWithSeveralDeadlinesIsLateByHalfOfThemAll) {
    auto load = w.arm(database, {}, 15, t0);
    EXPECT_EQ(w.late(t0 + 14s), std::nullopt);
    EXPECT_EQ(w.late(t0 + 15500ms), database + " has not answered for 15.5 s");
}

TEST_F(Watchdog, TheOldestCallSpeaks) {
    const std::string other = "mysql database 'reg' on db:3306";
    auto young = w.arm(other, {}, 1, t0 + 400ms);
    auto old = w.arm(database, {}, 1, t0);
    EXPECT_EQ(w.late(t0 + 1300ms), database + " has not answered for 1.3 s");
}

TEST_F(Watchdog, ReconnectsAreCounted) {
    w.count_reconnect();
    w.count_reconnect();
    EXPECT_EQ(reconnects, 2);
}

TEST(WatchdogText, NoAnswerWithinSaysTheDeadline) {
    EXPECT_EQ(storage::no_answer_within(2000ms), "no answer within 2 s (--db-timeout)");
    EXPECT_EQ(storage::no_answer_within(500ms), "no answer within 0.5 s (--db-timeout)");
}

}  // namespace
}  // namespace servreg::test
