// The SOCI implementation of servreg::storage::store, private to the storage layer and its tests:
// schema versioning, the SQL dialects, and the mapping of database errors to client messages.
#pragma once

#include <exception>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "servreg/config/db_url.h"
#include "servreg/storage/sqlite_checkpointer.h"
#include "servreg/storage/store.h"

namespace servreg::storage {

// The schema version this binary creates and upgrades to (the number of migrations it knows).
inline constexpr int schema_version = 2;

// Choices open_store() makes by itself, which tests may override.
struct store_options {
    // Upserts as statements of up to 64 rows instead of SOCI bulk binds, which the PostgreSQL and
    // MySQL backends run as one round trip per row. Default: on for those, off for SQLite.
    std::optional<bool> multi_row_upserts;
    // When an SQLite file's WAL is checkpointed and started over.
    checkpoint_settings checkpoints;
};

std::unique_ptr<store> open_store(const config::database_target& target,
                                  const store_options& options);

// The value of `key` in a SOCI connect string ("db='/a b.db' timeout=1"), if it is there.
std::optional<std::string> connect_string_value(std::string_view connect_string,
                                                std::string_view key);

// Where a database error happened; the same error reads differently while connecting.
enum class error_phase { connect, use };

// The short reason a client or an operator sees for a database error `e`: no SQL text, no
// password, no driver internals ("database is locked", "disk is full", "connection to ... lost").
// `connected` tells whether the session still answers after the error.
std::string client_reason(const std::exception& e, config::database_kind kind,
                          std::string_view display, bool connected, error_phase phase);

}  // namespace servreg::storage
