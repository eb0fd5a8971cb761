// GET /v1/targets without a socket (SPEC section 7): the query's rules and the Prometheus HTTP
// service discovery groups written for a list of instances. The route itself is tested in
// test_http_router.cpp, the real binary in test_daemon_ops_targets.cpp, and a real Prometheus
// discovering through it in scripts/test-ops.sh.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "servreg/http/targets.h"

namespace servreg::test {
namespace {

using nlohmann::json;

std::string describe(std::string_view query,
                     const std::expected<http::targets_query, std::string>& q) {
    std::string out = "\n  query: " + std::string(query) + "\n  parsed: ";
    if (!q) return out + "error: " + q.error();
    out += "pattern \"" + q->pattern + "\", filter {";
    for (const auto& [k, v] : q->filter) out += " " + k + "=\"" + v + "\"";
    return out + " }";
}

TEST(TargetsQuery, NoQueryMeansEveryNameAndNoFilter) {
    for (const std::string_view query : {"", "&", "&&"}) {
        auto q = http::parse_targets_query(query);
        ASSERT_TRUE(q) << describe(query, q);
        EXPECT_EQ(q->pattern, "*") << describe(query, q);
        EXPECT_TRUE(q->filter.empty()) << describe(query, q);
    }
}

TEST(TargetsQuery, NameAndMetaFiltersArePercentDecoded) {
    const std::string_view query =
        "name=billing.%2A&meta.env=prod&meta.z%2Dkey=a%20b+c%2B&&meta.team.name=p%C3%A4y";
    auto q = http::parse_targets_query(query);
    ASSERT_TRUE(q) << describe(query, q);
    EXPECT_EQ(q->pattern, "billing.*") << describe(query, q);
    const registry::metadata want{
        {"env", "prod"}, {"team.name", "p\xC3\xA4y"}, {"z-key", "a b c+"}};
    EXPECT_EQ(q->filter, want) << "sorted by key, + is a space, %2B a plus" << describe(query, q);
}

TEST(TargetsQuery, AnEmptyFilterValueMatchesAnEmptyValue) {
    for (const std::string_view query : {"meta.env=", "meta.env"}) {
        auto q = http::parse_targets_query(query);
        ASSERT_TRUE(q) << describe(query, q);
        EXPECT_EQ(q->filter, (registry::metadata{{"env", ""}})) << describe(query, q);
    }
}

TEST(TargetsQuery, BadQueriesAreRefusedWithTheReason) {
    const std::string long_value(513, 'v');
    std::string many;
    for (int i = 0; i < 33; ++i) many += "&meta.k" + std::to_string(i) + "=v";
    std::string large;
    for (int i = 0; i < 9; ++i)
        large += "&meta.k" + std::to_string(i) + "=" + std::string(500, 'v');
    const std::string long_pattern = "name=" + std::string(256, 'x');
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"names=x", "unknown parameter \"names\""},
        {"q=x", "unknown parameter \"q\""},
        {"meta=x", "unknown parameter \"meta\""},
        {"Name=x", "unknown parameter \"Name\""},
        {"name=x&name=y", "parameter \"name\" is given twice"},
        {"name=*&name=*", "parameter \"name\" is given twice"},
        {"meta.env=a&meta.env=a", "parameter \"meta.env\" is given twice"},
        {"meta.env=a&meta.%65nv=b", "parameter \"meta.env\" is given twice"},
        {"name=%zz", "bad percent-encoding in \"name=%zz\""},
        {"name=abc%4", "bad percent-encoding in \"name=abc%4\""},
        {"name=abc%", "bad percent-encoding"},
        {"meta.e%g=1", "bad percent-encoding"},
        {"name=", "name: pattern must be 1 to 255 characters, got 0"},
        {"name", "name: pattern must be 1 to 255 characters, got 0"},
        {long_pattern, "name: pattern must be 1 to 255 characters, got 256"},
        {"meta.=x", "meta filter: key \"\" must be 1 to 64 characters"},
        {"meta.a%20b=x", "meta filter: key \"a b\" must be"},
        {"meta.a/b=x", "meta filter: key \"a/b\" must be"},
        {"meta." + std::string(65, 'k') + "=x", "must be 1 to 64 characters"},
        {"meta.k=" + long_value, "the value of \"k\" must be at most 512 bytes, got 513"},
        {many.substr(1), "meta filter must have at most 32 keys"},
        {large.substr(1), "meta filter must hold at most 4096 bytes of keys and values"},
    };
    for (const auto& [query, reason] : cases) {
        auto q = http::parse_targets_query(query);
        ASSERT_FALSE(q) << describe(query, q);
        EXPECT_NE(q.error().find(reason), std::string::npos)
            << "want the reason " << reason << describe(query, q);
    }
}

TEST(TargetsLabels, MetaKeysBecomeLabelNamesPrometheusAccepts) {
    EXPECT_EQ(http::meta_label_name("env"), "__meta_servreg_meta_env");
    EXPECT_EQ(http::meta_label_name("team.name"), "__meta_servreg_meta_team_name");
    EXPECT_EQ(http::meta_label_name("a-b_C9"), "__meta_servreg_meta_a_b_C9");
    EXPECT_EQ(http::meta_label_name("9"), "__meta_servreg_meta_9");
}

registry::listed_instance instance(std::string name, std::string host, std::uint16_t port,
                                   std::string url, std::string meta = "{}", bool alive = true) {
    registry::listed_instance item;
    item.row.name = std::move(name);
    item.row.host = std::move(host);
    item.row.port = port;
    item.row.url = std::move(url);
    item.row.meta = std::move(meta);
    item.alive = alive;
    return item;
}

