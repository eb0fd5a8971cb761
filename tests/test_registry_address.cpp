// Tests of instance addresses (SPEC 4.1): the URL a ping by host and port stands for, and the
// rules of a URL given to ping, unregister, drain and undrain, with the reasons given.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "servreg/registry/address.h"
#include "servreg/registry/validation.h"

namespace {

using namespace servreg::registry;

// "host port url_form" of an accepted URL, or its reason.
std::string parsed(std::string_view url) {
    const auto a = address_of_url(url);
    if (!a) return a.error();
    if (a->url != url) return "changed to " + a->url;
    return a->host + " " + std::to_string(a->port) + (a->url_form ? " url" : " host-port");
}

void expect_refused(std::string_view url, std::string_view reason) {
    const std::string got = parsed(url);
    EXPECT_NE(got.find(reason), std::string::npos)
        << "url=\"" << url << "\" got: " << got << "\n  expected a reason with: " << reason;
}

TEST(Address, HostAndPortStandForHttpHostPortApi) {
    EXPECT_EQ(url_of("10.0.0.5", 8001), "http://10.0.0.5:8001/api");
    EXPECT_EQ(url_of("svc.example", 1), "http://svc.example:1/api");
    // An IPv6 literal goes in brackets, once.
    EXPECT_EQ(url_of("::1", 80), "http://[::1]:80/api");
    EXPECT_EQ(url_of("fe80::1%eth0", 65535), "http://[fe80::1%eth0]:65535/api");
    EXPECT_EQ(url_of("[::1]", 80), "http://[::1]:80/api");
    const address a = address_of("::1", 8080);
    EXPECT_EQ(a.url, "http://[::1]:8080/api");
    EXPECT_EQ(a.host, "::1");
    EXPECT_EQ(a.port, 8080);
    EXPECT_FALSE(a.url_form);
}

TEST(Address, UrlsOfEveryAcceptedShapeAreKeptByteForByte) {
    EXPECT_EQ(parsed("http://10.0.0.5:8001/api"), "10.0.0.5 8001 url");
    EXPECT_EQ(parsed("https://billing.example.com/api/v2?x=1#top"), "billing.example.com 443 url");
    EXPECT_EQ(parsed("http://h"), "h 80 url") << "no port: the scheme's";
    EXPECT_EQ(parsed("https://h?q"), "h 443 url");
    EXPECT_EQ(parsed("http://h#f"), "h 80 url");
    EXPECT_EQ(parsed("http://h:1/"), "h 1 url");
    EXPECT_EQ(parsed("http://h:65535/"), "h 65535 url");
    EXPECT_EQ(parsed("http://h:080/"), "h 80 url") << "leading zeros are digits too";
    EXPECT_EQ(parsed("http://H.Example/api"), "H.Example 80 url") << "case is kept";
    EXPECT_EQ(parsed("http://b\xc3\xbc"
                     "cher.example/"),
              "b\xc3\xbc"
              "cher.example 80 url");
    EXPECT_EQ(parsed("http://h/a@b"), "h 80 url") << "an '@' in the path is no user information";
    EXPECT_EQ(parsed("http://h/p%20q"), "h 80 url") << "percent-encoding is left alone";
}

TEST(Address, Ipv6LiteralsAreInBracketsAndTheirHostHasNone) {
    EXPECT_EQ(parsed("http://[::1]:8080/api"), "::1 8080 url");
    EXPECT_EQ(parsed("http://[::1]/api"), "::1 80 url");
    EXPECT_EQ(parsed("https://[2001:DB8::7]"), "2001:DB8::7 443 url");
    EXPECT_EQ(parsed("http://[::ffff:10.0.0.1]:9/"), "::ffff:10.0.0.1 9 url");
    EXPECT_EQ(parsed("http://[fe80::1%25eth0]:80/api"), "fe80::1%25eth0 80 url") << "with a zone";
    // What url_of gives for a host-and-port ping is a URL naming that host and port again.
    EXPECT_EQ(parsed(url_of("fe80::1%25eth0", 7)), "fe80::1%25eth0 7 url");

    expect_refused("http://[::1/api", "no closing ']'");
    expect_refused("http://[]/api", "must be an IPv6 address");
    expect_refused("http://[g::1]/api", "must be an IPv6 address");
    expect_refused("http://[10.0.0.1]/api", "must be an IPv6 address");
    expect_refused("http://[%25eth0]/api", "must be an IPv6 address");
    expect_refused("http://[::1]x/api", "after its host, where only a port may be");
    expect_refused("http://[::1]:/api", "port must be an integer from 1 to 65535");
    expect_refused("http://a[b]/api", "must not contain '[' or ']' outside an IPv6 literal");
    // Without brackets the first colon starts the port.
    expect_refused("http://::1/api", "url has no host");
    expect_refused("http://fe80::1:80/api", "port must be an integer from 1 to 65535");
}

TEST(Address, SchemeMustBeHttpOrHttpsInLowerCase) {
    // The URL keys its instance byte for byte: an upper-case scheme would be a second key for
    // the same instance, so it is refused rather than folded.
    for (const std::string url :
         {"", "h:80/api", "//h/api", "10.0.0.5:8001", "ftp://h:21/", "ws://h/", "file:///etc",
          "HTTP://h/api", "Https://h/api", "httpx://h/", "http:/h/api", "http:h"}) {
        const std::string got = parsed(url);
        EXPECT_EQ(got.rfind("url must start with http:// or https://, got \"", 0), 0u)
            << "url=\"" << url << "\" got: " << got;
    }
}

TEST(Address, UrlWithoutAHostIsRefused) {
    for (const std::string url : {"http://", "https://", "http:///api", "http://:80/api",
                                  "https://?q=1", "http://#f", "http://[::1]@/"}) {
        const std::string got = parsed(url);
        EXPECT_TRUE(got == "url has no host" ||
                    got == "url must not hold user information (an '@')")
            << "url=\"" << url << "\" got: " << got;
    }
    EXPECT_EQ(parsed("http://:80/api"), "url has no host");
}

TEST(Address, WhitespaceAndControlCharactersAreRefusedAnywhere) {
    for (const std::string& url : std::vector<std::string>{
             "http://h /api", "http:// h/api", "http://h/a b", "http://h/\t", "http://h\n/",
             "http://h/\x7f", std::string("http://h/\0", 10), "http://h/\xc2\x85",
             "http://h/\xc2\xa0", "http://h/\xe3\x80\x80"}) {
        const std::string got = parsed(url);
        EXPECT_EQ(got.rfind("url must not contain whitespace or control characters", 0), 0u)
            << "url=\"" << url << "\" got: " << got;
    }
}

TEST(Address, LengthLimitsAre2048BytesAndAHostOf255) {
    const std::string prefix = "http://h/";
    const std::string longest = prefix + std::string(max_url_length - prefix.size(), 'p');
    EXPECT_EQ(parsed(longest), "h 80 url");
    EXPECT_EQ(parsed(longest + "p"), "url must be at most 2048 bytes, got 2049");
    EXPECT_EQ(parsed("http://" + std::string(255, 'h')), std::string(255, 'h') + " 80 url");
    EXPECT_EQ(parsed("http://" + std::string(256, 'h')),
              "url's host must be at most 255 bytes, got 256");
}

TEST(Address, PortMustBeFrom1To65535InDigits) {
    for (const auto& [url, shown] : std::vector<std::pair<std::string, std::string>>{
             {"http://h:0/api", "0"},
             {"http://h:65536/api", "65536"},
             {"http://h:99999/api", "99999"},
             {"http://h:/api", ""},
             {"http://h:8a/api", "8a"},
             {"http://h:-1/api", "-1"},
             {"http://h:+80/api", "+80"},
             {"http://h:0x50/api", "0x50"},
             {"http://h:000080/api", "000080"},
             {"http://h:1:2/api", "1:2"},
             {"http://h:18446744073709551617/api", "18446744073709551617"},
         }) {
        EXPECT_EQ(parsed(url),
                  "url's port must be an integer from 1 to 65535, got \"" + shown + "\"")
            << "url=" << url;
    }
}

TEST(Address, UserInformationIsRefused) {
    for (const std::string url : {"http://user@h/api", "http://user:pw@h:1/api", "http://@h/",
                                  "https://a@[::1]:8/", "http://u@/"}) {
        EXPECT_EQ(parsed(url), "url must not hold user information (an '@')") << "url=" << url;
    }
}

TEST(Address, TakeUrlWantsAString) {
    using type = param_value::type;
    address out;
    EXPECT_EQ(take_url({type::integer, "5", {}}, out), "url must be a string, got a number");
    EXPECT_EQ(take_url({type::object, "an object", {}}, out),
              "url must be a string, got an object");
    EXPECT_EQ(take_url({type::string, "ftp://h/", {}}, out).value_or("<ok>").rfind("url must", 0),
              0u);
    EXPECT_EQ(take_url({type::string, "http://[::1]:5/x", {}}, out), std::nullopt);
    EXPECT_EQ(out.url, "http://[::1]:5/x");
    EXPECT_EQ(out.host, "::1");
    EXPECT_EQ(out.port, 5);
    EXPECT_TRUE(out.url_form);
}

}  // namespace
