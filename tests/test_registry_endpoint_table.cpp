// Tests of the index's URL table on its own: lookups through growth, and backward-shift
// deletion keeping every probe run reachable, with hashes chosen to collide.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "servreg/registry/endpoint_table.h"

namespace {

using servreg::registry::detail::endpoint_table;
using servreg::registry::detail::no_slot;
using servreg::registry::detail::slot_id;
using servreg::registry::detail::url_hash;

struct fake_instance {
    std::string url;
    std::uint32_t hash = 0;
    bool has_url(std::string_view u) const { return url == u; }
};

std::string url_of(const std::string& host, std::uint16_t port) {
    return "http://" + host + ":" + std::to_string(port) + "/api";
}

// What the table reads through `slots.slot(s)`: here a plain vector, slot id = position.
struct fake_slots {
    std::vector<fake_instance> instances;
    const fake_instance& slot(slot_id s) const { return instances[s]; }

    slot_id add(endpoint_table& table, std::string host, std::uint16_t port, std::uint32_t hash) {
        table.reserve_one(*this, live);
        instances.push_back({url_of(host, port), hash});
        const auto s = static_cast<slot_id>(instances.size() - 1);
        table.insert(*this, s);
        ++live;
        return s;
    }
    void erase(endpoint_table& table, slot_id s) {
        table.erase(*this, s);
        --live;
    }
    std::size_t live = 0;
};

std::string describe(const fake_instance& i) {
    std::ostringstream out;
    out << i.url << " (hash " << i.hash << ')';
    return out.str();
}

TEST(EndpointTable, EmptyTableFindsNothing) {
    const endpoint_table table;
    const fake_slots slots;
    EXPECT_EQ(table.find(slots, "a", url_hash("a")), no_slot);
}

TEST(EndpointTable, FindsEveryEndpointThroughGrowthAndNotOthers) {
    endpoint_table table;
    fake_slots slots;
    for (int i = 0; i < 1000; ++i) {
        const std::string host = "10.0." + std::to_string(i / 256) + "." + std::to_string(i % 256);
        const auto port = static_cast<std::uint16_t>(8000 + i % 7);
        slots.add(table, host, port, url_hash(url_of(host, port)));
    }
    EXPECT_GE(table.capacity(), 2 * slots.live) << "the table must stay at most half full";
    for (slot_id s = 0; s < slots.instances.size(); ++s) {
        const auto& i = slots.instances[s];
        EXPECT_EQ(table.find(slots, i.url, i.hash), s) << describe(i);
        // Another URL of the same host and port: a different instance.
        const std::string other = i.url + "/v2";
        EXPECT_EQ(table.find(slots, other, url_hash(other)), no_slot)
            << describe(i) << " looked up as " << other;
    }
}

// Every hash lands in a few homes, so that probe runs are long and wrap around the end of the
// table; erasing in random order must leave each remaining endpoint findable and each erased
// one gone.
TEST(EndpointTable, ErasingFromCollidingRunsKeepsTheRestFindable) {
    endpoint_table table;
    fake_slots slots;
    constexpr int count = 30;  // the table grows to 64 entries
    for (int i = 0; i < count; ++i) {
        // Homes 62, 63, 0, 1: runs cross the end of the table.
        const std::uint32_t hash = 62 + static_cast<std::uint32_t>(i % 4);
        slots.add(table, "h" + std::to_string(i), 1, hash);
    }
    ASSERT_EQ(table.capacity(), 64u);
    std::vector<slot_id> order(count);
    for (slot_id s = 0; s < count; ++s) order[s] = s;
    std::shuffle(order.begin(), order.end(), std::mt19937(42));
    std::vector<bool> erased(count, false);
    for (const slot_id gone : order) {
        slots.erase(table, gone);
        erased[gone] = true;
        for (slot_id s = 0; s < count; ++s) {
            const auto& i = slots.instances[s];
            EXPECT_EQ(table.find(slots, i.url, i.hash), erased[s] ? no_slot : s)
                << describe(i) << " after erasing " << describe(slots.instances[gone]);
        }
    }
}

TEST(EndpointTable, HashMixesThePortIntoTheLowBits) {
    // The table indexes by the low bits: URLs of ports one apart must not share them all.
    int same_home = 0;
    for (std::uint16_t port = 1; port < 1000; ++port) {
        const auto next = static_cast<std::uint16_t>(port + 1);
        if ((url_hash(url_of("h", port)) & 63) == (url_hash(url_of("h", next)) & 63)) {
            ++same_home;
        }
    }
    EXPECT_LT(same_home, 100) << "of 999 neighbouring ports, share a home in a 64-entry table";
}

}  // namespace
