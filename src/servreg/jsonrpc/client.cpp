// The command-line client's calls and their presentation: a table for people, the reply's
// result (or error) as JSON for scripts, and an exit status that tells the two failures apart.
#include "servreg/jsonrpc/client.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <expected>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace servreg::jsonrpc {
namespace {

using nlohmann::json;

constexpr json::error_handler_t lenient = json::error_handler_t::replace;

std::string prefix(const config::client_command& cmd) {
    return "servreg " + cmd.verb + ": ";
}

std::string dump(const json& j, int indent = -1) {
    return j.dump(indent, ' ', false, lenient);
}

// "2026-11-28T10:15:32.123Z" -> milliseconds since the epoch.
std::optional<std::int64_t> parse_rfc3339(const std::string& s) {
    std::tm tm{};
    int ms = 0;
    if (std::sscanf(s.c_str(), "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                    &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) < 6)
        return std::nullopt;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return static_cast<std::int64_t>(timegm(&tm)) * 1000 + ms;
}

// Milliseconds since the epoch as "2026-11-28 10:15:32 UTC".
std::string utc_text(std::int64_t ms) {
    const std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    return {buf, std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm)};
}

std::string readable_time(const std::string& rfc3339) {
    if (rfc3339.size() < 19) return rfc3339;
    std::string out = rfc3339.substr(0, 19);
    out[10] = ' ';
    return out + " UTC";
}

std::string age(const std::string& rfc3339, std::int64_t now_ms) {
    auto when = parse_rfc3339(rfc3339);
    if (!when) return "?";
    const std::int64_t s = std::max<std::int64_t>(now_ms - *when, 0) / 1000;
    if (s < 60) return std::to_string(s) + " s ago";
    if (s < 3600) return std::to_string(s / 60) + " min ago";
    if (s < 86400) return std::to_string(s / 3600) + " h ago";
    return std::to_string(s / 86400) + " d ago";
}

// Columns padded to their widest cell; the last one is not padded.
std::string table(const std::vector<std::vector<std::string>>& rows) {
    std::vector<std::size_t> width;
    for (const auto& r : rows) {
        width.resize(std::max(width.size(), r.size()));
        for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
    }
    std::string out;
    for (const auto& r : rows) {
        for (std::size_t i = 0; i < r.size(); ++i) {
            out += r[i];
            if (i + 1 < r.size()) out.append(width[i] - r[i].size() + 2, ' ');
        }
        // An empty last cell leaves no padding behind.
        while (!out.empty() && out.back() == ' ') out.pop_back();
        out += '\n';
    }
    return out;
}

// One call, with its parameters by name.
std::string call_text(const std::string& method, const json& params) {
    return dump(json{{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", 1}});
}

// A cell of a table: strings as they are, a missing value as "-", anything else as JSON.
std::string text_of(const json& j) {
    if (j.is_null()) return "-";
    return j.is_string() ? j.get<std::string>() : dump(j);
}

std::string port_text(const json& j) {
    return j.is_number_integer() ? std::to_string(j.get<long long>()) : text_of(j);
}

// The URL that names an instance pinged with host and port (SPEC 4.1).
std::string instance_url(const json& host, const json& port) {
    const std::string h = text_of(host);
    return "http://" + (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" +
           port_text(port) + "/api";
}

// The instance that unregister, drain and undrain name: HOST PORT, or URL, from `first` on.
bool names_url(const config::client_command& cmd, std::size_t first) {
    return cmd.args.size() == first + 1;
}

std::string endpoint(const config::client_command& cmd, std::size_t first) {
    if (names_url(cmd, first)) return cmd.args.at(first);
    return cmd.args.at(first) + ":" + cmd.args.at(first + 1);
}

json instance_params(const config::client_command& cmd, std::size_t first) {
    if (names_url(cmd, first)) return {{"url", cmd.args.at(first)}};
    return {{"host", cmd.args.at(first)},
            {"port", std::stoi(cmd.args.at(first + 1))}};  // validated by the parser
}

// "k=v,k2=v2", in the order of the keys.
std::string meta_text(const json& meta) {
    if (!meta.is_object()) return meta.is_null() ? "" : dump(meta);
    std::string out;
    for (const auto& [key, value] : meta.items())
        out += (out.empty() ? "" : ",") + key + "=" + text_of(value);
    return out;
}

client_output failure(const config::client_command& cmd, std::string why) {
    client_output o;
    o.status = client_status::registry_error;
    o.err = prefix(cmd) + why + "\n";
    return o;
}

// unregister, drain, undrain: true when the instance was known. An unknown one is no failure
// (the same exit status 0 for all three); --json shows the false that scripts can test.
client_output instance_change(const config::client_command& cmd, const json& result) {
    static const std::map<std::string, std::pair<std::string, std::string>> words{
        {"unregister", {"unregistered ", " was not registered\n"}},
        {"drain", {"drained ", " is not registered: nothing to drain\n"}},
        {"undrain", {"undrained ", " is not registered: nothing to undrain\n"}}};
    if (!result.is_boolean()) return failure(cmd, "unexpected result: " + dump(result));
    const auto& [done, unknown] = words.at(cmd.verb);
    client_output o;
    o.out = result == true ? done + endpoint(cmd, 0) + "\n" : endpoint(cmd, 0) + unknown;
    return o;
}

// Instances as their latest ping gave them: {"host","port"}, or a URL string. A table of
// host and port while every one is the former, else of URLs.
std::string locate_table(const json& result) {
    const bool urls = std::ranges::any_of(result, [](const json& i) { return !i.is_object(); });
    std::vector<std::vector<std::string>> rows;
    rows.push_back(urls ? std::vector<std::string>{"URL"}
                        : std::vector<std::string>{"HOST", "PORT"});
    for (const auto& item : result) {
        const json host = item.is_object() ? item.value("host", json()) : json();
        const json port = item.is_object() ? item.value("port", json()) : json();
        if (!urls)
            rows.push_back({text_of(host), port_text(port)});
        else
            rows.push_back({item.is_object() ? instance_url(host, port) : text_of(item)});
    }
    return table(rows);
}

// Every known instance; a URL column when some instance pinged with a URL (the others' URL
// follows from host and port), a META column when some has metadata.
std::string list_table(const json& result, std::int64_t now_ms) {
    const auto pinged_with_url = [](const json& item) {
        const json url = item.value("url", json());
        return url.is_string() &&
               url != instance_url(item.value("host", json()), item.value("port", json()));
    };
    const auto has_meta = [](const json& item) {
        return !meta_text(item.value("meta", json())).empty();
    };
    const bool url_column = std::ranges::any_of(result, pinged_with_url);
    const bool meta_column = std::ranges::any_of(result, has_meta);
    std::vector<std::string> header{"NAME", "HOST", "PORT", "STATE", "FIRST SEEN", "LAST SEEN"};
    if (url_column) header.push_back("URL");
    if (meta_column) header.push_back("META");
    std::vector<std::vector<std::string>> rows{header};
    for (const auto& item : result) {
        // value() with a string default throws on a member of another type: read as json.
        const json first = item.value("first_seen", json());
        const json last = item.value("last_seen", json());
        const json state = item.value("state", json());
        std::vector<std::string> row{
            text_of(item.value("name", json())),
            text_of(item.value("host", json())),
            port_text(item.value("port", json())),
            state.is_string() ? state.get<std::string>()
                              : (item.value("alive", json()) == true ? "alive" : "dead"),
            readable_time(first.is_string() ? first.get<std::string>() : ""),
            age(last.is_string() ? last.get<std::string>() : "", now_ms)};
        if (url_column) row.push_back(text_of(item.value("url", json())));
        if (meta_column) row.push_back(meta_text(item.value("meta", json())));
        rows.push_back(std::move(row));
    }
    return table(rows);
}

client_output success(const config::client_command& cmd, const json& result, std::int64_t now_ms) {
    client_output o;
    if (cmd.json) {
        o.out = dump(result) + "\n";
        return o;
    }
    if (cmd.verb == "ping") {
        o.out = "pinged " + cmd.args.at(0) + " at " + endpoint(cmd, 1) + "\n";
    } else if (cmd.verb == "unregister" || cmd.verb == "drain" || cmd.verb == "undrain") {
        return instance_change(cmd, result);
    } else if (cmd.verb == "locate") {
        if (!result.is_array()) return failure(cmd, "unexpected result: " + dump(result));
        if (result.empty()) {
            o.err = prefix(cmd) + "no alive instance matches " + dump(json(cmd.args.at(0))) + "\n";
            return o;
        }
        o.out = locate_table(result);
    } else {
        if (!result.is_array() ||
            !std::ranges::all_of(result, [](const json& i) { return i.is_object(); }))
            return failure(cmd, "unexpected result: " + dump(result));
        if (result.empty()) {
            o.err = prefix(cmd) + "no instance matches " +
                    dump(json(cmd.args.empty() ? std::string("*") : cmd.args.at(0))) + "\n";
            return o;
        }
        o.out = list_table(result, now_ms);
    }
    return o;
}

// The result of the registry's reply, or the failure that it means: a JSON-RPC error
// (whatever the HTTP status: 415 carries one too), another HTTP status, or no JSON-RPC reply.
std::expected<json, client_output> checked_result(const config::client_command& cmd,
                                                  unsigned http_status, std::string_view body) {
    json reply = json::parse(body, nullptr, false);
    const bool rpc_reply = reply.is_object() && reply.value("jsonrpc", json()) == "2.0" &&
                           (reply.contains("result") || reply.contains("error"));
    const json error = rpc_reply ? reply.value("error", json()) : json();

    if (rpc_reply && error.is_object()) {
        std::string why = "the registry answered error " + text_of(error.value("code", json())) +
                          " " + text_of(error.value("message", json()));
        if (error.contains("data") && !error["data"].is_null())
            why += ": " + text_of(error["data"]);
        client_output o = failure(cmd, why);
        if (cmd.json) o.out = dump(json{{"error", error}}) + "\n";
        return std::unexpected(std::move(o));
    }
    if (http_status != 200) {
        std::string why = "the registry answered HTTP " + std::to_string(http_status);
        if (http_status == 404 || http_status == 405)
            why += " (is the URL the registry's JSON-RPC endpoint, ending in /api?)";
        return std::unexpected(failure(cmd, why));
    }
    if (!rpc_reply) return std::unexpected(failure(cmd, "the reply is not a JSON-RPC 2.0 reply"));
    return std::move(reply["result"]);
}

// The params of watch_service after `index`; `meta` only when given, as for locate_service.
json watch_params(const config::client_command& cmd, std::uint64_t index) {
    json params = {{"name", cmd.args.at(0)}, {"index", index}, {"wait", cmd.wait.count()}};
    if (!cmd.meta.empty()) params["meta"] = cmd.meta;
    return params;
}

// {"index": N, "instances": [...]}: a positive N, and each instance as locate_service answers
// it.
bool is_watch_answer(const json& result) {
    if (!result.is_object()) return false;
    const json index = result.value("index", json());
    const json instances = result.value("instances", json());
    return index.is_number_unsigned() && index.get<std::uint64_t>() > 0 && instances.is_array() &&
           std::ranges::all_of(instances,
                               [](const json& i) { return i.is_object() || i.is_string(); });
}

// "--- 2026-12-04 17:05:01 UTC, index 17: 2 alive instances", then the table of locate.
std::string watch_text(const json& result, std::int64_t now_ms) {
    const json& instances = result["instances"];
    std::string out = "--- " + utc_text(now_ms) + ", index " + dump(result["index"]) + ": ";
    if (instances.empty()) return out + "no alive instance\n";
    out += std::to_string(instances.size()) +
           (instances.size() == 1 ? " alive instance\n" : " alive instances\n");
    return out + locate_table(instances);
}

}  // namespace

std::string client_request(const config::client_command& cmd) {
    if (cmd.verb == "watch") return watch_request(cmd, 0);
    json params = json::object();
    std::string method = cmd.verb;  // unregister, drain, undrain
    if (cmd.verb == "ping") {
        params = instance_params(cmd, 1);
        params["name"] = cmd.args.at(0);
    } else if (cmd.verb == "locate") {
        method = "locate_service";
        params = {{"name", cmd.args.at(0)}};
    } else if (cmd.verb == "list") {
        method = "list_services";
        if (!cmd.args.empty()) params = {{"pattern", cmd.args.at(0)}};
    } else {
        params = instance_params(cmd, 0);
    }
    // Sent only when given: a ping without meta keeps what the registry holds.
    if (!cmd.meta.empty()) params["meta"] = cmd.meta;
    return call_text(method, params);
}

client_output client_result(const config::client_command& cmd, unsigned http_status,
                            std::string_view body, std::int64_t now_ms) {
    auto result = checked_result(cmd, http_status, body);
    if (!result) return std::move(result.error());
    return success(cmd, *result, now_ms);
}

std::string watch_request(const config::client_command& cmd, std::uint64_t index) {
    return call_text("watch_service", watch_params(cmd, index));
}

watch_step watch_result(const config::client_command& cmd, std::uint64_t index,
                        unsigned http_status, std::string_view body, std::int64_t now_ms) {
    watch_step step;
    step.index = index;
    auto result = checked_result(cmd, http_status, body);
    if (!result) {
        step.output = std::move(result.error());
    } else if (!is_watch_answer(*result)) {
        step.output = failure(cmd, "unexpected result: " + dump(*result));
    } else if (const auto answered = (*result)["index"].get<std::uint64_t>(); answered != index) {
        step.index = answered;
        step.output.out = cmd.json ? dump(*result) + "\n" : watch_text(*result, now_ms);
    }
    return step;
}

}  // namespace servreg::jsonrpc
