// Tests of the ping and locate parameter checks (SPEC section 4): lengths, control characters,
// whitespace in hosts, and the reasons given.
#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string>

#include "servreg/registry/validation.h"

namespace {

using namespace servreg::registry;

std::string show(const std::optional<std::string>& reason) {
    return reason.value_or("<ok>");
}

TEST(Validation, NameLengthBoundaries) {
    EXPECT_EQ(show(check_name("")), "name must be 1 to 255 characters, got 0");
    EXPECT_EQ(check_name("a"), std::nullopt) << show(check_name("a"));
    EXPECT_EQ(check_name(std::string(255, 'a')), std::nullopt);
    EXPECT_EQ(show(check_name(std::string(256, 'a'))), "name must be 1 to 255 characters, got 256");
}

TEST(Validation, HostLengthBoundaries) {
    EXPECT_EQ(show(check_host("")), "host must be 1 to 255 characters, got 0");
    EXPECT_EQ(check_host("h"), std::nullopt) << show(check_host("h"));
    EXPECT_EQ(check_host(std::string(255, 'h')), std::nullopt);
    EXPECT_EQ(show(check_host(std::string(256, 'h'))), "host must be 1 to 255 characters, got 256");
}

TEST(Validation, PatternLengthBoundaries) {
    EXPECT_EQ(show(check_pattern("")), "pattern must be 1 to 255 characters, got 0");
    EXPECT_EQ(check_pattern("*"), std::nullopt) << show(check_pattern("*"));
    EXPECT_EQ(check_pattern(std::string(255, '*')), std::nullopt);
    EXPECT_EQ(show(check_pattern(std::string(256, '*'))),
              "pattern must be 1 to 255 characters, got 256");
}

TEST(Validation, LengthsCountBytesAndSaySoForNonAscii) {
    // 128 two-byte characters are 256 bytes: the index and the columns count bytes.
    std::string wide;
    for (int i = 0; i < 128; ++i) wide += "\xc3\xa9";
    EXPECT_EQ(show(check_name(wide)), "name must be 1 to 255 bytes in UTF-8, got 256");
    wide.resize(254);
    EXPECT_EQ(check_name(wide), std::nullopt) << show(check_name(wide));
}

TEST(Validation, NameRefusesControlCharacters) {
    EXPECT_EQ(show(check_name(std::string("svc\0x", 5))),
              "name must not contain control characters (found 0x00 at offset 3)");
    EXPECT_EQ(show(check_name("svc\n")),
              "name must not contain control characters (found 0x0A at offset 3)");
    EXPECT_EQ(show(check_name("\x1f")),
              "name must not contain control characters (found 0x1F at offset 0)");
    EXPECT_EQ(show(check_name("a\x7f")),
              "name must not contain control characters (found 0x7F at offset 1)");
    EXPECT_EQ(show(check_name("a\tb")),
              "name must not contain control characters (found 0x09 at offset 1)");
    // C1 controls are control characters too (Unicode category Cc).
    EXPECT_EQ(show(check_name("a\xc2\x85")),
              "name must not contain control characters (found U+0085 at offset 1)");
}

TEST(Validation, NameAllowsSpacesPunctuationAndUtf8) {
    for (const std::string name :
         {"svc 1", "svc.api_v2-beta%", "*?[]!", "caf\xc3\xa9", "\xe6\x9c\x8d\xe5\x8a\xa1",
          "emoji \xf0\x9f\x9a\x80", "\xc2\xa0nbsp", "~"}) {
        EXPECT_EQ(check_name(name), std::nullopt)
            << "name=" << name << " -> " << show(check_name(name));
    }
}

TEST(Validation, HostRefusesWhitespace) {
    EXPECT_EQ(show(check_host("my host")),
              "host must not contain whitespace or control characters (found 0x20 at offset 2)");
    EXPECT_EQ(show(check_host(" h")),
              "host must not contain whitespace or control characters (found 0x20 at offset 0)");
    EXPECT_EQ(show(check_host("h\t")),
              "host must not contain whitespace or control characters (found 0x09 at offset 1)");
    EXPECT_EQ(show(check_host("h\r\n")),
              "host must not contain whitespace or control characters (found 0x0D at offset 1)");
    EXPECT_EQ(show(check_host("h\xc2\xa0x")),
              "host must not contain whitespace or control characters (found U+00A0 at offset 1)");
    EXPECT_EQ(show(check_host("h\xe3\x80\x80")),
              "host must not contain whitespace or control characters (found U+3000 at offset 1)");
}

TEST(Validation, HostRefusesControlCharacters) {
    EXPECT_EQ(show(check_host(std::string("h\0", 2))),
              "host must not contain whitespace or control characters (found 0x00 at offset 1)");
    EXPECT_EQ(show(check_host("h\x7f")),
              "host must not contain whitespace or control characters (found 0x7F at offset 1)");
    EXPECT_EQ(show(check_host("h\xc2\x9f")),
              "host must not contain whitespace or control characters (found U+009F at offset 1)");
}

TEST(Validation, HostAllowsNamesAndAddresses) {
    for (const std::string host :
         {"127.0.0.1", "::1", "fe80::1%eth0", "svc-1.example.com", "[::1]", "localhost",
          "b\xc3\xbc"
          "cher.example"}) {
        EXPECT_EQ(check_host(host), std::nullopt)
            << "host=" << host << " -> " << show(check_host(host));
    }
}

TEST(Validation, PatternAcceptsAnyCharacters) {
    // A pattern with a character no name may hold simply matches nothing.
    for (const std::string pattern : {"*", "svc.[!a-z]?", "a b", "x\ty", "[", "\xc3\xa9*"}) {
        EXPECT_EQ(check_pattern(pattern), std::nullopt)
            << "pattern=" << pattern << " -> " << show(check_pattern(pattern));
    }
}

// The port rule, as both JSON-RPC readers give a port: an integer's text or a string.
TEST(Validation, PortIsAnIntegerOrAStringOfDigitsFrom1To65535) {
    using type = param_value::type;
    const auto port = [](type kind, std::string_view text) {
        std::uint16_t out = 0;
        auto why = take_port(param_value{kind, text}, out);
        return why ? *why : "ok " + std::to_string(out);
    };
    EXPECT_EQ(port(type::integer, "1"), "ok 1");
    EXPECT_EQ(port(type::integer, "65535"), "ok 65535");
    EXPECT_EQ(port(type::string, "8001"), "ok 8001");
    EXPECT_EQ(port(type::integer, "0"), "port must be an integer from 1 to 65535, got 0");
    EXPECT_EQ(port(type::integer, "65536"), "port must be an integer from 1 to 65535, got 65536");
    EXPECT_EQ(port(type::integer, "-5"), "port must be an integer from 1 to 65535, got -5");
    EXPECT_EQ(port(type::integer, "18446744073709551616"),
              "port must be an integer from 1 to 65535, got 18446744073709551616");
    EXPECT_EQ(port(type::string, "70000"),
              "port must be an integer from 1 to 65535, got \"70000\"");
    EXPECT_EQ(port(type::string, "80a"),
              "port must be an integer from 1 to 65535 (or a string of its decimal digits), "
              "got \"80a\"");
    EXPECT_EQ(port(type::string, ""),
              "port must be an integer from 1 to 65535 (or a string of its decimal digits), "
              "got \"\"");
    EXPECT_EQ(port(type::other, "a boolean"),
              "port must be an integer from 1 to 65535, got a boolean");
}

TEST(Validation, TakeStringNamesTheParameterAndTheTypeItGot) {
    using type = param_value::type;
    std::string out;
    EXPECT_EQ(show(take_string({type::integer, "5"}, "name", check_name, out)),
              "name must be a string, got a number");
    EXPECT_EQ(show(take_string({type::other, "null"}, "host", check_host, out)),
              "host must be a string, got null");
    EXPECT_EQ(show(take_string({type::string, "a b"}, "host", check_host, out)),
              "host must not contain whitespace or control characters (found 0x20 at offset 1)");
    EXPECT_EQ(take_string({type::string, "billing.api"}, "name", check_name, out), std::nullopt);
    EXPECT_EQ(out, "billing.api");
}

}  // namespace
