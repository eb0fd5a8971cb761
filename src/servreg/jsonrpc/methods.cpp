// The registry's JSON-RPC methods: binding of positional or named parameters, validation,
// and serialization of results straight to text (locate_service is the hot path).
#include "servreg/jsonrpc/methods.h"

#include <array>
#include <charconv>
#include <cstdint>
#include <ctime>
#include <initializer_list>

#include "servreg/registry/glob.h"
#include "servreg/registry/service.h"
#include "servreg/registry/validation.h"

namespace servreg::jsonrpc::detail {
namespace {

using nlohmann::json;

struct param_spec {
    std::string_view name;
    bool required = true;
};

// Maps params (object, array or absent) onto `specs`; fills `out` with pointers to the
// values (null where an optional one is absent). Returns the reason on failure.
template <std::size_t N>
std::optional<std::string> bind(const call_info& call, const std::array<param_spec, N>& specs,
                                std::array<const json*, N>& out) {
    out.fill(nullptr);
    if (call.params == nullptr) {
        // No params member: fine when nothing is required.
    } else if (call.params->is_array()) {
        const auto& arr = *call.params;
        if (arr.size() > N) {
            return "expected at most " + std::to_string(N) + " positional parameters, got " +
                   std::to_string(arr.size());
        }
        for (std::size_t i = 0; i < arr.size(); ++i) out[i] = &arr[i];
    } else {
        for (const auto& [key, value] : call.params->items()) {
            std::size_t i = 0;
            while (i < N && specs[i].name != key) ++i;
            if (i == N) {
                std::string known;
                for (const auto& s : specs)
                    known += (known.empty() ? "" : ", ") + std::string(s.name);
                return "unexpected parameter '" + key + "'" +
                       (N == 0 ? std::string(": this method takes none") : "; expected: " + known);
            }
            out[i] = &value;
        }
    }
    for (std::size_t i = 0; i < N; ++i) {
        if (specs[i].required && out[i] == nullptr) {
            return "missing parameter '" + std::string(specs[i].name) + "'";
        }
    }
    return std::nullopt;
}

std::string type_name(const json& v) {
    if (v.is_number_float()) return "a fractional number";
    if (v.is_number()) return "a number";
    if (v.is_string()) return "a string";
    if (v.is_boolean()) return "a boolean";
    if (v.is_null()) return "null";
    if (v.is_array()) return "an array";
    return "an object";
}

// A string parameter checked by `check` (one of registry/validation.h).
std::optional<std::string> get_string(const json& v, std::string_view name,
                                      std::optional<std::string> (*check)(std::string_view),
                                      std::string& out) {
    if (!v.is_string()) return std::string(name) + " must be a string, got " + type_name(v);
    const auto& s = v.get_ref<const std::string&>();
    if (auto why = check(s)) return why;
    out = s;
    return std::nullopt;
}

// A port: an integer 1-65535, or a string of decimal digits with such a value.
std::optional<std::string> get_port(const json& v, std::uint16_t& out) {
    static constexpr std::string_view rule = "port must be an integer from 1 to 65535";
    std::int64_t value = -1;
    if (v.is_number_integer()) {
        if (v.is_number_unsigned()) {
            auto u = v.get<std::uint64_t>();
            value = u > 65535 ? 65536 : static_cast<std::int64_t>(u);
        } else {
            value = v.get<std::int64_t>();
        }
    } else if (v.is_string()) {
        const auto& s = v.get_ref<const std::string&>();
        if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos) {
            return std::string(rule) + " (or a string of its decimal digits), got \"" +
                   s.substr(0, 32) + "\"";
        }
        std::from_chars(s.data(), s.data() + s.size(), value);
    } else {
        return std::string(rule) + ", got " + type_name(v);
    }
    if (value < 1 || value > 65535) return std::string(rule) + ", got " + v.dump();
    out = static_cast<std::uint16_t>(value);
    return std::nullopt;
}

outcome invalid_params(std::string why) {
    return outcome::failure(error_code::invalid_params,
                            std::string(error_message(error_code::invalid_params)), std::move(why));
}

outcome storage_failure(std::string why) {
    return outcome::failure(error_code::storage_unavailable,
                            std::string(error_message(error_code::storage_unavailable)),
                            std::move(why));
}

outcome access_denied() {
    return outcome::failure(error_code::access_denied,
                            std::string(error_message(error_code::access_denied)),
                            "this method needs the X-Api-Token header with the registry's token");
}

void append_rfc3339(std::string& out, std::int64_t ms) {
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    auto n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    out.append(buf, n);
    char frac[8];
    auto m = std::snprintf(frac, sizeof frac, ".%03dZ", static_cast<int>(ms % 1000));
    out.append(frac, static_cast<std::size_t>(m));
}

}  // namespace

