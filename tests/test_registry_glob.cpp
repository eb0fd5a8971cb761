// Tests of registry::glob against Python's fnmatch.fnmatchcase: a table of cases checked with
// CPython 3.11, and a randomized comparison with a recursive reference matcher.
#include <gtest/gtest.h>

#include <cstddef>
#include <initializer_list>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "fnmatch_reference.h"
#include "servreg/registry/glob.h"

namespace {

using servreg::registry::glob;

struct glob_case {
    std::string pattern;
    std::string name;
    bool expected;
};

void expect_cases(const std::vector<glob_case>& cases) {
    for (const auto& c : cases) {
        EXPECT_EQ(glob(c.pattern).matches(c.name), c.expected)
            << "pattern=" << c.pattern << " name=" << c.name;
    }
}

TEST(Glob, LiteralsMatchWholeStringOnly) {
    expect_cases({
        {"abc", "abc", true},
        {"abc", "abd", false},
        {"abc", "ab", false},
        {"abc", "abcd", false},
        {"abc", "xabc", false},
        {"svc.42", "svc.42", true},
        {"", "", true},
        {"a", "", false},
    });
}

TEST(Glob, MatchingIsCaseSensitive) {
    expect_cases({
        {"ABC", "abc", false},
        {"abc", "ABC", false},
        {"[a-z]", "A", false},
        {"[A-Z]", "Q", true},
        {"Svc*", "svc.1", false},
    });
}

TEST(Glob, StarMatchesAnyRunIncludingDotsAndEmpty) {
    expect_cases({
        {"*", "", true},
        {"*", "anything.at.all", true},
        {"svc.*", "svc.", true},
        {"svc.*", "svc.a.b.c", true},
        {"svc.*", "svc", false},
        {"*.api", "a.b.api", true},
        {"a*b", "ab", true},
        {"a*b", "a.x.b", true},
        {"a*b", "a.x.bc", false},
        {"a**b", "ab", true},
        {"*a*", "bab", true},
        {"*a*", "bbb", false},
        {"a*", "", false},
        {"*", "a\nb", true},
    });
}

TEST(Glob, QuestionMarkMatchesExactlyOneCharacter) {
    expect_cases({
        {"?", "a", true},
        {"?", "", false},
        {"?", "ab", false},
        {"?", "\n", true},
        {"a?c", "a.c", true},
        {"a?c", "ac", false},
        {"??", "ab", true},
        {"a?", "a", false},
        {"*?", "", false},
        {"*?", "x", true},
        {"?*?", "x", false},
        {"?*?", "xy", true},
    });
}

TEST(Glob, ClassesAndRanges) {
    expect_cases({
        {"[abc]", "b", true},
        {"[abc]", "d", false},
        {"[abc]", "", false},
        {"[abc]", "ab", false},
        {"[a-c]", "b", true},
        {"[a-c]", "d", false},
        {"[a-c]", "-", false},
        {"[a-cx-z]", "y", true},
        {"[a-cx-z]", "m", false},
        {"[--/]", ".", true},
        {"[--/]", "0", false},
    });
}

TEST(Glob, BangNegatesAClass) {
    expect_cases({
        {"[!abc]", "d", true},
        {"[!abc]", "a", false},
        {"[!abc]", "", false},
        {"[!a]", "b", true},
        {"[!a]", "a", false},
        {"[!a-c]x", "dx", true},
        {"[!a-c]x", "bx", false},
        {"[^a]", "^", true},  // `^` is not a negation in fnmatch
        {"[^a]", "b", false},
    });
}

TEST(Glob, ClosingBracketFirstInAClassIsAMember) {
    expect_cases({
        {"[]]", "]", true},
        {"[]]", "a", false},
        {"[]a]", "a", true},
        {"[]a]", "]", true},
        {"[]a]", "b", false},
        {"[!]a]", "b", true},
        {"[!]a]", "]", false},
        {"[!]a]", "a", false},
        {"[]-a]", "_", true},
        {"[]-a]", "b", false},
        {"[a]]", "a]", true},
        {"[a]]", "a", false},
        {"[]-..]", ".", true},  // the empty range `]-.` goes, a `.` member stays
        {"*[]-..]", "-ba-", false},
    });
}

TEST(Glob, HyphenFirstOrLastIsAMember) {
    expect_cases({
        {"[a-]", "a", true},
        {"[a-]", "-", true},
        {"[a-]", "b", false},
        {"[-a]", "-", true},
        {"[-a]", "a", true},
        {"[-a]", "b", false},
        {"[!-a]", "-", false},
        {"[!-a]", "b", true},
        {"[a-c-e]", "-", true},  // after a range, a hyphen starts nothing
        {"[a-c-e]", "e", true},
        {"[a-c-e]", "d", false},
    });
}

TEST(Glob, RangeWithLowAboveHighMatchesNothing) {
    expect_cases({
        {"[z-a]", "z", false},
        {"[z-a]", "a", false},
        {"[z-a]", "m", false},
        {"[!z-a]", "m", true},
        {"[!z-a]", "z", true},
        {"[az-ab]", "a", true},
        {"[az-ab]", "b", true},
        {"[az-ab]", "z", false},
        {"[c-a-e]", "-", true},
        {"[c-a-e]", "e", true},
        {"[c-a-e]", "d", false},
    });
}

TEST(Glob, PythonQuirkDroppedLeadingRangeLeavesBangThatNegates) {
    // fnmatch.translate("[z-a!b]") is "[^b]": CPython's own behaviour, reproduced exactly.
    expect_cases({
        {"[z-a!]", "x", true},
        {"[z-a!b]", "x", true},
        {"[z-a!b]", "b", false},
        {"[z-a!-c]", "-", false},
        {"[z-a!-c]", "b", true},
    });
}

TEST(Glob, UnmatchedBracketIsALiteral) {
    expect_cases({
        {"[", "[", true},
        {"[a", "[a", true},
        {"[a", "a", false},
        {"a[", "a[", true},
        {"[!", "[!", true},
        {"[!]", "[!]", true},
        {"[!]", "!", false},
        {"[]", "[]", true},
        {"[]", "]", false},
        {"[*", "[xyz", true},  // the wildcards after a lone `[` still count
        {"[*", "xyz", false},
        {"[a-", "[a-", true},
        {"[?", "[x", true},
    });
}

TEST(Glob, BackslashIsNotAnEscape) {
    expect_cases({
        {"[\\]", "\\", true},
        {"[\\]", "x", false},
        {"a\\*", "a\\x", true},
        {"\\*", "*", false},
    });
}

TEST(Glob, BracketsQuoteWildcards) {
    expect_cases({
        {"[*]", "*", true},
        {"[*]", "x", false},
        {"[?]", "?", true},
        {"[?]", "x", false},
        {"[[]", "[", true},
        {"[&&a]", "&", true},
        {"[a|b]", "|", true},
        {"[~~]", "~", true},
    });
}

TEST(Glob, UnderscoreAndPercentAreOrdinaryCharacters) {
    expect_cases({
        {"svc_1", "svc_1", true},
        {"svc_1", "svcX1", false},
        {"svc%", "svc%", true},
        {"svc%", "svc.x", false},
        {"%", "", false},
        {"_", "x", false},
    });
}

TEST(Glob, CharactersAreBytes) {
    expect_cases({
        {"caf\xc3\xa9", "caf\xc3\xa9", true},
        {"caf?", "caf\xc3\xa9", false},  // é is two bytes in UTF-8
        {"caf??", "caf\xc3\xa9", true},
        {"[\x80-\xff]", "\xe9", true},
        {"[\x80-\xff]", "e", false},
        {"[!\x80-\xff]", "\xe9", false},
    });
}

TEST(Glob, PathologicalStarsOnLongNameGiveTheRightAnswer) {
    const std::string as(255, 'a');
    expect_cases({
        {"*a*a*a*a*b", as, false},
        {"*a*a*a*a*b", std::string(254, 'a') + "b", true},
        {"*a*a*a*a*a", as, true},
        {"*?*?*?*?*?b", as, false},
        {"a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b", as, false},
    });
    // Linear in pattern x name: with backtracking into every star this would not finish.
    const glob pattern("*a*a*a*a*b");
    std::size_t matched = 0;
    for (int i = 0; i < 10'000; ++i) matched += pattern.matches(as) ? 1 : 0;
    EXPECT_EQ(matched, 0u) << "pattern=*a*a*a*a*b name=" << as;
}

TEST(Glob, LiteralPrefixStopsAtTheFirstWildcard) {
    struct prefix_case {
        std::string pattern;
        std::string prefix;
        bool literal;
    };
    const std::vector<prefix_case> cases = {
        {"svc.42.*", "svc.42.", false},
        {"abc", "abc", true},
        {"*abc", "", false},
        {"a?c", "a", false},
        {"[abc]x", "", false},
        {"[!a]", "", false},
        {"a[", "a[", true},      // a lone `[` is literal
        {"a[]", "a[]", true},    // so is an unclosed `[]`
        {"a[*]b", "a*b", true},  // a one-member class is a quoted character
        {"svc[.]42*", "svc.42", false},
        {"x[z-a]", "x", false},  // matches nothing, but is no literal
        {"", "", true},
    };
    for (const auto& c : cases) {
        const glob g(c.pattern);
        EXPECT_EQ(g.literal_prefix(), c.prefix) << "pattern=" << c.pattern;
        EXPECT_EQ(g.is_literal(), c.literal) << "pattern=" << c.pattern;
    }
    EXPECT_FALSE(glob("x[z-a]").matches("x")) << "pattern=x[z-a] name=x";
    EXPECT_TRUE(glob("a[*]b").matches("a*b")) << "pattern=a[*]b name=a*b";
    EXPECT_FALSE(glob("a[*]b").matches("axb")) << "pattern=a[*]b name=axb";
}

TEST(Glob, CopiesAndMovesMatchLikeTheOriginal) {
    const glob original("svc.[0-9]*");
    glob copy(original);
    glob assigned("x");
    assigned = original;
    glob moved(std::move(copy));
    for (const glob* g : std::initializer_list<const glob*>{&original, &assigned, &moved}) {
        EXPECT_TRUE(g->matches("svc.4x")) << "pattern=svc.[0-9]* name=svc.4x";
        EXPECT_FALSE(g->matches("svc.x4")) << "pattern=svc.[0-9]* name=svc.x4";
        EXPECT_EQ(g->literal_prefix(), "svc.");
    }
}

// --- the reference matcher ---

// Whether the class fnmatch.translate makes of the bracket expression p[1, j) matches c.
bool bracket_matches(std::string_view p, std::size_t j, unsigned char c) {
    const auto b = servreg::test::fnmatch::translate_bracket(p, 1, j);
    if (b.kind == servreg::test::fnmatch::bracket::never) return false;
    if (b.kind == servreg::test::fnmatch::bracket::any) return true;
    return servreg::test::fnmatch::set_members(b.body)[c];
}

bool reference_match(std::string_view p, std::string_view s) {
    if (p.empty()) return s.empty();
    if (p[0] == '*') {
        for (std::size_t k = 0; k <= s.size(); ++k) {
            if (reference_match(p.substr(1), s.substr(k))) return true;
        }
        return false;
    }
    if (s.empty()) return false;
    if (p[0] == '?') return reference_match(p.substr(1), s.substr(1));
    if (p[0] == '[') {
        std::size_t j = 1;
        if (j < p.size() && p[j] == '!') ++j;
        if (j < p.size() && p[j] == ']') ++j;
        while (j < p.size() && p[j] != ']') ++j;
        if (j < p.size()) {
            return bracket_matches(p, j, static_cast<unsigned char>(s[0])) &&
                   reference_match(p.substr(j + 1), s.substr(1));
        }
    }
    return p[0] == s[0] && reference_match(p.substr(1), s.substr(1));
}

TEST(Glob, ReferenceMatcherAgreesWithTheTable) {
    // The reference must be right before it can judge: spot-check it on known answers.
    const std::vector<glob_case> known = {
        {"[z-a!b]", "x", true}, {"[z-a!b]", "b", false}, {"[]a]", "]", true},
        {"[a-c-e]", "-", true}, {"[!]", "[!]", true},    {"a*b", "a.x.b", true},
        {"[!z-a]", "m", true},  {"[--/]", "0", false},   {"[z-a!-c]", "-", false},
        {"[]-..]", "x", false},
    };
    for (const auto& c : known) {
        EXPECT_EQ(reference_match(c.pattern, c.name), c.expected)
            << "pattern=" << c.pattern << " name=" << c.name;
    }
}

TEST(Glob, AgreesWithReferenceMatcherOnRandomPatterns) {
    const std::string alphabet = "ab.[]!-*?";
    std::mt19937 rng(20240611);
    std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
    std::uniform_int_distribution<std::size_t> length(0, 8);
    const auto random_string = [&](std::size_t n) {
        std::string out;
        for (std::size_t i = 0; i < n; ++i) out += alphabet[pick(rng)];
        return out;
    };
    std::size_t matched = 0;
    std::size_t compared = 0;
    for (int round = 0; round < 20'000; ++round) {
        const std::string pattern = random_string(length(rng));
        const glob compiled(pattern);
        for (int k = 0; k < 5; ++k) {
            const std::string name = random_string(length(rng) / 2);
            const bool expected = reference_match(pattern, name);
            ASSERT_EQ(compiled.matches(name), expected)
                << "pattern=" << pattern << " name=" << name;
            matched += expected ? 1 : 0;
            ++compared;
        }
    }
    // Both answers must be well represented, or the comparison proves little.
    EXPECT_GT(matched, compared / 50) << "matched=" << matched << " of " << compared;
    EXPECT_LT(matched, compared / 2) << "matched=" << matched << " of " << compared;
}

}  // namespace
