// The index's 16-byte string: texts on both sides of the inline limit, moves that leave the
// source empty, and the byte order of std::string_view.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "servreg/registry/compact_string.h"

namespace {

using servreg::registry::detail::compact_string;

TEST(CompactString, KeepsEveryLengthAroundTheInlineLimit) {
    for (std::size_t n : {0u, 1u, 14u, 15u, 16u, 17u, 200u, 70000u}) {
        std::string text(n, 'x');
        if (n > 0) text.front() = 'a';
        if (n > 1) text.back() = '\0';  // any byte, NUL included
        const compact_string s(text);
        EXPECT_EQ(s.view(), text) << "length " << n;
        EXPECT_EQ(s.size(), n);
        EXPECT_EQ(s.empty(), n == 0);
    }
}

TEST(CompactString, AMoveLeavesTheSourceEmptyAndAssignFreesTheOldText) {
    compact_string a(std::string(40, 'a'));
    compact_string b(std::move(a));
    EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): its state is specified
    EXPECT_EQ(b.view(), std::string(40, 'a'));
    compact_string c("short");
    c = std::move(b);
    EXPECT_EQ(c.view(), std::string(40, 'a'));
    EXPECT_TRUE(b.empty());  // NOLINT(bugprone-use-after-move)
    c.assign("inline again");
    EXPECT_EQ(c.view(), "inline again");
    c.assign(std::string(20, 'z'));
    EXPECT_EQ(c.view(), std::string(20, 'z'));
    c = compact_string();
    EXPECT_TRUE(c.empty());
}

TEST(CompactString, OrdersAsStringViewDoesWithUnsignedBytes) {
    const std::vector<std::string> texts{"",
                                         "a",
                                         "ab",
                                         "b",
                                         std::string("\xff"),
                                         "svc.10.0",
                                         "svc.2.0",
                                         std::string(16, 'a'),
                                         std::string(15, 'a')};
    for (const auto& x : texts) {
        for (const auto& y : texts) {
            const compact_string cx(x), cy(y);
            const auto want = std::string_view(x) <=> std::string_view(y);
            EXPECT_EQ(cx <=> cy, want) << '"' << x << "\" vs \"" << y << '"';
            EXPECT_EQ(cx <=> std::string_view(y), want) << '"' << x << "\" vs \"" << y << '"';
            EXPECT_EQ(cx == cy, x == y);
            EXPECT_EQ(cx == std::string_view(y), x == y);
        }
    }
    EXPECT_TRUE(compact_string("svc.42.1").starts_with("svc.42."));
    EXPECT_FALSE(compact_string("svc.4").starts_with("svc.42."));
}

}  // namespace
