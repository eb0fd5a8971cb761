// The command-line client's calls and their presentation: a table for people, the reply's
// result (or error) as JSON for scripts, and an exit status that tells the two failures apart.
#include "servreg/jsonrpc/client.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
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
        out += '\n';
    }
    return out;
}

std::string text_of(const json& j) {
    return j.is_string() ? j.get<std::string>() : dump(j);
}

std::string port_text(const json& j) {
    return j.is_number_integer() ? std::to_string(j.get<long long>()) : text_of(j);
}

client_output failure(const config::client_command& cmd, std::string why) {
    client_output o;
    o.status = client_status::registry_error;
    o.err = prefix(cmd) + why + "\n";
    return o;
}

client_output success(const config::client_command& cmd, const json& result, std::int64_t now_ms) {
    client_output o;
    if (cmd.json) {
        o.out = dump(result) + "\n";
        return o;
    }
    if (cmd.verb == "ping") {
        o.out = "pinged " + cmd.args.at(0) + " at " + cmd.args.at(1) + ":" + cmd.args.at(2) + "\n";
    } else if (cmd.verb == "unregister") {
        const std::string endpoint = cmd.args.at(0) + ":" + cmd.args.at(1);
        o.out =
            result == true ? "unregistered " + endpoint + "\n" : endpoint + " was not registered\n";
    } else if (cmd.verb == "locate") {
        if (!result.is_array()) return failure(cmd, "unexpected result: " + dump(result));
        if (result.empty()) {
            o.err = prefix(cmd) + "no alive instance matches " + dump(json(cmd.args.at(0))) + "\n";
            return o;
        }
        std::vector<std::vector<std::string>> rows{{"HOST", "PORT"}};
        for (const auto& item : result) {
            rows.push_back(
                {text_of(item.value("host", json())), port_text(item.value("port", json()))});
        }
        o.out = table(rows);
    } else {
        if (!result.is_array()) return failure(cmd, "unexpected result: " + dump(result));
        if (result.empty()) {
            o.err = prefix(cmd) + "no instance matches " +
                    dump(json(cmd.args.empty() ? std::string("*") : cmd.args.at(0))) + "\n";
            return o;
        }
        std::vector<std::vector<std::string>> rows{
            {"NAME", "HOST", "PORT", "STATE", "FIRST SEEN", "LAST SEEN"}};
        for (const auto& item : result) {
            const std::string first = item.value("first_seen", std::string());
            const std::string last = item.value("last_seen", std::string());
            rows.push_back({text_of(item.value("name", json())),
                            text_of(item.value("host", json())),
                            port_text(item.value("port", json())),
                            item.value("alive", false) ? "alive" : "dead", readable_time(first),
                            age(last, now_ms)});
        }
        o.out = table(rows);
    }
    return o;
}

}  // namespace

std::string client_request(const config::client_command& cmd) {
    json params = json::object();
    std::string method;
    auto port = [](const std::string& s) { return std::stoi(s); };  // validated by the parser
    if (cmd.verb == "ping") {
        method = "ping";
        params = {
            {"name", cmd.args.at(0)}, {"host", cmd.args.at(1)}, {"port", port(cmd.args.at(2))}};
    } else if (cmd.verb == "locate") {
        method = "locate_service";
        params = {{"name", cmd.args.at(0)}};
    } else if (cmd.verb == "list") {
        method = "list_services";
        if (!cmd.args.empty()) params = {{"pattern", cmd.args.at(0)}};
    } else if (cmd.verb == "unregister") {
        method = "unregister";
        params = {{"host", cmd.args.at(0)}, {"port", port(cmd.args.at(1))}};
    }
    json call = {{"jsonrpc", "2.0"}, {"method", method}, {"params", params}, {"id", 1}};
    return dump(call);
}

client_output client_result(const config::client_command& cmd, unsigned http_status,
                            std::string_view body, std::int64_t now_ms) {
    json reply = json::parse(body, nullptr, false);
    const bool rpc_reply = reply.is_object() && reply.value("jsonrpc", json()) == "2.0" &&
                           (reply.contains("result") || reply.contains("error"));
    const json error = rpc_reply ? reply.value("error", json()) : json();

    if (rpc_reply && error.is_object()) {
        // A JSON-RPC error, whatever the HTTP status (415 carries one too).
        std::string why = "the registry answered error " + text_of(error.value("code", json())) +
                          " " + text_of(error.value("message", json()));
        if (error.contains("data") && !error["data"].is_null())
            why += ": " + text_of(error["data"]);
        client_output o = failure(cmd, why);
        if (cmd.json) o.out = dump(json{{"error", error}}) + "\n";
        return o;
    }
    if (http_status != 200) {
        std::string why = "the registry answered HTTP " + std::to_string(http_status);
        if (http_status == 404 || http_status == 405)
            why += " (is the URL the registry's JSON-RPC endpoint, ending in /api?)";
        return failure(cmd, why);
    }
    if (!rpc_reply) return failure(cmd, "the reply is not a JSON-RPC 2.0 reply");
    return success(cmd, reply["result"], now_ms);
}

}  // namespace servreg::jsonrpc
