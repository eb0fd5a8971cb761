// The index's ordered name set against std::set: finds, ordered scans from any point, ids that
// stay with their names, leaves that split as names come and merge as they go, and the
// one-pass erase of pruning.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "servreg/registry/name_set.h"

namespace {

using servreg::registry::detail::name_entry;
using servreg::registry::detail::name_id;
using servreg::registry::detail::name_set;
using servreg::registry::detail::no_name;

std::vector<std::string> scanned(const name_set& names, const std::string& from = "",
                                 std::size_t limit = SIZE_MAX) {
    std::vector<std::string> out;
    names.scan_from(from, [&](const name_entry& e) {
        if (out.size() == limit) return false;
        out.emplace_back(e.name.view());
        return true;
    });
    return out;
}

std::vector<std::string> expected(const std::set<std::string>& model, const std::string& from = "",
                                  std::size_t limit = SIZE_MAX) {
    std::vector<std::string> out;
    for (auto it = model.lower_bound(from); it != model.end() && out.size() < limit; ++it) {
        out.push_back(*it);
    }
    return out;
}

// Names of a few lengths on both sides of the inline limit, sharing prefixes, so that the
// scans' starting points fall inside leaves, between them and past the end.
std::string random_name(std::mt19937& rng) {
    static const char* const stems[] = {"svc.", "svc.a.", "b", "orders.eu-west.", "z"};
    std::uniform_int_distribution<int> stem(0, 4);
    std::uniform_int_distribution<int> number(0, 99999);
    std::string name = stems[stem(rng)] + std::to_string(number(rng));
    if (number(rng) % 7 == 0) name += ".with-a-longer-tail-than-fifteen-bytes";
    return name;
}

TEST(NameSet, AgreesWithAnOrderedSetThroughInsertsAndErases) {
    std::mt19937 rng(20261207);
    name_set names;
    std::set<std::string> model;
    std::map<std::string, name_id> ids;
    for (int round = 0; round < 40; ++round) {
        const bool growing = round % 4 != 3;
        for (int op = 0; op < 1500; ++op) {
            const std::string name = random_name(rng);
            if (growing || model.empty()) {
                const auto [id, created] = names.insert(name);
                ASSERT_EQ(created, model.insert(name).second) << name;
                if (created) {
                    ids[name] = id;
                } else {
                    ASSERT_EQ(id, ids.at(name)) << "a name keeps its id: " << name;
                }
            } else {
                auto victim = model.lower_bound(name);
                if (victim == model.end()) victim = model.begin();
                names.erase(ids.at(*victim));
                ids.erase(*victim);
                model.erase(victim);
            }
        }
        ASSERT_EQ(names.size(), model.size()) << "round " << round;
        ASSERT_EQ(scanned(names), expected(model)) << "round " << round;
        for (int probe = 0; probe < 200; ++probe) {
            const std::string name = random_name(rng);
            const name_id id = names.find(name);
            ASSERT_EQ(id != no_name, model.contains(name)) << name;
            if (id != no_name) {
                ASSERT_EQ(names[id].name.view(), name);
            }
            ASSERT_EQ(scanned(names, name, 5), expected(model, name, 5)) << "from " << name;
        }
        for (const auto& [name, id] : ids) ASSERT_EQ(names[id].name.view(), name);
    }
}

TEST(NameSet, LeavesSplitAsNamesComeAndMergeAsTheyGo) {
    name_set names;
    std::vector<name_id> ids;
    std::vector<int> order(20000);
    for (int i = 0; i < 20000; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
    for (const int i : order) ids.push_back(names.insert("n" + std::to_string(i)).first);
    const std::size_t full = names.leaf_count();
    EXPECT_GE(full, 20000 / name_set::leaf_capacity + 1);
    EXPECT_LE(full, 20000 / (name_set::leaf_capacity / 2) + 1) << "split leaves stay half full";

    // An entry never moves: its address is the same after every split.
    const name_entry* first = &names[ids.front()];
    names.insert("n-after-all-the-splits");
    EXPECT_EQ(first, &names[ids.front()]);

    for (std::size_t k = 0; k + 10 < ids.size(); ++k) names.erase(ids[k]);
    EXPECT_EQ(names.size(), 11u);
    EXPECT_LE(names.leaf_count(), 3u) << "erased names give their leaves back (of " << full << ")";
    EXPECT_EQ(scanned(names).size(), 11u);

    // Freed ids are given out again before new ones.
    const name_id again = names.insert("reused").first;
    EXPECT_NE(std::find(ids.begin(), ids.end(), again), ids.end()) << again;
}

TEST(NameSet, AppendLoadsInOrderAndInsertsFitAroundIt) {
    name_set names;
    std::set<std::string> model;
    for (int i = 1000; i < 3000; ++i) {
        const std::string name = "svc." + std::to_string(i);
        names.append(servreg::registry::detail::compact_string(name));
        model.insert(name);
    }
    EXPECT_EQ(names.leaf_count(), (2000 + name_set::leaf_capacity - 1) / name_set::leaf_capacity)
        << "a load fills its leaves";
    for (const std::string name : {"a", "svc.1500x", "svc.2999.", "zzz", "svc.0"}) {
        EXPECT_TRUE(names.insert(name).second) << name;
        model.insert(name);
    }
    EXPECT_EQ(scanned(names), expected(model));
    EXPECT_NE(names.find("svc.2000"), no_name);
    EXPECT_EQ(names.find("svc.20000"), no_name);
}

TEST(NameSet, EraseIfRemovesInOnePassAndKeepsTheOrder) {
    name_set names;
    std::set<std::string> model;
    for (int i = 0; i < 5000; ++i) {
        const std::string name = "p." + std::to_string(i * 7919 % 5000);
        names.insert(name);
        model.insert(name);
    }
    const auto removed = names.erase_if([](name_entry& e) { return e.name.view().back() != '3'; });
    std::erase_if(model, [](const std::string& n) { return n.back() != '3'; });
    EXPECT_EQ(removed, 4500u);
    EXPECT_EQ(names.size(), model.size());
    EXPECT_EQ(scanned(names), expected(model));
    EXPECT_EQ(scanned(names, "p.4", 3), expected(model, "p.4", 3));
    EXPECT_NE(names.find("p.4993"), no_name);
    EXPECT_EQ(names.find("p.4994"), no_name);
    EXPECT_EQ(names.erase_if([](name_entry&) { return true; }), model.size());
    EXPECT_TRUE(names.empty());
    EXPECT_EQ(names.leaf_count(), 0u);
    EXPECT_TRUE(names.insert("fresh").second);
    EXPECT_EQ(scanned(names), std::vector<std::string>{"fresh"});
}

}  // namespace
