// Tests of the index's match cache on its own: an entry holds for its names generation only,
// and the bounds on patterns and names empty it rather than let it grow.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/registry/match_cache.h"

namespace {

using servreg::registry::glob;
using servreg::registry::detail::match_cache;
using servreg::registry::detail::name_entry;
using servreg::registry::detail::name_set;

// Names "n0" ... "n<count-1>" and what a list of them points to.
struct names_fixture {
    name_set names;
    explicit names_fixture(int count) {
        for (int i = 0; i < count; ++i) names.insert("n" + std::to_string(i));
    }
    match_cache::matched_names all() const {
        match_cache::matched_names out;
        names.scan_from("", [&out](const name_entry& entry) {
            out.push_back(&entry);
            return true;
        });
        return out;
    }
};

std::string describe(const std::shared_ptr<const match_cache::matched_names>& found) {
    if (!found) return "nothing remembered";
    std::string out = std::to_string(found->size()) + " names:";
    for (const auto* entry : *found) out += " " + std::string(entry->name.view());
    return out;
}

// What the cache holds for `pattern` at `generation` must be nothing (or something): `why`
// says which step expected that, and a failure prints what was found.
void expect_forgotten(match_cache& cache, const char* pattern, std::uint64_t generation,
                      const char* why) {
    const auto found = cache.remembered(glob(pattern), generation);
    EXPECT_EQ(found, nullptr) << pattern << " at generation " << generation << ", " << why << ": "
                              << describe(found);
}

void expect_remembered(match_cache& cache, const char* pattern, std::uint64_t generation,
                       const char* why) {
    EXPECT_NE(cache.remembered(glob(pattern), generation), nullptr)
        << pattern << " at generation " << generation << ", " << why << ": nothing remembered";
}

// The cache emptied itself and then remembered `kept`: `dropped` is gone.
void expect_started_over(match_cache& cache, const char* dropped, const char* kept,
                         std::uint64_t generation, const char* why) {
    expect_forgotten(cache, dropped, generation, why);
    expect_remembered(cache, kept, generation, why);
}

TEST(MatchCache, ForgetsNothingItWasNotTold) {
    match_cache cache;
    expect_forgotten(cache, "*.42.*", 0, "never remembered");
}

TEST(MatchCache, ReturnsWhatWasRememberedForTheSamePatternAndGeneration) {
    const names_fixture f(3);
    match_cache cache;
    cache.remember(glob("n*"), 7, f.all());
    const auto found = cache.remembered(glob("n*"), 7);
    ASSERT_NE(found, nullptr) << "pattern n* at generation 7";
    EXPECT_EQ(*found, f.all()) << describe(found);
    expect_forgotten(cache, "*n", 7, "another pattern");
}

TEST(MatchCache, ANewNamesGenerationHidesAndThenDropsOldEntries) {
    const names_fixture f(2);
    match_cache cache;
    cache.remember(glob("a*"), 1, f.all());
    expect_forgotten(cache, "a*", 2, "remembered at generation 1");
    // Remembering at generation 2 empties the cache: generation 1's entry is gone for good.
    cache.remember(glob("b*"), 2, f.all());
    expect_forgotten(cache, "a*", 1, "after an entry of generation 2");
    expect_remembered(cache, "b*", 2, "the newer entry");
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
    expect_remembered(cache, "p0*", 5, "max_entries patterns fit");
    cache.remember(glob("one-more*"), 5, f.all());
    expect_started_over(cache, "p0*", "one-more*", 5, "past max_entries");
}

// Bounded by the names held in all: a list longer than the bound is never kept, and lists that
// together pass it empty the cache.
TEST(MatchCache, KeepsNoMoreNamesThanTheBound) {
    const names_fixture f(1);
    const auto* name = f.all().front();
    match_cache cache;
    cache.remember(glob("z*"), 9, match_cache::matched_names(match_cache::max_names + 1, name));
    expect_forgotten(cache, "z*", 9, "a list longer than max_names");
    // Two lists of half the bound fill it exactly; a third name overflows it.
    const match_cache::matched_names half(match_cache::max_names / 2, name);
    cache.remember(glob("a*"), 9, half);
    cache.remember(glob("b*"), 9, half);
    expect_remembered(cache, "a*", 9, "max_names names in all fit");
    cache.remember(glob("c*"), 9, f.all());
    expect_started_over(cache, "a*", "c*", 9, "past max_names");
}

}  // namespace
