// Translation of SQLAlchemy-style database URLs (SPEC section 5) into database targets, checked
// part by part. No part of the URL but the scheme and parameter names ever reaches a message.
#include "servreg/config/db_url.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <optional>
#include <utility>
#include <vector>

namespace servreg::config {
namespace {

constexpr std::string_view supported_schemes =
    "sqlite, postgresql, postgresql+psycopg2, postgresql+pg8000, mysql, mysql+mysqldb, "
    "mysql+pymysql";

using failure = std::unexpected<std::string>;
using key_values = std::vector<std::pair<std::string, std::string>>;

std::string lower(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

bool is_word(std::string_view s, std::string_view extra = {}) {
    return !s.empty() && std::ranges::all_of(s, [extra](unsigned char c) {
        return std::isalnum(c) != 0 || c == '_' || extra.find(static_cast<char>(c)) != extra.npos;
    });
}

std::optional<unsigned> parse_unsigned(std::string_view s, unsigned max) {
    unsigned value = 0;
    if (s.empty() || !std::ranges::all_of(s, [](unsigned char c) { return std::isdigit(c); }))
        return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || value > max) return std::nullopt;
    return value;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Strict: a '%' not followed by two hex digits is an error (Python's unquote would keep it,
// silently handing the database a different password), and so is a NUL, which no C API takes.
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        char c = s[i];
        if (c == '%') {
            if (i + 2 >= s.size()) return std::nullopt;
            int hi = hex_value(s[i + 1]);
            int lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0') return std::nullopt;
        out.push_back(c);
    }
    return out;
}

void set(key_values& kv, std::string_view key, std::string value) {
    auto it = std::ranges::find(kv, key, &key_values::value_type::first);
    if (it != kv.end())
        it->second = std::move(value);
    else
        kv.emplace_back(std::string(key), std::move(value));
}

const std::string* get(const key_values& kv, std::string_view key) {
    auto it = std::ranges::find(kv, key, &key_values::value_type::first);
    return it == kv.end() ? nullptr : &it->second;
}

// `?a=1&b=2`, decoded the way Python's parse_qsl does ('+' is a space). Only `repeatable` may
// be given more than once.
std::expected<key_values, std::string> parse_query(std::string_view query,
                                                   std::string_view repeatable = {}) {
    key_values out;
    while (!query.empty()) {
        auto amp = query.find('&');
        std::string_view piece = query.substr(0, amp);
        query = amp == query.npos ? std::string_view{} : query.substr(amp + 1);
        if (piece.empty()) continue;
        auto eq = piece.find('=');
        auto key = percent_decode(piece.substr(0, eq), true);
        if (!key || !is_word(*key))
            return failure("database URL: a query parameter has an invalid name");
        if (eq == piece.npos)
            return failure("database URL: query parameter '" + *key + "' has no value");
        auto value = percent_decode(piece.substr(eq + 1), true);
        if (!value)
            return failure("database URL: the value of query parameter '" + *key +
                           "' has an invalid %-escape");
        if (get(out, *key) != nullptr && *key != repeatable)
            return failure("database URL: query parameter '" + *key + "' is given twice");
        out.emplace_back(std::move(*key), std::move(*value));
    }
    return out;
}

// The parts of `scheme://[user[:password]@][host][:port][/database][?query]`, split the way
// SQLAlchemy's make_url splits them, so that URLs users already have mean the same thing.
struct server_url {
    std::optional<std::string> user;      // percent-decoded
    std::optional<std::string> password;  // percent-decoded
    std::string host;                     // IPv6 without its brackets
    bool ipv6 = false;
    std::optional<unsigned> port;
    // libpq's list form, "h1:5432,h2:5432" (PostgreSQL only); then host and port are empty.
    std::vector<database_host> hosts;
    std::string database;
    key_values query;
};

// One "host[:port]" or "[v6]:port" of a list of hosts.
std::expected<database_host, std::string> parse_host_port(std::string_view s) {
    database_host h;
    if (s.starts_with('[')) {
        const auto close = s.find(']');
        if (close == s.npos || close == 1)
            return failure("database URL: an IPv6 host must be written as [address]");
        h.name = s.substr(1, close - 1);
        h.ipv6 = true;
        s.remove_prefix(close + 1);
        if (!s.empty() && !s.starts_with(':'))
            return failure("database URL: unexpected characters after an IPv6 host");
    } else {
        const auto colon = std::min(s.find(':'), s.size());
        h.name = s.substr(0, colon);
        s.remove_prefix(colon);
    }
    if (h.name.empty()) return failure("database URL: a host of the list is empty");
    if (h.name.find('@') != std::string::npos)
        return failure(
            "database URL: the host contains '@'; write '@' in a user name or password as %40");
    if (s.starts_with(':') && s.size() > 1) {
        const auto port = parse_unsigned(s.substr(1), 65535);
        if (!port || *port == 0)
            return failure("database URL: the port is not a number between 1 and 65535");
        h.port = static_cast<std::uint16_t>(*port);
    }
    return h;
}

// "h1:5432,h2:5432" into its hosts.
std::expected<std::vector<database_host>, std::string> parse_host_list(std::string_view list) {
    std::vector<database_host> hosts;
    for (;;) {
        const auto comma = list.find(',');
        auto host = parse_host_port(list.substr(0, comma));
        if (!host) return failure(std::move(host.error()));
        hosts.push_back(std::move(*host));
        if (comma == list.npos) return hosts;
        list.remove_prefix(comma + 1);
    }
}

std::expected<server_url, std::string> parse_server_url(std::string_view rest, bool several_hosts) {
    server_url url;
    // SQLAlchemy: username [^:/]*, then optionally ':' password [^@]*, then '@'. The username
    // is greedy, so it may hold '@' itself; the password ends at the first '@'.
    std::size_t host_start = 0;
    std::optional<std::string_view> raw_user, raw_password;
    std::size_t user_end = std::min(rest.find_first_of(":/"), rest.size());
    if (user_end < rest.size() && rest[user_end] == ':') {
        auto at = rest.find('@', user_end + 1);
        if (at != rest.npos) {
            raw_user = rest.substr(0, user_end);
            raw_password = rest.substr(user_end + 1, at - user_end - 1);
            host_start = at + 1;
        }
    }
    if (!raw_user) {
        auto at = rest.substr(0, user_end).rfind('@');
        if (at != rest.npos) {
            raw_user = rest.substr(0, at);
            host_start = at + 1;
        }
    }
    if (raw_user && !raw_user->empty()) {
        url.user = percent_decode(*raw_user, false);
        if (!url.user) return failure("database URL: the user name has an invalid %-escape");
    }
    if (raw_password && !raw_password->empty()) {
        url.password = percent_decode(*raw_password, false);
        if (!url.password) return failure("database URL: the password has an invalid %-escape");
    }

    std::string_view tail = rest.substr(host_start);
    const std::string_view authority =
        tail.substr(0, std::min(tail.find_first_of("/?"), tail.size()));
    if (authority.find(',') != authority.npos) {
        if (!several_hosts)
            return failure("database URL: several hosts are supported for PostgreSQL only");
        auto hosts = parse_host_list(authority);
        if (!hosts) return failure(std::move(hosts.error()));
        url.hosts = std::move(*hosts);
        tail.remove_prefix(authority.size());
    } else if (tail.starts_with('[')) {
        auto close = tail.find(']');
        if (close == tail.npos || close == 1 ||
            tail.substr(0, close).find_first_of("/?") != tail.npos)
            return failure("database URL: an IPv6 host must be written as [address]");
        url.host = tail.substr(1, close - 1);
        url.ipv6 = true;
        tail.remove_prefix(close + 1);
    } else {
        auto end = std::min(tail.find_first_of("/:?"), tail.size());
        url.host = tail.substr(0, end);
        tail.remove_prefix(end);
    }
    if (url.host.find('@') != std::string::npos)
        return failure(
            "database URL: the host contains '@'; write '@' in a user name or password as %40");
    if (tail.starts_with(':')) {
        auto end = std::min(tail.find_first_of("/?"), tail.size());
        std::string_view port = tail.substr(1, end - 1);
        if (!port.empty()) {
            url.port = parse_unsigned(port, 65535);
            if (!url.port || *url.port == 0)
                return failure("database URL: the port is not a number between 1 and 65535");
        }
        tail.remove_prefix(end);
    }
    if (tail.starts_with('/')) {
        auto end = std::min(tail.find('?'), tail.size());
        url.database = tail.substr(1, end - 1);
        tail.remove_prefix(end);
    }
    if (tail.starts_with('?')) {
        auto query = parse_query(tail.substr(1), several_hosts ? "host" : "");
        if (!query) return failure(std::move(query.error()));
        url.query = std::move(*query);
        tail = {};
    }
    if (!tail.empty())
        return failure("database URL: unexpected characters after the host and port");
    return url;
}

// "on db.example:5432", "on [::1]:5432", "on the default host": where the server is, for logs.
std::string location(const key_values& kv, bool ipv6) {
    const std::string* host = get(kv, "host");
    const std::string* port = get(kv, "port");
    if (host == nullptr) return port ? "on the default host, port " + *port : "on the default host";
    if (port == nullptr) return "on " + *host;
    return ipv6 ? "on [" + *host + "]:" + *port : "on " + *host + ":" + *port;
}

// Names the database, the server and the user; never the password.
std::string describe(std::string_view kind, const key_values& kv, std::string_view db_key,
                     std::string_view where) {
    const std::string* db = get(kv, db_key);
    const std::string* user = get(kv, "user");
    std::string out(kind);
    out += db ? " database '" + *db + "' " : " default database ";
    out += where;
    if (user) out += " as user '" + *user + "'";
    return out;
}

// The target's parts, as the URL's authority and path give them.
database_target server_target(database_kind kind, const server_url& url) {
    database_target t;
    t.kind = kind;
    t.hosts = url.hosts;
    if (t.hosts.empty() && (!url.host.empty() || url.port)) {
        t.hosts.push_back(
            {.name = url.host,
             .port = url.port ? std::optional<std::uint16_t>(*url.port) : std::nullopt,
             .ipv6 = url.ipv6});
    }
    if (!url.database.empty()) t.database = url.database;
    t.user = url.user;
    t.password = url.password;
    return t;
}

// What libpq gets, keyword by keyword, in the order it is written: the URL's parts, then the
// query's parameters, each replacing the part it names. The connect timeout (the storage
// layer's) keeps its place, empty here: it has nothing a check below could refuse.
key_values libpq_values(const server_url& url) {
    key_values kv;
    if (!url.host.empty()) set(kv, "host", url.host);
    if (url.port) set(kv, "port", std::to_string(*url.port));
    if (!url.hosts.empty()) {
        std::string names, ports;
        bool any_port = false;
        for (const auto& h : url.hosts) {
            names += (names.empty() ? "" : ",") + h.name;
            ports +=
                (&h == &url.hosts.front() ? "" : ",") + (h.port ? std::to_string(*h.port) : "");
            any_port = any_port || h.port.has_value();
        }
        set(kv, "host", std::move(names));
        if (any_port) set(kv, "port", std::move(ports));
    }
    if (!url.database.empty()) set(kv, "dbname", url.database);
    if (url.user) set(kv, "user", *url.user);
    if (url.password) set(kv, "password", *url.password);
    set(kv, "connect_timeout", {});
    for (const auto& [key, value] : url.query) set(kv, key, value);
    return kv;
}

// SQLAlchemy's form of several hosts, "?host=h1:5432&host=h2:5432": host parameters that are
// given more than once or carry a port become the URL's hosts. A single one without a port is
// libpq's host keyword (a name, or a socket directory), passed on as it is.
std::optional<std::string> hosts_from_query(server_url& url) {
    std::vector<std::string> given;
    for (const auto& [key, value] : url.query)
        if (key == "host") given.push_back(value);
    const bool with_port = std::ranges::any_of(
        given, [](const std::string& v) { return !v.starts_with('/') && v.find(':') != v.npos; });
    if (given.size() < 2 && !with_port) return std::nullopt;
    if (!url.host.empty() || url.port || !url.hosts.empty())
        return "database URL: give the hosts either before the database name or as host "
               "parameters, not both";
    for (const auto& value : given) {
        auto host = parse_host_port(value);
        if (!host) return std::move(host.error());
        url.hosts.push_back(std::move(*host));
    }
    std::erase_if(url.query, [](const auto& kv) { return kv.first == "host"; });
    return std::nullopt;
}

// "on h1:5432,h2:5432": the hosts of a list, for logs.
std::string list_location(const std::vector<database_host>& hosts) {
    std::string out = "on ";
    for (const auto& h : hosts) {
        if (&h != &hosts.front()) out += ',';
        out += h.ipv6 ? "[" + h.name + "]" : h.name;
        if (h.port) out += ":" + std::to_string(*h.port);
    }
    return out;
}

std::expected<database_target, std::string> postgresql_target(server_url url) {
    if (auto error = hosts_from_query(url)) return failure(std::move(*error));
    // Query parameters are libpq keywords (sslmode, application_name, host for a socket
    // directory, ...); libpq itself rejects the ones it does not know when connecting.
    const key_values kv = libpq_values(url);
    // SOCI 4.0.3's postgresql backend re-tokenizes the conninfo before libpq reads it: a value
    // with whitespace must be quoted for both, which leaves no way to write a '"' in it.
    for (const auto& [key, value] : kv) {
        const bool spaced =
            std::ranges::any_of(value, [](unsigned char c) { return std::isspace(c) != 0; });
        if (spaced && value.find('"') != std::string::npos)
            return failure("database URL: the PostgreSQL " + key +
                           " has both whitespace and a '\"', which SOCI cannot pass on");
    }
    // A host given as a query parameter replaces the URL's, brackets and all.
    const bool ipv6 = url.ipv6 && get(kv, "host") && *get(kv, "host") == url.host;
    database_target t = server_target(database_kind::postgresql, url);
    // A host parameter left in the query replaces the list, as it replaces a single host.
    const bool listed =
        !url.hosts.empty() && std::ranges::none_of(url.query, [](const auto& parameter) {
            return parameter.first == "host";
        });
    t.display = describe("postgresql", kv, "dbname",
                         listed ? list_location(url.hosts) : location(kv, ipv6));
    t.parameters = std::move(url.query);
    return t;
}

std::expected<database_target, std::string> mysql_target(server_url url) {
    // The keys SOCI 4.0.3's mysql backend accepts; any other makes it throw "Malformed
    // connection string" at connect time, so refuse it here with its name instead. The
    // ssl_* spellings are the ones SQLAlchemy's MySQL dialects take.
    static constexpr std::array<std::pair<std::string_view, std::string_view>, 13> known{{
        {"charset", "charset"},
        {"unix_socket", "unix_socket"},
        {"sslca", "sslca"},
        {"sslcert", "sslcert"},
        {"sslkey", "sslkey"},
        {"ssl_ca", "sslca"},
        {"ssl_cert", "sslcert"},
        {"ssl_key", "sslkey"},
        {"local_infile", "local_infile"},
        {"reconnect", "reconnect"},
        {"connect_timeout", "connect_timeout"},
        {"read_timeout", "read_timeout"},
        {"write_timeout", "write_timeout"},
    }};
    database_target t = server_target(database_kind::mysql, url);
    for (auto& [key, value] : url.query) {
        auto it =
            std::ranges::find(known, key, &std::pair<std::string_view, std::string_view>::first);
        if (it == known.end())
            return failure("database URL: mysql parameter '" + key +
                           "' is not supported; supported: charset, unix_socket, sslca, sslcert, "
                           "sslkey, local_infile, reconnect, connect_timeout, read_timeout, "
                           "write_timeout");
        std::string_view name = it->second;
        bool ok = true;
        if (name.ends_with("timeout"))
            ok = parse_unsigned(value, 86400).value_or(0) > 0;
        else if (name == "local_infile")
            ok = value == "0" || value == "1";
        else if (name == "reconnect")
            ok = value == "1";  // SOCI refuses any other value
        else if (name == "charset")
            ok = is_word(value);
        else
            ok = !value.empty();
        if (!ok) return failure("database URL: mysql parameter '" + key + "' has an invalid value");
        set(t.parameters, name, std::move(value));
    }
    // None of the parameters names the host, the database or the user.
    key_values kv;
    if (!url.host.empty()) set(kv, "host", url.host);
    if (url.port) set(kv, "port", std::to_string(*url.port));
    if (!url.database.empty()) set(kv, "db", url.database);
    if (url.user) set(kv, "user", *url.user);
    const std::string* socket = get(t.parameters, "unix_socket");
    std::string where =
        socket && !get(kv, "host") ? "on socket " + *socket : location(kv, url.ipv6);
    t.display = describe("mysql", kv, "db", where);
    return t;
}

std::expected<database_target, std::string> sqlite_target(std::string_view rest) {
    auto qmark = rest.find('?');
    std::string_view body = rest.substr(0, qmark);
    key_values query;
    if (qmark != rest.npos) {
        auto parsed = parse_query(rest.substr(qmark + 1));
        if (!parsed) return failure(std::move(parsed.error()));
        query = std::move(*parsed);
    }

    std::string path;
    if (body.empty() || body == ":memory:") {
        path = ":memory:";  // sqlite:// and sqlite://:memory:
    } else if (body.starts_with('/')) {
        path = body.substr(1);
        if (path.empty()) path = ":memory:";
    } else {
        return failure(
            "database URL: an sqlite URL names no host; write sqlite:///relative/path.db or "
            "sqlite:////absolute/path.db");
    }

    database_target t;
    t.kind = database_kind::sqlite;
    t.path = path;
    for (auto& [key, value] : query) {
        auto truth = [&value]() -> std::optional<bool> {
            std::string v = lower(value);
            if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
            if (v == "0" || v == "false" || v == "no" || v == "off") return false;
            return std::nullopt;
        };
        bool ok = true;
        if (key == "timeout") {
            ok = parse_unsigned(value, 86400).has_value();
            if (ok) set(t.parameters, key, value);
        } else if (key == "synchronous") {
            static constexpr std::array<std::string_view, 8> levels{
                "off", "normal", "full", "extra", "0", "1", "2", "3"};
            ok = std::ranges::find(levels, lower(value)) != levels.end();
            if (ok) set(t.parameters, key, lower(value));
        } else if (key == "readonly" || key == "shared_cache") {
            // SOCI acts on the mere presence of readonly, so a false value must be left out.
            auto flag = truth();
            ok = flag.has_value();
            if (flag.value_or(false)) set(t.parameters, key, "true");
        } else if (key == "vfs") {
            ok = is_word(value, "-.");
            if (ok) set(t.parameters, key, value);
        } else {
            return failure("database URL: sqlite parameter '" + key +
                           "' is not supported; supported: timeout, synchronous, readonly, "
                           "shared_cache, vfs");
        }
        if (!ok)
            return failure("database URL: sqlite parameter '" + key + "' has an invalid value");
    }

    // SOCI 4.0.3's sqlite3 backend splits its connect string at single spaces and unquotes a
    // value in double quotes, without any escape: a path with a space goes in double quotes,
    // and then can hold no double quote nor start with a space.
    if (path.find(' ') != path.npos && (path.find('"') != path.npos || path.starts_with(' ')))
        return failure(
            "database URL: an sqlite path with a space can hold no '\"' and cannot start with "
            "a space");
    t.display = t.in_memory() ? "sqlite in memory" : "sqlite file " + path;
    return t;
}

}  // namespace

std::expected<database_target, std::string> translate_db_url(std::string_view url) {
    if (url.find('\0') != url.npos) return failure("database URL: contains a NUL character");
    auto sep = url.find("://");
    // Only a well-formed scheme is ever quoted back: anything else may be a password.
    if (sep == url.npos || !is_word(url.substr(0, sep), "+"))
        return failure("database URL has no scheme (such as sqlite:///servreg.db); supported: " +
                       std::string(supported_schemes));
    std::string_view scheme = url.substr(0, sep);
    std::string name = lower(scheme);
    std::string_view rest = url.substr(sep + 3);

    if (name == "sqlite") return sqlite_target(rest);
    bool postgresql =
        name == "postgresql" || name == "postgresql+psycopg2" || name == "postgresql+pg8000";
    bool mysql = name == "mysql" || name == "mysql+mysqldb" || name == "mysql+pymysql";
    if (!postgresql && !mysql)
        return failure("unsupported database URL scheme '" + std::string(scheme) +
                       "'; supported: " + std::string(supported_schemes));
    auto parsed = parse_server_url(rest, postgresql);
    if (!parsed) return failure(std::move(parsed.error()));
    if (postgresql) return postgresql_target(std::move(*parsed));
    return mysql_target(std::move(*parsed));
}

}  // namespace servreg::config
