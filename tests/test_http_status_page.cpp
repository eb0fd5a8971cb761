// The status page's text helpers (SPEC section 7) without a server: ages, HTML escaping and
// the query parameter of GET /?q=.
#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "servreg/http/status_page.h"

namespace servreg::test {
namespace {

TEST(StatusPageText, AgesReadAsPeopleSayThem) {
    EXPECT_EQ(http::format_age(-5000), "0 s ago") << "a clock step back is not the future";
    EXPECT_EQ(http::format_age(0), "0 s ago");
    EXPECT_EQ(http::format_age(12'900), "12 s ago");
    EXPECT_EQ(http::format_age(60'000), "1 min ago");
    EXPECT_EQ(http::format_age(3 * 3600'000 + 5), "3 h ago");
    EXPECT_EQ(http::format_age(2 * 86400'000LL), "2 d ago");
}

TEST(StatusPageText, EscapesEveryMarkupCharacter) {
    EXPECT_EQ(http::html_escape(R"(<a href="x" title='y'>&</a>)"),
              "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
}

TEST(StatusPageText, QueryParametersArePercentDecoded) {
    EXPECT_EQ(http::query_parameter("q=billing.%2A&x=1", "q"), "billing.*");
    EXPECT_EQ(http::query_parameter("x=1&q=a+b%20c", "q"), "a b c");
    EXPECT_EQ(http::query_parameter("q", "q"), "");
    EXPECT_EQ(http::query_parameter("qq=1", "q"), std::nullopt);
    EXPECT_EQ(http::query_parameter("q=%zz%4", "q"), "%zz%4") << "broken escapes stay as they are";
}

}  // namespace
}  // namespace servreg::test
