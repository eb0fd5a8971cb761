// Instance addresses (address.h): the URL a ping by host and port stands for, and the parts of
// a URL that a ping gives.
#include "servreg/registry/address.h"

#include <charconv>

#include "servreg/registry/validation.h"

namespace servreg::registry {
namespace {

std::string_view default_port_text(std::string_view scheme) {
    return scheme == "https" ? "443" : "80";
}

std::expected<std::uint16_t, std::string> port_of(std::string_view digits) {
    unsigned port = 0;
    const bool numeric = !digits.empty() && digits.size() <= 5 &&
                         digits.find_first_not_of("0123456789") == std::string_view::npos;
    if (numeric) std::from_chars(digits.data(), digits.data() + digits.size(), port);
    if (!numeric || port < 1 || port > 65535) {
        return std::unexpected("url's port must be an integer from 1 to 65535, got \"" +
                               std::string(digits.substr(0, 32)) + "\"");
    }
    return static_cast<std::uint16_t>(port);
}

std::optional<std::string> check_ipv6(std::string_view literal) {
    // Hex digits, colons and dots (an embedded IPv4 address), and a zone after %25.
    const auto zone = literal.find('%');
    const std::string_view body = literal.substr(0, zone);
    if (body.empty() || body.find(':') == std::string_view::npos ||
        body.find_first_not_of("0123456789abcdefABCDEF:.") != std::string_view::npos) {
        return "url's host in brackets must be an IPv6 address, got \"[" +
               std::string(literal.substr(0, 64)) + "]\"";
    }
    return std::nullopt;
}

}  // namespace

namespace {

// An IPv6 literal, which a URL or a host:port writes in brackets.
bool needs_brackets(std::string_view host) noexcept {
    return host.find(':') != std::string_view::npos && !host.starts_with('[');
}

}  // namespace

std::string host_port_of(std::string_view host, std::uint16_t port) {
    const bool bracket = needs_brackets(host);
    std::string out;
    out.reserve(host.size() + 8);
    if (bracket) out += '[';
    out += host;
    if (bracket) out += ']';
    out += ':';
    out += std::to_string(port);
    return out;
}

std::string url_of(std::string_view host, std::uint16_t port) {
    return "http://" + host_port_of(host, port) + "/api";
}

bool is_url_of(std::string_view url, std::string_view host, std::uint16_t port) noexcept {
    const bool bracket = needs_brackets(host);
    const auto take = [&url](std::string_view part) {
        if (!url.starts_with(part)) return false;
        url.remove_prefix(part.size());
        return true;
    };
    char digits[8];
    const auto [end, ec] = std::to_chars(digits, digits + sizeof digits, port);
    return take("http://") && (!bracket || take("[")) && take(host) && (!bracket || take("]")) &&
           take(":") && take(std::string_view(digits, static_cast<std::size_t>(end - digits))) &&
           url == "/api";
}

address address_of(std::string host, std::uint16_t port) {
    address a;
    a.url = url_of(host, port);
    a.host = std::move(host);
    a.port = port;
    return a;
}

std::expected<address, std::string> address_of_url(std::string_view url) {
    if (url.size() > max_url_length) {
        return std::unexpected("url must be at most 2048 bytes, got " + std::to_string(url.size()));
    }
    if (auto bad = check_visible("url", url)) return std::unexpected(std::move(*bad));
    std::string_view scheme;
    for (std::string_view s : {"http", "https"}) {
        if (url.starts_with(s) && url.substr(s.size()).starts_with("://")) scheme = s;
    }
    if (scheme.empty()) {
        return std::unexpected("url must start with http:// or https://, got \"" +
                               std::string(url.substr(0, 64)) + "\"");
    }
    const std::string_view rest = url.substr(scheme.size() + 3);
    const std::string_view authority = rest.substr(0, rest.find_first_of("/?#"));
    if (authority.find('@') != std::string_view::npos) {
        return std::unexpected(std::string("url must not hold user information (an '@')"));
    }
    address a;
    a.url = url;
    a.url_form = true;
    std::string_view host;
    std::string_view after_host;
    if (authority.starts_with('[')) {
        const auto close = authority.find(']');
        if (close == std::string_view::npos) {
            return std::unexpected(std::string("url's IPv6 host has no closing ']'"));
        }
        host = authority.substr(1, close - 1);
        if (auto bad = check_ipv6(host)) return std::unexpected(std::move(*bad));
        after_host = authority.substr(close + 1);
        if (!after_host.empty() && !after_host.starts_with(':')) {
            return std::unexpected("url has \"" + std::string(after_host.substr(0, 32)) +
                                   "\" after its host, where only a port may be");
        }
    } else {
        const auto colon = authority.find(':');
        host = authority.substr(0, colon);
        after_host = colon == std::string_view::npos ? std::string_view{} : authority.substr(colon);
        if (host.find_first_of("[]") != std::string_view::npos) {
            return std::unexpected(
                "url's host must not contain '[' or ']' outside an IPv6 "
                "literal, got \"" +
                std::string(host.substr(0, 64)) + "\"");
        }
    }
    if (host.empty()) return std::unexpected(std::string("url has no host"));
    if (host.size() > 255) {
        return std::unexpected("url's host must be at most 255 bytes, got " +
                               std::to_string(host.size()));
    }
    const auto port =
        port_of(after_host.empty() ? default_port_text(scheme) : after_host.substr(1));
    if (!port) return std::unexpected(port.error());
    a.host = host;
    a.port = *port;
    return a;
}

}  // namespace servreg::registry
