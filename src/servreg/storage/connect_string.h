// SOCI connect strings: written once from a database target, with each driver's quoting, and
// read back key by key.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/config/db_url.h"

namespace servreg::storage {

struct dialect;

// --db-timeout's default: the deadline of a round trip when no watchdog gives one.
inline constexpr std::chrono::milliseconds default_round_trip{2000};

// How long what runs within a round trip may take before the server or the client library
// ends it itself: three quarters of the deadline, so that it gives up before the watchdog does.
constexpr std::chrono::milliseconds within_round_trip(std::chrono::milliseconds round_trip) {
    return round_trip * 3 / 4;
}

// What SOCI opens a session with.
struct soci_connection {
    std::string backend;         // "sqlite3", "postgresql", "mysql"
    std::string connect_string;  // may hold the password
    // What must never reach a log: the password, as the client library gets it and, when that
    // differs, as connect_string spells it (last).
    std::vector<std::string> secrets;
};

// The connection to `target`: the URL's parts under the driver's keys, the dialect's timeouts
// for a round trip's deadline (--db-timeout, 2 s by default), then the URL's parameters, each
// replacing a key of its name. Throws storage_error when a value cannot be written
// (translate_db_url refuses such URLs).
soci_connection soci_connection_for(const config::database_target& target,
                                    std::chrono::milliseconds round_trip = default_round_trip);

// Adds the dialect's connect defaults (dialect::connect_defaults) for a round trip's deadline
// that `connection` does not give: what the store opens, beyond what the URL says.
void add_connect_defaults(soci_connection& connection, const dialect& d,
                          std::chrono::milliseconds round_trip = default_round_trip);

// Value quoting, one per dialect (dialect::quote); nullopt when the value cannot be written.
std::optional<std::string> quote_sqlite(std::string_view value);
std::optional<std::string> quote_postgresql(std::string_view value);
std::optional<std::string> quote_mysql(std::string_view value);

// The value of `key` in a SOCI connect string ("db='/a b.db' timeout=1"), if it is there.
std::optional<std::string> connect_string_value(std::string_view connect_string,
                                                std::string_view key);

}  // namespace servreg::storage
