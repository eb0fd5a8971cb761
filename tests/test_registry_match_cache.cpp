// Tests of the index's match cache on its own: an entry holds for its names generation only,
// and the bounds on patterns and names empty it rather than let it grow.
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/registry/match_cache.h"

namespace {

using servreg::registry::glob;
using servreg::registry::detail::match_cache;
using servreg::registry::detail::member_list;
using servreg::registry::detail::name_map;

// Names "n0" ... "n<count-1>" and what a list of them points to.
struct names_fixture {
    name_map names;
    explicit names_fixture(int count) {
        for (int i = 0; i < count; ++i) names.emplace("n" + std::to_string(i), member_list{});
    }
    match_cache::matched_names all() const {
        match_cache::matched_names out;
        for (const auto& entry : names) out.push_back(&entry);
        return out;
    }
};

std::string describe(const std::shared_ptr<const match_cache::matched_names>& found) {
    if (!found) return "nothing remembered";
    std::string out = std::to_string(found->size()) + " names:";
    for (const auto* entry : *found) out += " " + entry->first;
    return out;
}

TEST(MatchCache, ForgetsNothingItWasNotTold) {
    match_cache cache;
    EXPECT_EQ(cache.remembered(glob("*.42.*"), 0), nullptr);
}

TEST(MatchCache, ReturnsWhatWasRememberedForTheSamePatternAndGeneration) {
    const names_fixture f(3);
    match_cache cache;
    cache.remember(glob("n*"), 7, f.all());
    const auto found = cache.remembered(glob("n*"), 7);
    ASSERT_NE(found, nullptr) << "pattern n* at generation 7";
    EXPECT_EQ(*found, f.all()) << describe(found);
    EXPECT_EQ(cache.remembered(glob("*n"), 7), nullptr) << "another pattern";
}

TEST(MatchCache, ANewNamesGenerationHidesAndThenDropsOldEntries) {
    const names_fixture f(2);
    match_cache cache;
    cache.remember(glob("a*"), 1, f.all());
    EXPECT_EQ(cache.remembered(glob("a*"), 2), nullptr)
        << "an entry of generation 1 read at generation 2: "
        << describe(cache.remembered(glob("a*"), 2));
    // Remembering at generation 2 empties the cache: generation 1's entry is gone for good.
    cache.remember(glob("b*"), 2, f.all());
    EXPECT_EQ(cache.remembered(glob("a*"), 1), nullptr)
        << describe(cache.remembered(glob("a*"), 1));
    EXPECT_NE(cache.remembered(glob("b*"), 2), nullptr);
}

TEST(MatchCache, TheLaterScanOfOnePatternReplacesTheEarlier) {
    const names_fixture f(4);
    match_cache cache;
    auto first = f.all();
    first.resize(1);
    cache.remember(glob("x*"), 3, first);
    cache.remember(glob("x*"), 3, f.all());
    const auto found = cache.remembered(glob("x*"), 3);
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(found->size(), 4u) << describe(found);
}

TEST(MatchCache, EmptiesItselfWhenItHoldsTooManyPatterns) {
    const names_fixture f(1);
    match_cache cache;
    for (std::size_t i = 0; i < match_cache::max_entries; ++i) {
        cache.remember(glob("p" + std::to_string(i) + "*"), 5, f.all());
    }
    ASSERT_NE(cache.remembered(glob("p0*"), 5), nullptr) << "the cache holds max_entries patterns";
    cache.remember(glob("one-more*"), 5, f.all());
    EXPECT_EQ(cache.remembered(glob("p0*"), 5), nullptr)
        << "past max_entries the cache starts over: " << describe(cache.remembered(glob("p0*"), 5));
    EXPECT_NE(cache.remembered(glob("one-more*"), 5), nullptr);
}

TEST(MatchCache, EmptiesItselfWhenItHoldsTooManyNames) {
    const names_fixture f(1);
    match_cache cache;
    // Two lists of half the bound fill it exactly; a third name overflows it.
    const match_cache::matched_names half(match_cache::max_names / 2, &*f.names.begin());
    cache.remember(glob("a*"), 9, half);
    cache.remember(glob("b*"), 9, half);
    ASSERT_NE(cache.remembered(glob("a*"), 9), nullptr) << "max_names names in all fit";
    cache.remember(glob("c*"), 9, f.all());
    EXPECT_EQ(cache.remembered(glob("a*"), 9), nullptr)
        << describe(cache.remembered(glob("a*"), 9));
    EXPECT_NE(cache.remembered(glob("c*"), 9), nullptr);
}

TEST(MatchCache, NeverHoldsAListLongerThanTheBound) {
    const names_fixture f(1);
    match_cache cache;
    const match_cache::matched_names too_long(match_cache::max_names + 1, &*f.names.begin());
    cache.remember(glob("z*"), 1, too_long);
    EXPECT_EQ(cache.remembered(glob("z*"), 1), nullptr)
        << describe(cache.remembered(glob("z*"), 1));
}

}  // namespace
