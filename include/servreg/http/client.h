// A small synchronous HTTP client for the command-line subcommands: one POST to the registry,
// with timeouts, on Boost.Beast (which stays behind this header).
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

namespace servreg::http {

// Where a registry URL points: "http://HOST[:PORT][/PATH]".
struct registry_url {
    std::string host;  // without the brackets of an IPv6 literal
    std::uint16_t port = 80;
    std::string target = "/";  // path and query
    std::string host_header;   // "HOST:PORT" as the Host header wants it
};

// Parses `url`; on failure, why, fit to show a user (never quoting the URL, which may hold
// credentials).
std::expected<registry_url, std::string> parse_registry_url(std::string_view url);

struct post_reply {
    unsigned status = 0;
    std::string content_type;
    std::string body;
};

struct post_settings {
    std::chrono::milliseconds connect_timeout{3000};  // resolving and connecting
    std::chrono::milliseconds reply_timeout{10'000};  // sending the request and reading the reply
    std::size_t body_limit = 256 * 1024 * 1024;
};

// POSTs `body` as application/json to `url`, with X-Api-Token when `api_token` is set.
// Returns the reply, whatever its status, or why the registry could not be reached
// (resolution, connection, timeout, a broken reply).
std::expected<post_reply, std::string> post_json(const registry_url& url, std::string_view body,
                                                 const std::optional<std::string>& api_token,
                                                 const post_settings& settings = {});

}  // namespace servreg::http
