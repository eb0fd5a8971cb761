// Translation of SQLAlchemy-style database URLs into a structured database target: which
// database, where, as whom. How a driver is then told all that is the storage layer's business.
#pragma once

#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace servreg::config {

enum class database_kind { sqlite, postgresql, mysql };

// A server as the URL names it.
struct database_host {
    std::string name;  // a name or an address, IPv6 without its brackets; empty: the default
    std::optional<std::uint16_t> port;
    bool ipv6 = false;  // written in brackets in the URL, and so in the display
};

struct database_target {
    database_kind kind = database_kind::sqlite;
    // SQLite: the file as the URL names it (relative to the working directory), or ":memory:".
    std::string path;
    // A server's parts as the URL's authority and path give them; what the URL leaves out is
    // absent, for the client library's default. A PostgreSQL URL may name several hosts, in
    // libpq's form (h1:5432,h2:5432) or SQLAlchemy's (?host=h1:5432&host=h2:5432): libpq tries
    // them in order (failover, with target_session_attrs).
    std::vector<database_host> hosts;
    std::optional<std::string> database;
    std::optional<std::string> user;
    std::optional<std::string> password;  // the secret: never in a message or a log
    // The query's parameters, checked, in the URL's order, under the names the client library
    // knows (MySQL's ssl_ca is sslca; SQLite's flags are "true", a false one is left out). For
    // PostgreSQL they are libpq keywords, which may replace a part above (host, dbname, user,
    // password...).
    std::vector<std::pair<std::string, std::string>> parameters;
    // Safe to log: names the database, the server and the user, never the password.
    std::string display;

    bool in_memory() const { return kind == database_kind::sqlite && path == ":memory:"; }
};

// Translates `url` (SPEC section 5). On failure, the reason, fit to show a user: for an
// unknown scheme it lists the supported ones.
std::expected<database_target, std::string> translate_db_url(std::string_view url);

}  // namespace servreg::config
