// Tests of instance metadata (SPEC 4.1): its limits and the reasons given, the filter of
// locate_service, and the canonical JSON text the database stores.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "servreg/registry/metadata.h"
#include "servreg/registry/validation.h"

namespace {

using namespace servreg::registry;

std::string show(const std::optional<std::string>& reason) {
    return reason.value_or("<ok>");
}

// `n` entries k00, k01, ... with values of `value_size` bytes.
metadata entries_of(std::size_t n, std::size_t value_size) {
    metadata m;
    for (std::size_t i = 0; i < n; ++i) {
        m.emplace_back((i < 10 ? "k0" : "k") + std::to_string(i), std::string(value_size, 'v'));
    }
    return m;
}

std::string normalized(metadata m) {
    if (auto why = normalize_metadata(m, "meta")) return *why;
    return encode_metadata(m);
}

TEST(Metadata, KeysAre1To64CharactersOfLettersDigitsAndUnderscoreDotDash) {
    for (const std::string& key :
         std::vector<std::string>{"a", "A-z_0.9", "version", std::string(64, 'k')}) {
        EXPECT_EQ(check_meta_key(key), std::nullopt) << "key=" << key;
    }
    for (const std::string& key : std::vector<std::string>{
             "", std::string(65, 'k'), "a b", "a/b", "a:b", "a=b", "caf\xc3\xa9", "a\tb",
             std::string("a\0b", 3), "{}", "\"", "a,b"}) {
        EXPECT_NE(show(check_meta_key(key))
                      .find("\" must be 1 to 64 characters of A-Z, a-z, "
                            "0-9, '_', '.' and '-'"),
                  std::string::npos)
            << "key=" << key << " -> " << show(check_meta_key(key));
    }
    EXPECT_EQ(show(check_meta_key("")),
              "key \"\" must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'");
}

TEST(Metadata, AtMost32Keys) {
    EXPECT_EQ(normalized(entries_of(32, 1)).size(), 2 + 32 * 10 - 1)
        << normalized(entries_of(32, 1));
    EXPECT_EQ(normalized(entries_of(33, 1)), "meta must have at most 32 keys, got 33");
}

TEST(Metadata, ValuesOfAtMost512Bytes) {
    metadata m = {{"k", std::string(512, 'v')}};
    EXPECT_EQ(normalize_metadata(m, "meta"), std::nullopt);
    m = {{"k", std::string(513, 'v')}};
    EXPECT_EQ(show(normalize_metadata(m, "meta")),
              "meta: the value of \"k\" must be at most 512 bytes, got 513");
    // Bytes, not characters: 257 two-byte characters are too many.
    std::string wide;
    for (int i = 0; i < 257; ++i) wide += "\xc3\xa9";
    m = {{"k", wide}};
    EXPECT_EQ(show(normalize_metadata(m, "meta")),
              "meta: the value of \"k\" must be at most 512 bytes, got 514");
}

TEST(Metadata, AtMost4KiBOfKeysAndValues) {
    // Eight keys of 3 bytes with values of 509: exactly 4096.
    EXPECT_EQ(normalized(entries_of(8, 509)).front(), '{');
    EXPECT_EQ(normalized(entries_of(8, 510)),
              "meta must hold at most 4096 bytes of keys and values, got 4104");
}

TEST(Metadata, BadKeysNameTheParameter) {
    metadata m = {{"ok", "1"}, {"bad key", "2"}};
    EXPECT_EQ(
        show(normalize_metadata(m, "meta")),
        "meta: key \"bad key\" must be 1 to 64 characters of A-Z, a-z, 0-9, '_', '.' and '-'");
    m = {{"", "x"}};
    EXPECT_EQ(show(normalize_metadata(m, "filter")).rfind("filter: key \"\"", 0), 0u)
        << show(normalize_metadata(m, "filter"));
}

TEST(Metadata, NormalizedIsSortedAndTheLastOfEqualKeysWins) {
    metadata m = {{"zone", "eu"}, {"a", "1"}, {"zone", "us"}, {"b", ""}};
    ASSERT_EQ(normalize_metadata(m, "meta"), std::nullopt);
    EXPECT_EQ(m, (metadata{{"a", "1"}, {"b", ""}, {"zone", "us"}}));
    // Limits count distinct keys.
    metadata many = entries_of(32, 1);
    many.push_back(many.front());
    EXPECT_EQ(normalize_metadata(many, "meta"), std::nullopt);
}

TEST(Metadata, TakeMetaWantsAnObjectOfStrings) {
    using type = param_value::type;
    metadata out;
    EXPECT_EQ(show(take_meta({type::string, "x", {}}, "meta", out)),
              "meta must be an object of strings, got a string");
    EXPECT_EQ(show(take_meta({type::other, "an array", {}}, "meta", out)),
              "meta must be an object of strings, got an array");
    EXPECT_EQ(show(take_meta({type::other, "null", {}}, "meta", out)),
              "meta must be an object of strings, got null");
    const std::vector<param_member> number = {{"k", {type::integer, "1", {}}}};
    EXPECT_EQ(show(take_meta({type::object, "an object", number}, "meta", out)),
              "meta: the value of \"k\" must be a string, got a number");
    const std::vector<param_member> nested = {{"k", {type::object, "an object", {}}}};
    EXPECT_EQ(show(take_meta({type::object, "an object", nested}, "meta", out)),
              "meta: the value of \"k\" must be a string, got an object");
    const std::vector<param_member> good = {{"zone", {type::string, "eu", {}}},
                                            {"v", {type::string, "2", {}}}};
    EXPECT_EQ(take_meta({type::object, "an object", good}, "meta", out), std::nullopt);
    EXPECT_EQ(out, (metadata{{"v", "2"}, {"zone", "eu"}}));
}

TEST(Metadata, FilterNeedsEveryKeyWithItsValue) {
    const metadata have = {{"a", "1"}, {"b", "2"}, {"c", "3"}};
    EXPECT_TRUE(matches(have, {}));
    EXPECT_TRUE(matches(have, {{"a", "1"}, {"c", "3"}}));
    EXPECT_TRUE(matches(have, have));
    EXPECT_FALSE(matches(have, {{"a", "2"}}));
    EXPECT_FALSE(matches(have, {{"a", "1"}, {"d", "4"}}));
    EXPECT_FALSE(matches({}, {{"a", "1"}}));
    EXPECT_FALSE(matches(have, {{"B", "2"}})) << "keys compare byte for byte";
}

TEST(Metadata, EncodedTextIsCanonicalAndDecodesBackIdentically) {
    EXPECT_EQ(encode_metadata({}), "{}");
    EXPECT_EQ(encode_metadata({{"a", "1"}, {"b", "x y"}}), R"({"a":"1","b":"x y"})");
    const metadata awkward = {{"a", "quote\" back\\slash"},
                              {"b", std::string("nul\0tab\tnl\n\x1f", 12)},
                              {"c", "caf\xc3\xa9 \xf0\x9f\x98\x80 /slash"},
                              {"d", ""}};
    const std::string text = encode_metadata(awkward);
    EXPECT_EQ(text,
              "{\"a\":\"quote\\\" back\\\\slash\",\"b\":\"nul\\u0000tab\\u0009nl\\u000a\\u001f\","
              "\"c\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 /slash\",\"d\":\"\"}");
    const auto back = decode_metadata(text);
    ASSERT_TRUE(back.has_value()) << text;
    EXPECT_EQ(*back, awkward) << text;
    EXPECT_EQ(encode_metadata(*back), text);
}

TEST(Metadata, DecodeReadsAnyJsonObjectOfStrings) {
    const auto m =
        decode_metadata(" { \"z\" : \"\\u00e9\\ud83d\\ude00\\/\\b\\f\\r\" ,\n\"a\":\"1\" } ");
    ASSERT_TRUE(m.has_value());
    EXPECT_EQ(*m, (metadata{{"a", "1"}, {"z", "\xc3\xa9\xf0\x9f\x98\x80/\b\f\r"}}));
    for (const std::string text :
         {"", "[]", "{", "{\"a\"}", "{\"a\":1}", "{\"a\":\"1\",}", "{\"a\":\"1\"} x",
          "{\"a\":null}", "{\"a\":\"\\ud83d\"}", "{\"a\":\"\\ude00\"}", "{\"a\":\"\\x\"}",
          "{\"a\":\"\\u12\"}", "{\"a\":\"raw\ttab\"}", "{\"a\":{}}", "{'a':'1'}"}) {
        EXPECT_EQ(decode_metadata(text), std::nullopt) << "text=" << text;
    }
}

}  // namespace
