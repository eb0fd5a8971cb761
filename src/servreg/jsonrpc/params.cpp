// Parameter binding: positional or named params onto a method's parameters, then the rules of
// registry/validation. The flat path and the document path both end here, so a call gets the
// same answer whichever reader took it.
#include "servreg/jsonrpc/params.h"

#include <optional>

namespace servreg::jsonrpc::detail {
namespace {

struct param_spec {
    std::string_view name;
    bool required = true;
};

// Maps `params` onto `specs`; `out[i]` is null where an optional parameter is absent.
template <std::size_t N>
std::optional<std::string> bind(const param_list& params, const std::array<param_spec, N>& specs,
                                std::array<const param_value*, N>& out) {
    out.fill(nullptr);
    if (!params.named) {
        if (params.values.size() > N) {
            return "expected at most " + std::to_string(N) + " positional parameters, got " +
                   std::to_string(params.values.size());
        }
        for (std::size_t i = 0; i < params.values.size(); ++i) out[i] = &params.values[i];
    } else {
        // Of several unexpected names, the first in byte order is named, whatever order the
        // request gave them in: the document path sees an object's members sorted by name.
        std::optional<std::string_view> unexpected;
        for (std::size_t k = 0; k < params.values.size(); ++k) {
            const std::string_view key = params.names[k];
            std::size_t i = 0;
            while (i < N && specs[i].name != key) ++i;
            if (i < N) {
                out[i] = &params.values[k];
            } else if (!unexpected || key < *unexpected) {
                unexpected = key;
            }
        }
        if (unexpected) {
            std::string known;
            for (const auto& s : specs) known += (known.empty() ? "" : ", ") + std::string(s.name);
            return "unexpected parameter '" + std::string(*unexpected) + "'" +
                   (N == 0 ? std::string(": this method takes none") : "; expected: " + known);
        }
    }
    for (std::size_t i = 0; i < N; ++i) {
        if (specs[i].required && out[i] == nullptr) {
            return "missing parameter '" + std::string(specs[i].name) + "'";
        }
    }
    return std::nullopt;
}

}  // namespace

std::expected<ping_args, std::string> bind_ping(const param_list& params) {
    static constexpr std::array<param_spec, 3> specs{{{"name"}, {"host"}, {"port"}}};
    std::array<const param_value*, 3> p{};
    ping_args args;
    std::optional<std::string> why = bind(params, specs, p);
    if (!why) why = registry::take_string(*p[0], "name", registry::check_name, args.name);
    if (!why) why = registry::take_string(*p[1], "host", registry::check_host, args.host);
    if (!why) why = registry::take_port(*p[2], args.port);
    if (why) return std::unexpected(std::move(*why));
    return args;
}

std::expected<endpoint_args, std::string> bind_unregister(const param_list& params) {
    static constexpr std::array<param_spec, 2> specs{{{"host"}, {"port"}}};
    std::array<const param_value*, 2> p{};
    endpoint_args args;
    std::optional<std::string> why = bind(params, specs, p);
    if (!why) why = registry::take_string(*p[0], "host", registry::check_host, args.host);
    if (!why) why = registry::take_port(*p[1], args.port);
    if (why) return std::unexpected(std::move(*why));
    return args;
}

std::expected<std::string, std::string> bind_locate(const param_list& params) {
    static constexpr std::array<param_spec, 1> specs{{{"name"}}};
    std::array<const param_value*, 1> p{};
    std::string pattern;
    std::optional<std::string> why = bind(params, specs, p);
    if (!why) why = registry::take_string(*p[0], "name", registry::check_pattern, pattern);
    if (why) return std::unexpected(std::move(*why));
    return pattern;
}

std::expected<std::string, std::string> bind_list(const param_list& params) {
    static constexpr std::array<param_spec, 1> specs{{{"pattern", false}}};
    std::array<const param_value*, 1> p{};
    std::string pattern = "*";
    std::optional<std::string> why = bind(params, specs, p);
    if (!why && p[0] != nullptr) {
        why = registry::take_string(*p[0], "pattern", registry::check_pattern, pattern);
    }
    if (why) return std::unexpected(std::move(*why));
    return pattern;
}

std::expected<void, std::string> bind_none(const param_list& params) {
    static constexpr std::array<param_spec, 0> specs{};
    std::array<const param_value*, 0> p{};
    if (auto why = bind(params, specs, p)) return std::unexpected(std::move(*why));
    return {};
}

}  // namespace servreg::jsonrpc::detail
