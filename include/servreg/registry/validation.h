// Validation of ping and locate parameters (SPEC section 4). Returns the reason, not throws.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "servreg/registry/address.h"
#include "servreg/registry/metadata.h"

namespace servreg::registry {

// Each returns nothing when the value is acceptable, else why not ("name must be 1 to 255
// characters, got 0").
std::optional<std::string> check_name(std::string_view name);
std::optional<std::string> check_host(std::string_view host);
std::optional<std::string> check_pattern(std::string_view pattern);
// Any length; no whitespace or control characters ("url must not contain ...").
std::optional<std::string> check_visible(std::string_view what, std::string_view value);

struct param_member;

// A parameter as a request carried it, for the rules that accept more than one JSON type.
struct param_value {
    enum class type { string, integer, object, other };
    type kind = type::other;
    // string: its characters; integer: its decimal text as JSON wrote it ("-5", "70000");
    // object and other: the type's name ("an object", "a boolean", "a fractional number").
    std::string_view text;
    // object: its members, in the request's order.
    std::span<const param_member> members;

    // "a string", "a number", or the other type's name: for "x must be ..., got a number".
    std::string_view type_name() const noexcept;
};

struct param_member {
    std::string_view name;
    param_value value;
};

// A string parameter called `what`, checked by `check` (one of the above), copied into `out`.
std::optional<std::string> take_string(const param_value& value, std::string_view what,
                                       std::optional<std::string> (*check)(std::string_view),
                                       std::string& out);

// A port: an integer from 1 to 65535, or a string of its decimal digits (SPEC section 4).
std::optional<std::string> take_port(const param_value& value, std::uint16_t& out);

// A JSON integer from 0 to `max` called `what` (watch_service's index and wait).
std::optional<std::string> take_count(const param_value& value, std::string_view what,
                                      std::uint64_t max, std::uint64_t& out);

// Metadata or a metadata filter called `what`: an object of string values within the limits
// of metadata.h (SPEC section 4.1).
std::optional<std::string> take_meta(const param_value& value, std::string_view what,
                                     metadata& out);

// An instance's URL (address.h's rules).
std::optional<std::string> take_url(const param_value& value, address& out);

}  // namespace servreg::registry
