// GET / as served (SPEC section 7): self-contained HTML with the list rendered in, names escaped,
// ?q= filtering, a CSP nonce. tests/browser/status_page.py checks it in a real browser.
#include <gtest/gtest.h>

#include <chrono>
#include <regex>
#include <string>
#include <thread>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

constexpr const char* xss = "<script>alert(1)</script>";

class DaemonStatusPage : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        daemon_ = std::make_unique<registry_daemon>(std::vector<std::string>{"--ttl", "1"});
        auto p = daemon_->port();
        for (auto [name, host, port] :
             {std::tuple{"page.dead", "10.50.0.9", 9},
              std::tuple{"page.billing", "10.50.0.1", 8001},
              std::tuple{"page.billing", "10.50.0.2", 8002}, std::tuple{xss, "10.50.0.3", 1}}) {
            EXPECT_EQ(call(p, "ping", {name, host, port}).result(), true) << name;
            if (std::string(name) == "page.dead") std::this_thread::sleep_for(2100ms);
        }
    }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }
    static inline std::unique_ptr<registry_daemon> daemon_;
};

TEST_F(DaemonStatusPage, IsAnHtmlDocumentWithTheInstancesRenderedIn) {
    auto r = get(port(), "/");
    ASSERT_EQ(r.status, 200) << r.status_line;
    EXPECT_EQ(r.header("content-type"), "text/html; charset=utf-8");
    const std::string& page = r.body;
    EXPECT_TRUE(page.starts_with("<!doctype html>")) << page.substr(0, 200);
    EXPECT_NE(page.find("name=\"viewport\""), std::string::npos) << "readable on a phone";
    EXPECT_NE(page.find("<span class=\"name\">page.billing</span>"), std::string::npos) << page;
    EXPECT_NE(page.find("10.50.0.1:8001"), std::string::npos);
    EXPECT_NE(page.find("10.50.0.2:8002"), std::string::npos);
    EXPECT_NE(page.find("2 alive &middot; 0 dead"), std::string::npos) << "grouped by name";
    // page.dead was pinged more than --ttl ago: listed, as dead.
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        page, m, std::regex(R"re(<tr class="(\w+)"><td class="ep">10\.50\.0\.9:9</td>)re")))
        << page;
    EXPECT_EQ(m[1], "dead");
    EXPECT_TRUE(
        std::regex_search(page, std::regex(R"re(data-last="\d+" title="[^"]+">\d+ s ago<)re")))
        << "last seen reads as \"12 s ago\"";
    EXPECT_TRUE(std::regex_search(page, std::regex(R"re(<b id="n-dead">[1-9]\d*</b>)re")))
        << "the counts at the top";
}

TEST_F(DaemonStatusPage, ShowsDrainingInstancesAndUrlsAsSuch) {
    const std::string at = "http://10.50.0.4:7/v1/rpc";
    ASSERT_EQ(call(port(), "ping", {"page.drain", at}).result(), true);
    ASSERT_EQ(call(port(), "ping", {"page.drain", "10.50.0.5", 7}).result(), true);
    auto x = call(port(), "drain", {"10.50.0.5", 7});
    ASSERT_EQ(x.result(), true) << x.describe();
    auto r = get(port(), "/?q=page.drain");
    ASSERT_EQ(r.status, 200) << r.status_line;
    EXPECT_NE(r.body.find("<tr class=\"alive\"><td class=\"ep\">http://10.50.0.4:7/v1/rpc</td>"),
              std::string::npos)
        << "an instance pinged with a URL beyond http://host:port/api shows it:\n"
        << r.body;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(
        r.body, m,
        std::regex(
            R"re(<tr class="(\w+)"><td class="ep">10\.50\.0\.5:7</td>.*?<span class="badge (\w+)">(\w+)</span>)re")))
        << r.body;
    EXPECT_EQ(m[1], "draining") << r.body;
    EXPECT_EQ(m[2], "draining");
    EXPECT_EQ(m[3], "draining");
}

TEST_F(DaemonStatusPage, NamesFromTheRegistryAreEscaped) {
    auto page = get(port(), "/").body;
    EXPECT_NE(page.find("&lt;script&gt;alert(1)&lt;/script&gt;"), std::string::npos) << page;
    EXPECT_EQ(page.find(xss), std::string::npos) << "the name must never be markup";
    EXPECT_EQ(count_of(page, "<script"), 1u) << "the page's own script only";
}

TEST_F(DaemonStatusPage, IsSelfContained) {
    auto page = get(port(), "/").body;
    EXPECT_FALSE(std::regex_search(page, std::regex(R"re((src|href)\s*=\s*"?(https?:)?//)re")))
        << "no external scripts, styles, fonts or images";
    EXPECT_EQ(page.find("@import"), std::string::npos);
    EXPECT_EQ(page.find("url("), std::string::npos);
}

TEST_F(DaemonStatusPage, ContentSecurityPolicyAllowsOnlyThePagesOwnScript) {
    auto r = get(port(), "/");
    const std::string csp = r.header("content-security-policy");
    std::smatch m;
    ASSERT_TRUE(std::regex_search(csp, m, std::regex("script-src 'nonce-([0-9a-f]{16,})'"))) << csp;
    EXPECT_NE(r.body.find("<script nonce=\"" + m[1].str() + "\">"), std::string::npos);
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << csp;
    EXPECT_NE(csp.find("connect-src 'self'"), std::string::npos) << csp;
    auto again = get(port(), "/").header("content-security-policy");
    EXPECT_NE(again, csp) << "a fresh nonce per page";
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff");
}

TEST_F(DaemonStatusPage, FilterNarrowsTheListWithoutJavaScript) {
    auto page = get(port(), "/?q=page.b%2A").body;
    EXPECT_NE(page.find("10.50.0.1:8001"), std::string::npos) << page;
    EXPECT_EQ(page.find("10.50.0.9:9"), std::string::npos) << "page.dead does not match page.b*";
    EXPECT_EQ(page.find("alert(1)"), std::string::npos);
    EXPECT_NE(page.find("value=\"page.b*\""), std::string::npos) << "the box shows the filter";

    page = get(port(), "/?q=nothing.matches").body;
    EXPECT_EQ(page.find("<section class=\"service\""), std::string::npos);
    EXPECT_NE(page.find("<p id=\"empty\" class=\"note\">"), std::string::npos)
        << "the empty note is shown";

    page = get(port(), "/?q=" + std::string(300, 'x')).body;
    EXPECT_NE(page.find("status error"), std::string::npos) << "an invalid pattern is explained";
}

TEST_F(DaemonStatusPage, OnlyGetAndHeadAreAllowed) {
    connection c(port());
    c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << r->status_line;
    EXPECT_EQ(r->header("allow"), "GET, HEAD");
}

TEST_F(DaemonStatusPage, ThePagesScriptCallsListServicesWithJsonContentType) {
    auto page = get(port(), "/").body;
    EXPECT_NE(page.find("method: \"list_services\""), std::string::npos);
    EXPECT_NE(page.find("\"Content-Type\": \"application/json\""), std::string::npos);
    // What the script posts is answered (a pattern no other test of the suite adds to).
    auto x = call(port(), "list_services", {"page.billing"});
    EXPECT_EQ(x.result().size(), 2u) << x.describe();
}

}  // namespace
}  // namespace servreg::test
