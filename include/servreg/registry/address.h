// Where an instance runs (SPEC section 4.1): its URL, which keys it byte for byte, and the host
// and port in that URL. A ping by host and port is the instance at http://host:port/api.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace servreg::registry {

struct address {
    std::string url;
    // As the ping gave it, or for a URL ping the URL's host (an IPv6 literal without brackets).
    std::string host;
    std::uint16_t port = 0;  // a URL without one has its scheme's: 80 or 443
    bool url_form = false;   // the ping gave a URL rather than host and port
};

// The URL of the instance a ping by host and port names: http://host:port/api, with an IPv6
// literal in brackets.
std::string url_of(std::string_view host, std::uint16_t port);

// "host:port", with an IPv6 literal in brackets: the part of that URL after "http://".
std::string host_port_of(std::string_view host, std::uint16_t port);

// Whether `url` is url_of(host, port), without building it.
bool is_url_of(std::string_view url, std::string_view host, std::uint16_t port) noexcept;

// The instance a ping by host and port names (host already valid: validation.h).
address address_of(std::string host, std::uint16_t port);

// The instance at `url`, or why the URL is not acceptable: http:// or https:// (in lower case:
// the URL is the key, so HTTP:// would make a second key for one instance), a host (a
// name, an IPv4 address or an IPv6 literal in brackets), an optional port from 1 to 65535, an
// optional path, query and fragment; at most 2048 bytes, no whitespace or control characters,
// no user information.
std::expected<address, std::string> address_of_url(std::string_view url);

inline constexpr std::size_t max_url_length = 2048;

}  // namespace servreg::registry
