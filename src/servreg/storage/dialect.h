// Everything that differs between SQLite, PostgreSQL and MySQL/MariaDB, as one table per
// database read side by side: SQL spellings, session settings, connect-string conventions.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "servreg/config/db_url.h"

namespace servreg::storage {

// Connect-string settings, key and value.
using connect_settings = std::vector<std::pair<std::string_view, std::string>>;

struct dialect {
    config::database_kind kind;
    // SOCI's name for the backend.
    std::string_view backend;

    // --- the connect string (connect_string.cpp) ---
    // The key of the database name (SQLite: of the file).
    std::string_view database_key;
    // Settings written after the URL's parts, where a URL parameter of the same name replaces
    // them, for a round trip's deadline (--db-timeout): a write to an unreachable database must
    // fail within it (SPEC section 5), so the client library's own waits follow it (SQLite's
    // busy timeout, the servers' connect and read timeouts, in seconds).
    connect_settings (*timeouts)(std::chrono::milliseconds round_trip);
    // How a value is written so that SOCI and the client library read it back whole; nullopt
    // when it cannot be.
    std::optional<std::string> (*quote)(std::string_view value);
    // Settings the store adds at the end unless the connect string gives them: they bound how
    // long a call can wait on a server that vanished, within a round trip's deadline.
    connect_settings (*connect_defaults)(std::chrono::milliseconds round_trip);

    // --- the SQL ---
    // Column type of name and host. They must compare byte for byte: MySQL's default collations
    // fold case and accents, hence its binary collation.
    std::string_view text_type;
    // Of the URL that keys an instance (2048 bytes at most): MySQL's keys hold 3072 bytes, too
    // few for 2048 characters of utf8mb4, so it stores bytes, which also compare as bytes.
    std::string_view url_type;
    // Of the metadata, a JSON object of at most 4 KiB of keys and values, escaped.
    std::string_view meta_type;
    std::string_view table_options;
    // Of servreg_services from schema version 3. SQLite stores it in the B-tree of its key, the
    // URL: one descent per ping instead of two (rowid table plus key index).
    std::string_view services_table_options;
    // MySQL has no CREATE INDEX IF NOT EXISTS, so its index is declared inside CREATE TABLE.
    bool index_in_create_table;
    // What follows "INSERT INTO servreg_services (...) VALUES (...), ...": first_seen restarts
    // when the endpoint changes service. Both forms compare the old name before assigning the new
    // one: ON CONFLICT evaluates every SET against the old row, MySQL assigns left to right.
    std::string_view upsert_conflict;
    // SOCI runs a bulk bind as one round trip per row on the servers; statements of many rows
    // save those. SQLite has no round trips and is faster with bulk binds.
    bool multi_row_upserts;
    // What follows "INSERT INTO servreg_tombstones (...) SELECT ...": a later deletion of the
    // same endpoint replaces the earlier one.
    std::string_view tombstone_conflict;
    // The larger of two values: MAX(a, b) is SQLite's spelling of GREATEST.
    std::string_view greatest;
    // The URL of a schema version 2 row, http://host:port/api (IPv6 literals in brackets).
    std::string_view url_of_host_port;
    // "INSERT ... SELECT" that skips rows whose key is taken: the verb and what follows.
    std::string_view insert_ignoring;
    std::string_view ignoring_suffix;
    // The column names of table :table_name, empty when the table does not exist.
    std::string_view columns_query;
    // Whether an index exists: :table_name, :index_name bind; empty where CREATE INDEX IF NOT
    // EXISTS does the job.
    std::string_view index_exists_query;
    // Run after every (re)connect.
    std::vector<std::string_view> session_setup;
    // Other servreg processes may share the database: their changes are polled.
    bool shared;
};

const dialect& dialect_for(config::database_kind kind);

}  // namespace servreg::storage
