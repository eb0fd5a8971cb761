// SOCI connect strings written from database targets, and read back: the one place that knows
// how SOCI 4.0.3's backends tokenize them and how each client library unquotes a value.
#include "servreg/storage/connect_string.h"

#include <algorithm>
#include <cctype>
#include <utility>

#include "servreg/storage/dialect.h"
#include "servreg/storage/store.h"

namespace servreg::storage {
namespace {

using key_values = std::vector<std::pair<std::string, std::string>>;

// libpq's list forms: "a,b" for hosts and ports; one entry is written as it is.
std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& item : items) {
        // An empty entry is the default ("h1,h2 port=,5433"): the commas count, not the text.
        if (&item != &items.front()) out.push_back(',');
        out += item;
    }
    return out;
}

}  // namespace

// SOCI 4.0.3's sqlite3 backend splits its connect string at single spaces and unquotes a
// value in double quotes, without any escape: a value with a space goes in double quotes and
// then must not hold a double quote or start with a space.
std::optional<std::string> quote_sqlite(std::string_view v) {
    bool has_space = v.find(' ') != v.npos;
    if (!has_space && !v.starts_with('"')) return std::string(v);
    if (has_space && (v.find('"') != v.npos || v.starts_with(' '))) return std::nullopt;
    return "\"" + std::string(v) + "\"";
}

// SOCI 4.0.3's postgresql backend re-tokenizes the conninfo before libpq reads it: a value
// ends at whitespace, unless it starts with '"', in which case it runs to the next '"' and
// loses its double quotes. So a value with whitespace goes in libpq's single quotes inside
// SOCI's double quotes (and cannot hold a '"'); any other value goes unquoted, with libpq's
// backslash escapes, which also keep a leading '"' from SOCI.
std::optional<std::string> quote_postgresql(std::string_view v) {
    if (v.empty()) return "''";
    bool spaced = std::ranges::any_of(v, [](unsigned char c) { return std::isspace(c) != 0; });
    if (spaced && v.find('"') != v.npos) return std::nullopt;
    std::string out = spaced ? "\"'" : "";
    for (char c : v) {
        if (c == '\'' || c == '\\' || c == '"') out.push_back('\\');
        out.push_back(c);
    }
    if (spaced) out += "'\"";
    return out;
}

// SOCI's mysql connect string: a value that is empty or holds whitespace, a quote or a
// backslash goes in single quotes, where quotes and backslashes are escaped by a backslash.
std::optional<std::string> quote_mysql(std::string_view v) {
    bool plain = !v.empty() && std::ranges::none_of(v, [](unsigned char c) {
        return std::isspace(c) != 0 || c == '\'' || c == '\\';
    });
    if (plain) return std::string(v);
    std::string out = "'";
    for (char c : v) {
        if (c == '\'' || c == '\\') out.push_back('\\');
        out.push_back(c);
    }
    out.push_back('\'');
    return out;
}

soci_connection soci_connection_for(const config::database_target& target,
                                    std::chrono::milliseconds round_trip) {
    const dialect& d = dialect_for(target.kind);
    key_values kv;
    // A key given again replaces the value in its place: the order is the URL's.
    const auto set = [&kv](std::string_view key, std::string value) {
        auto it = std::ranges::find(kv, key, &key_values::value_type::first);
        if (it == kv.end()) return void(kv.emplace_back(std::string(key), std::move(value)));
        it->second = std::move(value);
    };
    if (target.kind == config::database_kind::sqlite) {
        set(d.database_key, target.path);
    } else {
        std::vector<std::string> names, ports;
        bool any_name = false, any_port = false;
        for (const auto& host : target.hosts) {
            names.push_back(host.name);
            ports.push_back(host.port ? std::to_string(*host.port) : std::string());
            any_name = any_name || !host.name.empty();
            any_port = any_port || host.port.has_value();
        }
        if (any_name) set("host", joined(names));
        if (any_port) set("port", joined(ports));
        if (target.database) set(d.database_key, *target.database);
        if (target.user) set("user", *target.user);
        if (target.password) set("password", *target.password);
    }
    for (auto& [key, value] : d.timeouts(round_trip)) set(key, std::move(value));
    for (const auto& [key, value] : target.parameters) set(key, value);

    soci_connection out{.backend = std::string(d.backend), .connect_string = {}, .secrets = {}};
    for (const auto& [key, value] : kv) {
        std::optional<std::string> quoted = d.quote(value);
        if (!quoted)
            throw storage_error("cannot open " + target.display + ": its " + key +
                                " cannot be written in a connect string");
        if (!out.connect_string.empty()) out.connect_string.push_back(' ');
        out.connect_string += key + "=" + *quoted;
        if (key == "password" && !value.empty()) {
            out.secrets = {value};
            if (*quoted != value) out.secrets.push_back(std::move(*quoted));
        }
    }
    return out;
}

void add_connect_defaults(soci_connection& connection, const dialect& d,
                          std::chrono::milliseconds round_trip) {
    for (const auto& [key, value] : d.connect_defaults(round_trip)) {
        if (!connect_string_value(connection.connect_string, key)) {
            connection.connect_string += " " + std::string(key) + "=" + value;
        }
    }
}

// SOCI's grammar: whitespace-separated key=value, a value in quotes may hold spaces. libpq also
// takes single quotes and backslash escapes.
std::optional<std::string> connect_string_value(std::string_view connect_string,
                                                std::string_view key) {
    std::optional<std::string> found;
    std::size_t i = 0;
    const auto at_space = [&] {
        return i < connect_string.size() &&
               std::isspace(static_cast<unsigned char>(connect_string[i]));
    };
    while (i < connect_string.size()) {
        while (at_space()) ++i;
        const std::size_t key_start = i;
        while (i < connect_string.size() && connect_string[i] != '=' && !at_space()) ++i;
        const std::string_view this_key = connect_string.substr(key_start, i - key_start);
        std::string value;
        if (i < connect_string.size() && connect_string[i] == '=') {
            ++i;
            if (i < connect_string.size() &&
                (connect_string[i] == '\'' || connect_string[i] == '"')) {
                const char quote = connect_string[i++];
                for (; i < connect_string.size() && connect_string[i] != quote; ++i) {
                    if (connect_string[i] == '\\' && i + 1 < connect_string.size()) ++i;
                    value += connect_string[i];
                }
                ++i;  // the closing quote
            } else {
                while (i < connect_string.size() && !at_space()) value += connect_string[i++];
            }
        }
        if (!this_key.empty() && this_key == key) found = std::move(value);  // the last one wins
    }
    return found;
}

}  // namespace servreg::storage
