// A call's parameters as both readers present them (flat_request.h's views and nlohmann's
// document), and the one binder per method that both paths call.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

#include "servreg/registry/validation.h"

namespace servreg::jsonrpc::detail {

using registry::param_value;

// `params` of one call: by position (names empty) or by name (names[i] for values[i]).
struct param_list {
    bool named = false;
    std::span<const std::string_view> names;
    std::span<const param_value> values;
};

struct ping_args {
    std::string name;
    std::string host;
    std::uint16_t port = 0;
};

struct endpoint_args {
    std::string host;
    std::uint16_t port = 0;
};

// Each returns the arguments, or why they are invalid (the -32602 reply's data).
std::expected<ping_args, std::string> bind_ping(const param_list& params);
std::expected<endpoint_args, std::string> bind_unregister(const param_list& params);
std::expected<std::string, std::string> bind_locate(const param_list& params);
std::expected<std::string, std::string> bind_list(const param_list& params);  // pattern
std::expected<void, std::string> bind_none(const param_list& params);

}  // namespace servreg::jsonrpc::detail