// render_targets's text, parsed, with the text in the failure message.
json rendered(const std::vector<registry::listed_instance>& items,
              const registry::metadata& filter = {}) {
    const std::string text = http::render_targets(items, filter);
    auto parsed = json::parse(text, nullptr, false);
    EXPECT_FALSE(parsed.is_discarded()) << "not JSON: " << text;
    return parsed;
}

TEST(TargetsGroups, OneGroupPerAliveUndrainedInstanceInTheOrderGiven) {
    std::vector<registry::listed_instance> items = {
        instance("billing", "10.0.0.1", 8080, "http://10.0.0.1:8080/api"),
        instance("billing", "10.0.0.2", 8080, "http://10.0.0.2:8080/api", "{}", false),
        instance("billing", "10.0.0.3", 8080, "http://10.0.0.3:8080/api"),
        instance("shop", "shop.example", 8443, "https://shop.example:8443/v2/rpc",
                 R"({"env":"prod","team.name":"pay"})"),
    };
    items[2].row.drained = true;
    const std::string text = http::render_targets(items, {});
    EXPECT_EQ(text, R"([{"targets":["10.0.0.1:8080"],"labels":{"__meta_servreg_service":"billing",)"
                    R"("__meta_servreg_url":"http://10.0.0.1:8080/api"}},)"
                    R"({"targets":["shop.example:8443"],"labels":{"__meta_servreg_service":"shop",)"
                    R"("__meta_servreg_url":"https://shop.example:8443/v2/rpc",)"
                    R"("__meta_servreg_meta_env":"prod","__meta_servreg_meta_team_name":"pay"}}])")
        << "the dead 10.0.0.2 and the draining 10.0.0.3 are left out";
}

TEST(TargetsGroups, NoInstanceIsAnEmptyArray) {
    EXPECT_EQ(http::render_targets({}, {}), "[]");
    EXPECT_EQ(http::render_targets({instance("a", "h", 1, "http://h:1/api", "{}", false)}, {}),
              "[]");
}

TEST(TargetsGroups, Ipv6HostsAreBracketed) {
    auto groups = rendered({
        instance("v6", "::1", 9000, "http://[::1]:9000/api"),
        instance("v6", "fd00::5", 9100, "http://[fd00::5]:9100/metrics"),
        instance("v6", "[fd00::6]", 9200, "http://[fd00::6]:9200/api"),
    });
    ASSERT_EQ(groups.size(), 3u) << groups.dump();
    EXPECT_EQ(groups[0]["targets"], json::array({"[::1]:9000"})) << groups.dump();
    EXPECT_EQ(groups[1]["targets"], json::array({"[fd00::5]:9100"})) << groups.dump();
    EXPECT_EQ(groups[2]["targets"], json::array({"[fd00::6]:9200"}))
        << "a host pinged in brackets keeps one pair" << groups.dump();
}

TEST(TargetsGroups, TheFilterKeepsInstancesHoldingEveryEntry) {
    const std::vector<registry::listed_instance> items = {
        instance("a", "10.0.0.1", 1, "http://10.0.0.1:1/api", R"({"env":"prod","zone":"x"})"),
        instance("a", "10.0.0.2", 1, "http://10.0.0.2:1/api", R"({"env":"prod"})"),
        instance("a", "10.0.0.3", 1, "http://10.0.0.3:1/api", R"({"env":"dev","zone":"x"})"),
        instance("a", "10.0.0.4", 1, "http://10.0.0.4:1/api"),
    };
    auto targets_of = [&](const registry::metadata& filter) {
        std::vector<std::string> out;
        for (const auto& g : rendered(items, filter)) out.push_back(g["targets"][0]);
        return out;
    };
    using list = std::vector<std::string>;
    EXPECT_EQ(targets_of({{"env", "prod"}}), (list{"10.0.0.1:1", "10.0.0.2:1"}));
    EXPECT_EQ(targets_of({{"env", "prod"}, {"zone", "x"}}), (list{"10.0.0.1:1"}));
    EXPECT_EQ(targets_of({{"zone", "x"}}), (list{"10.0.0.1:1", "10.0.0.3:1"}));
    EXPECT_EQ(targets_of({{"env", "test"}}), list{});
    EXPECT_EQ(targets_of({}).size(), 4u);
}

TEST(TargetsGroups, KeysGivingOneLabelNameGiveOneLabel) {
    auto groups = rendered({instance("a", "h", 1, "http://h:1/api",
                                     R"({"a-b":"1","a.b":"2","a_b":"3","c.d":"4","c-d":"5"})")});
    ASSERT_EQ(groups.size(), 1u) << groups.dump();
    const json want = {{"__meta_servreg_service", "a"},
                       {"__meta_servreg_url", "http://h:1/api"},
                       {"__meta_servreg_meta_a_b", "3"},
                       {"__meta_servreg_meta_c_d", "5"}};
    EXPECT_EQ(groups[0]["labels"], want)
        << "the key that is the label name wins, else the first key in order" << groups.dump();
}

TEST(TargetsGroups, NamesAndValuesAreEscapedAsJson) {
    auto groups = rendered({instance("quote\"back\\slash\ttab", "h", 1, "http://h:1/api",
                                     R"({"k":"line\nbreak \"q\" \u00e4"})")});
    ASSERT_EQ(groups.size(), 1u) << groups.dump();
    EXPECT_EQ(groups[0]["labels"]["__meta_servreg_service"], "quote\"back\\slash\ttab");
    EXPECT_EQ(groups[0]["labels"]["__meta_servreg_meta_k"], "line\nbreak \"q\" \xC3\xA4");
}

}  // namespace
}  // namespace servreg::test
