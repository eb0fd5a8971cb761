// A call's parameters as both readers present them (flat_request.h's views and nlohmann's
// document), and the one binder per method that both paths call.
#pragma once

#include <array>
#include <cstdint>
#include <expected>
#include <optional>
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
    registry::address at;
    std::optional<registry::metadata> meta;  // none: keep what is stored
};

struct locate_args {
    std::string pattern;
    registry::metadata filter;
};

inline constexpr std::uint64_t max_watch_wait_s = 600;

struct watch_args {
    std::string pattern;
    registry::metadata filter;
    std::uint64_t index = 0;
    std::uint64_t wait_s = 30;
};

// Each returns the arguments, or why they are invalid (the -32602 reply's data).
// ping(name, host, port[, meta]) or ping(name, url[, meta]).
std::expected<ping_args, std::string> bind_ping(const param_list& params);
// unregister, drain, undrain: (host, port) or (url); the instance's address.
std::expected<registry::address, std::string> bind_instance(const param_list& params);
std::expected<locate_args, std::string> bind_locate(const param_list& params);
// watch_service(name, index = 0, wait = 30, meta = {}).
std::expected<watch_args, std::string> bind_watch(const param_list& params);
std::expected<std::string, std::string> bind_list(const param_list& params);  // pattern
std::expected<void, std::string> bind_none(const param_list& params);

}  // namespace servreg::jsonrpc::detail
