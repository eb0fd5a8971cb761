// Tests of write planning, the pure logic that orders a batch of writes by endpoint and leaves
// out the pings a later ping of the same name makes redundant. No database involved.
#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "servreg/storage/write_plan.h"

namespace {

using servreg::storage::write_op;
using servreg::storage::write_planner;
using servreg::storage::write_step;

write_op make_op(write_op::kind_t kind, std::string name, std::string host, std::uint16_t port,
                 std::int64_t now) {
    write_op op;
    op.kind = kind;
    op.name = std::move(name);
    op.host = std::move(host);
    op.port = port;
    op.now_ms = now;
    op.url = "http://" + op.host + ":" + std::to_string(port) + "/api";
    return op;
}

write_op ping(std::string name, std::string host, std::uint16_t port, std::int64_t now) {
    return make_op(write_op::kind_t::ping, std::move(name), std::move(host), port, now);
}

write_op unregister(std::string host, std::uint16_t port, std::int64_t now) {
    return make_op(write_op::kind_t::unregister, {}, std::move(host), port, now);
}

std::string describe(const std::vector<write_op>& ops) {
    std::ostringstream out;
    for (const auto& op : ops) {
        out << (op.kind == write_op::kind_t::ping ? "ping " + op.name + "@" : "unregister ")
            << op.host << ":" << op.port << " t=" << op.now_ms << "; ";
    }
    return out.str();
}

std::string describe(const std::vector<write_step>& steps) {
    std::ostringstream out;
    for (const auto& st : steps) {
        out << "{" << st.index << ", " << st.first_seen_ms << (st.stored_same ? ", same" : "")
            << "} ";
    }
    return out.str();
}

// Plans `ops` and compares the steps as (index, first_seen_ms) pairs.
void expect_plan(const std::vector<write_op>& ops,
                 const std::vector<std::pair<std::size_t, std::int64_t>>& want) {
    write_planner planner;
    const auto& steps = planner.plan(ops);
    std::vector<std::pair<std::size_t, std::int64_t>> got;
    for (const auto& st : steps) got.emplace_back(st.index, st.first_seen_ms);
    EXPECT_EQ(got, want) << "ops: " << describe(ops) << "\nsteps: " << describe(steps);
}

}  // namespace

TEST(WritePlan, EmptyBatchHasNoSteps) {
    expect_plan({}, {});
}

TEST(WritePlan, OrdersByUrl) {
    expect_plan({ping("a", "h2", 2, 10), ping("b", "h1", 2, 11), ping("c", "h9", 1, 12)},
                {{1, 11}, {0, 10}, {2, 12}});
}

TEST(WritePlan, KeepsEachEndpointsOwnOrder) {
    // The sort is stable: an endpoint's ops run in the order they came.
    expect_plan({ping("a", "h", 1, 10), unregister("h", 1, 11), ping("a", "h", 1, 12)},
                {{0, 10}, {1, 0}, {2, 12}});
}

TEST(WritePlan, RepeatedPingsOfOneNameBecomeOneCarryingTheFirstTime) {
    expect_plan({ping("a", "h", 1, 10), ping("a", "h", 1, 11), ping("a", "h", 1, 12)}, {{2, 10}});
}

TEST(WritePlan, ANameChangeEndsTheRun) {
    // The second name's first_seen restarts: the endpoint changed service.
    expect_plan({ping("a", "h", 1, 10), ping("a", "h", 1, 11), ping("b", "h", 1, 12),
                 ping("b", "h", 1, 13)},
                {{1, 10}, {3, 12}});
}

TEST(WritePlan, OtherEndpointsInBetweenDoNotMerge) {
    expect_plan({ping("a", "h", 1, 10), ping("a", "g", 1, 11), ping("a", "h", 1, 12)},
                {{1, 11}, {2, 10}});
}

TEST(WritePlan, UnregistersAreNeverLeftOut) {
    expect_plan({unregister("h", 1, 10), unregister("h", 1, 11)}, {{0, 0}, {1, 0}});
}

TEST(WritePlan, APlannerCanBeReused) {
    write_planner planner;
    const std::vector<write_op> first{ping("a", "h", 1, 10), ping("b", "g", 1, 11)};
    const std::vector<write_op> second{ping("c", "h", 3, 20)};
    EXPECT_EQ(planner.plan(first).size(), 2U) << describe(first);
    const auto& steps = planner.plan(second);
    ASSERT_EQ(steps.size(), 1U) << describe(second) << " -> " << describe(steps);
    EXPECT_EQ(steps[0].index, 0U) << describe(steps);
    EXPECT_EQ(steps[0].first_seen_ms, 20) << describe(steps);
}

TEST(WritePlan, StoredSameHoldsForTheFirstStepOfAUrlOnly) {
    // The caller judged each ping against the rows before the batch: a ping after another
    // write of its URL in the batch (here an unregister) cannot be taken as stored.
    auto vouched = [](write_op op) {
        op.stored_same = true;
        return op;
    };
    const std::vector<write_op> ops{vouched(ping("a", "h", 1, 10)), unregister("h", 1, 11),
                                    vouched(ping("a", "h", 1, 12)), vouched(ping("a", "g", 1, 13)),
                                    ping("b", "k", 1, 14)};
    write_planner planner;
    const auto& steps = planner.plan(ops);
    std::string same;
    for (const auto& st : steps) same += st.stored_same ? '1' : '0';
    // In URL order: g:1, h:1 (ping, unregister, ping), k:1.
    EXPECT_EQ(same, "11000") << "ops: " << describe(ops) << "\nsteps: " << describe(steps);
}