void ping_checked(const method_env& env, std::string name, std::string host, std::uint16_t port,
                  outcome_fn done) {
    env.svc.ping(std::move(name), std::move(host), port,
                 [done = std::move(done)](std::optional<std::string> error) {
                     done(error ? storage_failure(std::move(*error)) : outcome::success("true"));
                 });
}

outcome locate_checked(const method_env& env, const std::string& pattern) {
    auto found = env.svc.locate(registry::glob(pattern));
    std::string out;
    out.reserve(2 + found.size() * 40);
    out += '[';
    for (const auto& e : found) {
        if (out.size() > 1) out += ',';
        out += "{\"host\":";
        append_json_string(out, e.host);
        out += ",\"port\":";
        out += std::to_string(e.port);
        out += '}';
    }
    out += ']';
    return outcome::success(std::move(out));
}

namespace {

void ping(const method_env& env, const call_info& call, outcome_fn& done) {
    static constexpr std::array<param_spec, 3> specs{{{"name"}, {"host"}, {"port"}}};
    std::array<const json*, 3> p{};
    if (auto why = bind(call, specs, p)) return done(invalid_params(std::move(*why)));
    std::string name, host;
    std::uint16_t port = 0;
    if (auto why = get_string(*p[0], "name", registry::check_name, name))
        return done(invalid_params(std::move(*why)));
    if (auto why = get_string(*p[1], "host", registry::check_host, host))
        return done(invalid_params(std::move(*why)));
    if (auto why = get_port(*p[2], port)) return done(invalid_params(std::move(*why)));
    if (!call.write_allowed) return done(access_denied());
    ping_checked(env, std::move(name), std::move(host), port, std::move(done));
}

void unregister(const method_env& env, const call_info& call, outcome_fn& done) {
    static constexpr std::array<param_spec, 2> specs{{{"host"}, {"port"}}};
    std::array<const json*, 2> p{};
    if (auto why = bind(call, specs, p)) return done(invalid_params(std::move(*why)));
    std::string host;
    std::uint16_t port = 0;
    if (auto why = get_string(*p[0], "host", registry::check_host, host))
        return done(invalid_params(std::move(*why)));
    if (auto why = get_port(*p[1], port)) return done(invalid_params(std::move(*why)));
    if (!call.write_allowed) return done(access_denied());
    env.svc.unregister(std::move(host), port,
                       [done = std::move(done)](std::optional<std::string> error, bool existed) {
                           done(error ? storage_failure(std::move(*error))
                                      : outcome::success(existed ? "true" : "false"));
                       });
}

void locate_service(const method_env& env, const call_info& call, outcome_fn& done) {
    static constexpr std::array<param_spec, 1> specs{{{"name"}}};
    std::array<const json*, 1> p{};
    if (auto why = bind(call, specs, p)) return done(invalid_params(std::move(*why)));
    std::string pattern;
    if (auto why = get_string(*p[0], "name", registry::check_pattern, pattern))
        return done(invalid_params(std::move(*why)));
    done(locate_checked(env, pattern));
}

void list_services(const method_env& env, const call_info& call, outcome_fn& done) {
    static constexpr std::array<param_spec, 1> specs{{{"pattern", false}}};
    std::array<const json*, 1> p{};
    if (auto why = bind(call, specs, p)) return done(invalid_params(std::move(*why)));
    std::string pattern = "*";
    if (p[0] != nullptr) {
        if (auto why = get_string(*p[0], "pattern", registry::check_pattern, pattern))
            return done(invalid_params(std::move(*why)));
    }
    auto found = env.svc.list(registry::glob(pattern));
    std::string out;
    out.reserve(2 + found.size() * 140);
    out += '[';
    for (const auto& item : found) {
        if (out.size() > 1) out += ',';
        out += "{\"name\":";
        append_json_string(out, item.row.name);
        out += ",\"host\":";
        append_json_string(out, item.row.host);
        out += ",\"port\":";
        out += std::to_string(item.row.port);
        out += ",\"first_seen\":\"";
        append_rfc3339(out, item.row.first_seen_ms);
        out += "\",\"last_seen\":\"";
        append_rfc3339(out, item.row.last_seen_ms);
        out += "\",\"alive\":";
        out += item.alive ? "true" : "false";
        out += '}';
    }
    out += ']';
    done(outcome::success(std::move(out)));
}

void get_service_specs(const method_env& env, const call_info& call, outcome_fn& done) {
    static constexpr std::array<param_spec, 0> specs{};
    std::array<const json*, 0> p{};
    if (auto why = bind(call, specs, p)) return done(invalid_params(std::move(*why)));
    json methods = json::object();
    for (const auto& m : method_table()) methods[std::string(m.name)] = m.description;
    json specs_json = {{"name", "servreg"},
                       {"host", env.config.host},
                       {"port", env.config.port},
                       {"max_parallel_blocking_tasks", env.config.max_parallel_blocking_tasks},
                       {"methods", std::move(methods)}};
    done(outcome::success(specs_json.dump()));
}

constexpr std::array<method_entry, 5> methods{{
    {"ping",
     "ping(name, host, port) -> true: records that http://host:port/api runs service name, now",
     true, ping},
    {"locate_service",
     "locate_service(name) -> [{host, port}]: alive instances whose service name matches the glob "
     "pattern name",
     false, locate_service},
    {"unregister",
     "unregister(host, port) -> bool: forgets the instance at host:port; true if it was known",
     true, unregister},
    {"list_services",
     "list_services(pattern='*') -> [{name, host, port, first_seen, last_seen, alive}]: every "
     "known "
     "instance, alive or not",
     false, list_services},
    {"get_service_specs",
     "get_service_specs() -> {name, host, port, max_parallel_blocking_tasks, methods}", false,
     get_service_specs},
}};

}  // namespace

std::span<const method_entry> method_table() {
    return methods;
}

std::string_view error_message(int code) {
    switch (code) {
        case error_code::parse_error:
            return "Parse error";
        case error_code::invalid_request:
            return "Invalid Request";
        case error_code::method_not_found:
            return "Method not found";
        case error_code::invalid_params:
            return "Invalid params";
        case error_code::storage_unavailable:
            return "Storage unavailable";
        case error_code::access_denied:
            return "Access denied";
        default:
            return "Internal error";
    }
}

}  // namespace servreg::jsonrpc::detail

namespace servreg::jsonrpc {

void append_json_string(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    std::size_t run = 0;  // start of the pending run of characters that need no escaping
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto c = static_cast<unsigned char>(s[i]);
        if (c >= 0x20 && c != '"' && c != '\\') continue;
        out.append(s.data() + run, i - run);
        run = i + 1;
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\r':
                out += "\\r";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                out += "\\u00";
                out += hex[c >> 4];
                out += hex[c & 0xF];
        }
    }
    out.append(s.data() + run, s.size() - run);
    out += '"';
}

}  // namespace servreg::jsonrpc
