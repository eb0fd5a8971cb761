// Fuzzes the parsers of what a ping gives besides its name (SPEC 4.1): instance URLs
// (registry::address_of_url) and metadata (normalize_metadata, encode_metadata,
// decode_metadata). Besides crashes, it stops on an accepted URL that breaks a rule of
// address.h, on a URL whose host and port do not name it again through url_of, on metadata
// accepted beyond its limits, and on a round trip through the stored text that changes
// anything: what encode gives, decode takes back identically.
//
// Input: every input is parsed as a URL. One starting with '{' is also read as stored
// metadata text; one starting with 0x01 is read as metadata entries (key, value, key, ...)
// for normalize_metadata.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.h"
#include "servreg/registry/address.h"
#include "servreg/registry/metadata.h"
#include "servreg/registry/validation.h"

namespace {

using servreg::fuzz::fail;
namespace registry = servreg::registry;

void check_url(std::string_view url) {
    const auto a = registry::address_of_url(url);
    if (!a) {
        if (a.error().empty()) fail("an empty reason for refusing a URL");
        return;
    }
    const std::string where = " for a URL of " + std::to_string(url.size()) + " bytes";
    if (a->url != url || !a->url_form)
        fail("an accepted URL that is not kept byte for byte" + where);
    if (url.size() > registry::max_url_length) fail("an accepted URL over 2048 bytes" + where);
    if (registry::check_visible("url", url)) fail("an accepted URL with whitespace" + where);
    if (!url.starts_with("http://") && !url.starts_with("https://")) {
        fail("an accepted URL of another scheme" + where);
    }
    if (a->host.empty() || a->host.size() > 255) fail("an accepted URL's host is empty or long");
    if (a->port == 0) fail("an accepted URL with port 0" + where);
    const std::string_view rest = url.substr(url.find("://") + 3);
    if (rest.substr(0, rest.find_first_of("/?#")).find('@') != std::string_view::npos) {
        fail("an accepted URL with user information" + where);
    }
    // The instance that ping(host, port) names with this URL's host and port is found again
    // by that host and port.
    const std::string again_url = registry::url_of(a->host, a->port);
    const auto again = registry::address_of_url(again_url);
    if (!again) fail("url_of of an accepted URL's host and port is refused: " + again.error());
    if (again->host != a->host || again->port != a->port) {
        fail("url_of of an accepted URL's host and port names another host or port" + where);
    }
}

// decode(encode(m)) == m for m sorted by key, and encode is canonical.
void check_round_trip(const registry::metadata& m, std::string_view what) {
    const std::string text = registry::encode_metadata(m);
    const auto back = registry::decode_metadata(text);
    if (!back) fail(std::string(what) + ": decode refused what encode gave: " + text);
    if (*back != m)
        fail(std::string(what) + ": decode did not give back what was encoded: " + text);
    if (registry::encode_metadata(*back) != text)
        fail(std::string(what) + ": encode is not canonical");
}

void check_entries(FuzzedDataProvider& in) {
    registry::metadata entries;
    while (in.remaining_bytes() > 0 && entries.size() < 64) {
        std::string key = in.ConsumeRandomLengthString(80);
        std::string value = in.ConsumeRandomLengthString(600);
        entries.emplace_back(std::move(key), std::move(value));
    }
    if (registry::normalize_metadata(entries, "meta")) return;
    if (entries.size() > registry::max_meta_keys) fail("more than 32 keys accepted");
    std::size_t size = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& [key, value] = entries[i];
        if (registry::check_meta_key(key)) fail("a bad key accepted");
        if (value.size() > registry::max_meta_value_length) fail("a value over 512 bytes accepted");
        if (i > 0 && entries[i - 1].first >= key) fail("keys not sorted and unique");
        size += key.size() + value.size();
    }
    if (size > registry::max_meta_size) fail("metadata over 4 KiB accepted");
    check_round_trip(entries, "normalized");
    if (!registry::matches(entries, entries) || !registry::matches(entries, {})) {
        fail("metadata does not match itself");
    }
    if (!entries.empty() && !registry::matches(entries, {entries.back()})) {
        fail("metadata does not match one of its own entries");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_url(input);
    if (input.starts_with('{')) {
        if (const auto m = registry::decode_metadata(input)) {
            if (!std::ranges::is_sorted(*m, {}, &registry::metadata::value_type::first)) {
                fail("decode gave unsorted keys");
            }
            check_round_trip(*m, "decoded");
        }
    } else if (input.starts_with('\x01')) {
        FuzzedDataProvider in(data + 1, size - 1);
        check_entries(in);
    }
    return 0;
}
