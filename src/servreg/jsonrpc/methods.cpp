// The registry's JSON-RPC methods: binding of positional or named parameters, validation,
// and serialization of results straight to text (locate_service is the hot path).
#include "servreg/jsonrpc/methods.h"

#include <cstdint>
#include <ctime>

#include "servreg/registry/glob.h"
#include "servreg/registry/service.h"
#include "servreg/registry/watch_hub.h"

namespace servreg::jsonrpc::detail {
namespace {

using nlohmann::json;

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

// A JSON array of `items`, each written by `append(out, item)`; `guess` bytes per item.
template <class Items, class Append>
std::string json_array(const Items& items, std::size_t guess, Append append) {
    std::string out;
    out.reserve(2 + items.size() * guess);
    out += '[';
    for (const auto& item : items) {
        if (out.size() > 1) out += ',';
        append(out, item);
    }
    out += ']';
    return out;
}

// The members "host" and "port" of an instance, as locate_service and list_services give them.
void append_endpoint(std::string& out, std::string_view host, std::uint16_t port) {
    out += "\"host\":";
    append_json_string(out, host);
    out += ",\"port\":";
    out += std::to_string(port);
}

void ping(const method_env& env, const call_info& call, outcome_fn& done) {
    auto args = bind_ping(call.params);
    if (!args) return done(invalid_params(std::move(args.error())));
    if (!call.write_allowed) return done(access_denied());
    env.svc.ping(
        std::move(args->name), std::move(args->at), std::move(args->meta),
        [done = std::move(done)](std::optional<std::string> error) {
            done(error ? storage_failure(std::move(*error)) : outcome::success("true"));
        },
        call.resume);
}

// unregister, drain and undrain: a write to a known instance, answered whether it was known.
template <class Write>
void instance_write(const call_info& call, outcome_fn& done, Write write) {
    auto at = bind_instance(call.params);
    if (!at) return done(invalid_params(std::move(at.error())));
    if (!call.write_allowed) return done(access_denied());
    write(std::move(at->url),
          [done = std::move(done)](std::optional<std::string> error, bool existed) {
              done(error ? storage_failure(std::move(*error))
                         : outcome::success(existed ? "true" : "false"));
          });
}

void unregister(const method_env& env, const call_info& call, outcome_fn& done) {
    instance_write(call, done, [&](std::string url, auto finish) {
        env.svc.unregister(std::move(url), std::move(finish), call.resume);
    });
}

void drain(const method_env& env, const call_info& call, outcome_fn& done) {
    instance_write(call, done, [&](std::string url, auto finish) {
        env.svc.drain(std::move(url), true, std::move(finish), call.resume);
    });
}

void undrain(const method_env& env, const call_info& call, outcome_fn& done) {
    instance_write(call, done, [&](std::string url, auto finish) {
        env.svc.drain(std::move(url), false, std::move(finish), call.resume);
    });
}

// locate_service's answer: each instance in the form of its latest ping, what its generation
// of clients reads.
std::string instances_json(const std::vector<registry::endpoint>& found) {
    return json_array(found, 40, [](std::string& out, const auto& e) {
        if (!e.url.empty()) return append_json_string(out, e.url);
        out += '{';
        append_endpoint(out, e.host, e.port);
        out += '}';
    });
}

void locate_service(const method_env& env, const call_info& call, outcome_fn& done) {
    auto args = bind_locate(call.params);
    if (!args) return done(invalid_params(std::move(args.error())));
    done(outcome::success(
        instances_json(env.svc.locate(registry::glob(args->pattern), &args->filter))));
}

void watch_service(const method_env& env, const call_info& call, outcome_fn& done) {
    auto args = bind_watch(call.params);
    if (!args) return done(invalid_params(std::move(args.error())));
    if (env.hub == nullptr) {
        return done(outcome::failure(error_code::method_not_found,
                                     std::string(error_message(error_code::method_not_found)),
                                     "watching is not available here"));
    }
    const auto wait = std::chrono::seconds(call.answer_at_once ? 0 : args->wait_s);
    const auto ticket =
        env.hub->watch(registry::glob(args->pattern), args->filter, args->index, wait, call.resume,
                       [done = std::move(done)](registry::watch_answer answer) {
                           done(outcome::success(watch_answer_json(answer)));
                       });
    // A client that goes away while the call waits takes its call with it.
    if (ticket != 0 && call.resume != nullptr) {
        call.resume->waiting([hub = env.hub, ticket] { hub->cancel(ticket); });
    }
}

void list_services(const method_env& env, const call_info& call, outcome_fn& done) {
    auto pattern = bind_list(call.params);
    if (!pattern) return done(invalid_params(std::move(pattern.error())));
    const auto found = env.svc.list(registry::glob(*pattern));
    done(outcome::success(json_array(found, 200, [](std::string& out, const auto& item) {
        out += "{\"name\":";
        append_json_string(out, item.row.name);
        out += ',';
        append_endpoint(out, item.row.host, item.row.port);
        out += ",\"url\":";
        append_json_string(out, item.row.url);
        out += ",\"meta\":";
        out += item.row.meta;  // the index's canonical JSON text
        out += ",\"first_seen\":\"";
        append_rfc3339(out, item.row.first_seen_ms);
        out += "\",\"last_seen\":\"";
        append_rfc3339(out, item.row.last_seen_ms);
        out += "\",\"alive\":";
        out += item.alive ? "true" : "false";
        out += ",\"state\":\"";
        out += item.state();
        out += "\"}";
    })));
}

void get_service_specs(const method_env& env, const call_info& call, outcome_fn& done) {
    if (auto none = bind_none(call.params); !none) {
        return done(invalid_params(std::move(none.error())));
    }
    json methods = json::object();
    for (const auto& m : method_table()) methods[std::string(m.name)] = m.description;
    json specs_json = {{"name", "servreg"},
                       {"host", env.config.host},
                       {"port", env.config.port},
                       {"max_parallel_blocking_tasks", env.config.max_parallel_blocking_tasks},
                       {"methods", std::move(methods)}};
    done(outcome::success(specs_json.dump()));
}

constexpr std::array<method_entry, 8> methods{{
    {"ping",
     "ping(name, host, port, meta={}) or ping(name, url, meta={}) -> true: records that the "
     "instance at http://host:port/api (or url) runs service name, now; meta replaces its "
     "metadata when given",
     true, ping},
    {"locate_service",
     "locate_service(name, meta={}) -> [{host, port} or url]: alive, undrained instances whose "
     "service name matches the glob pattern name and whose metadata holds meta, each in the form "
     "of its latest ping",
     false, locate_service},
    {"watch_service",
     "watch_service(name, index=0, wait=30, meta={}) -> {index, instances}: the answer of "
     "locate_service(name, meta) and its index; when index is the current one, waits until the "
     "answer changes or wait seconds (0-600) have passed",
     false, watch_service},
    {"unregister",
     "unregister(host, port) or unregister(url) -> bool: forgets the instance; true if it was "
     "known",
     true, unregister},
    {"drain",
     "drain(host, port) or drain(url) -> bool: leaves the instance out of locate_service until "
     "undrain or unregister; true if it is known",
     true, drain},
    {"undrain",
     "undrain(host, port) or undrain(url) -> bool: puts a drained instance back; true if it is "
     "known",
     true, undrain},
    {"list_services",
     "list_services(pattern='*') -> [{name, host, port, url, meta, first_seen, last_seen, "
     "alive, state}]: every known instance, alive or not",
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

std::string watch_answer_json(const registry::watch_answer& answer) {
    std::string out = "{\"index\":";
    out += std::to_string(answer.index);
    out += ",\"instances\":";
    out += detail::instances_json(*answer.instances);
    out += '}';
    return out;
}

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
