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

namespace {

using registry::param_value;
using type = param_value::type;

// By position, `params` in the slots of `order` (indexes into the method's specs).
template <std::size_t N>
std::optional<std::string> bind_positions(const param_list& params,
                                          std::initializer_list<std::size_t> order,
                                          std::array<const param_value*, N>& out) {
    out.fill(nullptr);
    if (params.values.size() > order.size()) {
        return "expected at most " + std::to_string(order.size()) + " positional parameters, got " +
               std::to_string(params.values.size());
    }
    auto slot = order.begin();
    for (const auto& value : params.values) out[*slot++] = &value;
    return std::nullopt;
}

// The parameters that name an instance: host and port (at `host`, `host + 1`) or url.
std::optional<std::string> take_instance(const param_value* host, const param_value* port,
                                         const param_value* url, registry::address& out) {
    if (url != nullptr) {
        if (host != nullptr || port != nullptr) {
            return std::string("give either url or host and port, not both");
        }
        return registry::take_url(*url, out);
    }
    if (host == nullptr) return std::string("missing parameter 'host' (or 'url')");
    if (port == nullptr) return std::string("missing parameter 'port'");
    std::string h;
    std::uint16_t p = 0;
    if (auto why = registry::take_string(*host, "host", registry::check_host, h)) return why;
    if (auto why = registry::take_port(*port, p)) return why;
    out = registry::address_of(std::move(h), p);
    return std::nullopt;
}

}  // namespace

std::expected<ping_args, std::string> bind_ping(const param_list& params) {
    static constexpr std::array<param_spec, 5> specs{
        {{"name"}, {"host", false}, {"port", false}, {"url", false}, {"meta", false}}};
    enum { name, host, port, url, meta };
    std::array<const param_value*, 5> p{};
    std::optional<std::string> why;
    if (params.named) {
        why = bind(params, specs, p);
    } else {
        // [name, url], [name, url, meta], [name, host, port], [name, host, port, meta]
        const auto& v = params.values;
        const bool by_url = v.size() == 2 || (v.size() == 3 && v[2].kind == type::object);
        why = by_url ? bind_positions(params, {name, url, meta}, p)
                     : bind_positions(params, {name, host, port, meta}, p);
        if (!why && p[name] == nullptr) why = "missing parameter 'name'";
    }
    ping_args args;
    if (!why) why = registry::take_string(*p[name], "name", registry::check_name, args.name);
    if (!why) why = take_instance(p[host], p[port], p[url], args.at);
    if (!why && p[meta] != nullptr) {
        why = registry::take_meta(*p[meta], "meta", args.meta.emplace());
    }
    if (why) return std::unexpected(std::move(*why));
    return args;
}

std::expected<registry::address, std::string> bind_instance(const param_list& params) {
    static constexpr std::array<param_spec, 3> specs{
        {{"host", false}, {"port", false}, {"url", false}}};
    enum { host, port, url };
    std::array<const param_value*, 3> p{};
    std::optional<std::string> why;
    if (params.named) {
        why = bind(params, specs, p);
    } else {
        why = params.values.size() == 1 ? bind_positions(params, {url}, p)
                                        : bind_positions(params, {host, port}, p);
        if (!why && params.values.empty()) why = "missing parameter 'host' (or 'url')";
    }
    registry::address at;
    if (!why) why = take_instance(p[host], p[port], p[url], at);
    if (why) return std::unexpected(std::move(*why));
    return at;
}

std::expected<locate_args, std::string> bind_locate(const param_list& params) {
    static constexpr std::array<param_spec, 2> specs{{{"name"}, {"meta", false}}};
    std::array<const param_value*, 2> p{};
    locate_args args;
    std::optional<std::string> why = bind(params, specs, p);
    if (!why) why = registry::take_string(*p[0], "name", registry::check_pattern, args.pattern);
    if (!why && p[1] != nullptr) why = registry::take_meta(*p[1], "meta", args.filter);
    if (why) return std::unexpected(std::move(*why));
    return args;
}

std::expected<watch_args, std::string> bind_watch(const param_list& params) {
    static constexpr std::array<param_spec, 4> specs{
        {{"name"}, {"index", false}, {"wait", false}, {"meta", false}}};
    enum { name, index, wait, meta };
    // An index is a time in milliseconds shifted by 22 bits (registry/watch_hub.h): below 2^63.
    static constexpr std::uint64_t max_index = (std::uint64_t{1} << 63) - 1;
    std::array<const param_value*, 4> p{};
    watch_args args;
    std::optional<std::string> why = bind(params, specs, p);
    if (!why) why = registry::take_string(*p[name], "name", registry::check_pattern, args.pattern);
    if (!why && p[index] != nullptr) {
        why = registry::take_count(*p[index], "index", max_index, args.index);
    }
    if (!why && p[wait] != nullptr) {
        why = registry::take_count(*p[wait], "wait", max_watch_wait_s, args.wait_s);
    }
    if (!why && p[meta] != nullptr) why = registry::take_meta(*p[meta], "meta", args.filter);
    if (why) return std::unexpected(std::move(*why));
    return args;
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
