// The dialect tables of SQLite, PostgreSQL and MySQL/MariaDB (dialect.h says what each field
// means); the rest of the storage layer is the same code and SQL for all three.
#include "servreg/storage/dialect.h"

#include <algorithm>

#include "servreg/storage/connect_string.h"

namespace servreg::storage {

using config::database_kind;
using std::chrono::milliseconds;

namespace {

// Whole seconds, rounded up, and at least `least`.
std::string seconds_up(milliseconds d, long least) {
    return std::to_string(std::max<long>(least, static_cast<long>((d.count() + 999) / 1000)));
}

// SQLite's busy timeout, until the connected store sets half a round trip
// (soci_store::configure_session).
connect_settings sqlite_timeouts(milliseconds) {
    return {{"timeout", "1"}};
}

connect_settings postgresql_timeouts(milliseconds round_trip) {
    return {{"connect_timeout", seconds_up(round_trip, 2)}};
}

// libpq has no read timeout: a server that vanished without closing the connection is found by
// TCP keepalives, and unacknowledged data by tcp_user_timeout, both within three quarters of a
// round trip (idle half of it, then one probe of the other half; 1 s each at the least).
connect_settings postgresql_connect_defaults(milliseconds round_trip) {
    const milliseconds within = within_round_trip(round_trip);
    const std::string probe = std::to_string(std::max<long>(1, within.count() / 2000));
    return {{"keepalives", "1"},
            {"keepalives_idle", probe},
            {"keepalives_interval", probe},
            {"keepalives_count", "1"},
            {"tcp_user_timeout", std::to_string(within.count())}};
}

connect_settings mysql_timeouts(milliseconds round_trip) {
    const std::string wait = seconds_up(round_trip, 1);
    return {{"connect_timeout", seconds_up(round_trip, 2)},
            {"read_timeout", wait},
            {"write_timeout", wait}};
}

connect_settings none(milliseconds) {
    return {};
}

}  // namespace

const dialect& dialect_for(database_kind kind) {
    static const dialect sqlite{
        .kind = database_kind::sqlite,
        .backend = "sqlite3",
        .database_key = "db",
        .timeouts = &sqlite_timeouts,
        .quote = &quote_sqlite,
        .connect_defaults = &none,
        .text_type = "VARCHAR(255)",
        .url_type = "VARCHAR(2048)",
        .meta_type = "TEXT",
        .table_options = "",
        .services_table_options = " WITHOUT ROWID",
        .index_in_create_table = false,
        // A ping without metadata (NULL) keeps what is stored; drained is left alone.
        .upsert_conflict =
            " ON CONFLICT (url) DO UPDATE SET "
            "first_seen = CASE WHEN servreg_services.name = excluded.name "
            "THEN servreg_services.first_seen ELSE excluded.first_seen END, "
            "name = excluded.name, host = excluded.host, port = excluded.port, "
            "url_form = excluded.url_form, meta = COALESCE(excluded.meta, servreg_services.meta), "
            "last_seen = excluded.last_seen, changed = excluded.changed",
        .multi_row_upserts = false,
        .tombstone_conflict = " ON CONFLICT (url) DO UPDATE SET deleted_at = excluded.deleted_at",
        .greatest = "MAX",
        .url_of_host_port =
            "'http://' || CASE WHEN host LIKE '%:%' AND host NOT LIKE '[%' "
            "THEN '[' || host || ']' ELSE host END || ':' || port || '/api'",
        .insert_ignoring = "INSERT OR IGNORE INTO",
        .ignoring_suffix = "",
        .columns_query = "SELECT name FROM pragma_table_info(:table_name)",
        .index_exists_query = "",
        .session_setup = {},
        .shared = false,
    };
    static const dialect postgresql{
        .kind = database_kind::postgresql,
        .backend = "postgresql",
        .database_key = "dbname",
        .timeouts = &postgresql_timeouts,
        .quote = &quote_postgresql,
        .connect_defaults = &postgresql_connect_defaults,
        .text_type = "VARCHAR(255)",
        .url_type = "VARCHAR(2048)",
        .meta_type = "TEXT",
        .table_options = "",
        .services_table_options = "",
        .index_in_create_table = false,
        .upsert_conflict = sqlite.upsert_conflict,
        .multi_row_upserts = true,
        .tombstone_conflict = sqlite.tombstone_conflict,
        .greatest = "GREATEST",
        .url_of_host_port = sqlite.url_of_host_port,
        .insert_ignoring = "INSERT INTO",
        .ignoring_suffix = " ON CONFLICT DO NOTHING",
        .columns_query =
            "SELECT CAST(column_name AS VARCHAR(255)) FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND table_name = :table_name",
        .index_exists_query = "",
        // And a statement_timeout that follows --db-timeout (soci_store::limit_statements).
        .session_setup = {"SET client_encoding TO 'UTF8'", "SET client_min_messages TO ERROR"},
        .shared = true,
    };
    static const dialect mysql{
        .kind = database_kind::mysql,
        .backend = "mysql",
        .database_key = "db",
        .timeouts = &mysql_timeouts,
        .quote = &quote_mysql,
        .connect_defaults = &none,
        .text_type = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        .url_type = "VARBINARY(2048)",
        .meta_type = "TEXT CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        .table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        .services_table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        .index_in_create_table = true,
        // utf8mb4_bin pads with spaces when comparing, so the name change test casts to bytes.
        .upsert_conflict =
            " ON DUPLICATE KEY UPDATE "
            "first_seen = IF(CAST(name AS BINARY) = CAST(VALUES(name) AS BINARY), "
            "first_seen, VALUES(first_seen)), "
            "name = VALUES(name), host = VALUES(host), port = VALUES(port), "
            "url_form = VALUES(url_form), meta = COALESCE(VALUES(meta), meta), "
            "last_seen = VALUES(last_seen), changed = VALUES(changed)",
        .multi_row_upserts = true,
        .tombstone_conflict = " ON DUPLICATE KEY UPDATE deleted_at = VALUES(deleted_at)",
        .greatest = "GREATEST",
        .url_of_host_port =
            "CONCAT('http://', IF(host LIKE '%:%' AND host NOT LIKE '[%', "
            "CONCAT('[', host, ']'), host), ':', port, '/api')",
        .insert_ignoring = "INSERT IGNORE INTO",
        .ignoring_suffix = "",
        .columns_query =
            "SELECT CAST(column_name AS CHAR(255)) FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = :table_name",
        .index_exists_query =
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
            "AND table_name = :table_name AND index_name = :index_name",
        // READ COMMITTED takes no gap locks, so concurrent upserts from several servreg
        // processes deadlock far less. And an innodb_lock_wait_timeout that follows
        // --db-timeout (soci_store::limit_statements) instead of InnoDB's 50 s.
        .session_setup = {"SET NAMES utf8mb4",
                          "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED"},
        .shared = true,
    };
    switch (kind) {
        case database_kind::postgresql:
            return postgresql;
        case database_kind::mysql:
            return mysql;
        case database_kind::sqlite:
            break;
    }
    return sqlite;
}

}  // namespace servreg::storage
