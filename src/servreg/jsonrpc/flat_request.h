// The common shape of a JSON-RPC call, read without building a JSON document: one object
// with "jsonrpc", "method", "id" and "params", whose values are strings of printable ASCII
// without escapes and integers. A heartbeat and a lookup look like that; anything else is
// left to the document path (nlohmann/json), which also explains every malformed request.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string_view>

namespace servreg::jsonrpc::detail {

struct flat_value {
    std::string_view text;  // a string's characters (between the quotes), or an integer
    bool is_string = false;
};

struct flat_request {
    static constexpr std::size_t max_params = 4;

    std::string_view jsonrpc;  // the strings' characters
    std::string_view method;
    std::string_view id;  // the id as JSON text, as a reply echoes it; empty: no id
    bool has_params = false;
    bool positional = false;  // params is an array
    std::size_t param_count = 0;
    std::array<std::string_view, max_params> param_names{};  // when named
    std::array<flat_value, max_params> params{};
};

// The request when `body` has exactly that shape: every member at most once, nothing else
// in the object, nothing after it but white space; nullopt for anything else. An object it
// returns means what nlohmann/json would read from the same bytes.
std::optional<flat_request> read_flat_request(std::string_view body) noexcept;

}  // namespace servreg::jsonrpc::detail
