// The SOCI implementation of servreg::storage::store, private to the storage layer and its
// tests: the choices open_store() makes by itself, which tests may override.
#pragma once

#include <chrono>
#include <memory>
#include <optional>

#include "servreg/config/db_url.h"
#include "servreg/storage/connect_string.h"
#include "servreg/storage/deadline.h"
#include "servreg/storage/sqlite_checkpointer.h"
#include "servreg/storage/store.h"

namespace servreg::storage {

// Choices open_store() makes by itself, which tests may override.
struct store_options {
    // Upserts as statements of up to 64 rows instead of SOCI bulk binds, which the PostgreSQL and
    // MySQL backends run as one round trip per row. Default: on for those, off for SQLite.
    std::optional<bool> multi_row_upserts;
    // When an SQLite file's WAL is checkpointed and started over.
    checkpoint_settings checkpoints;
    // The deadlines of round trips (deadline.h); none when null.
    watchdog* deadlines = nullptr;

    // The deadline of a round trip: the watchdog's, or --db-timeout's default without one.
    std::chrono::milliseconds round_trip() const noexcept {
        return deadlines ? deadlines->timeout() : default_round_trip;
    }
};

std::unique_ptr<store> open_store(const config::database_target& target,
                                  const store_options& options);

}  // namespace servreg::storage
