// The schema migrations, applied in order at start-up from the version a database records in
// servreg_schema.
#include "servreg/storage/schema.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <string>
#include <vector>

#include "servreg/storage/db_errors.h"
#include "servreg/storage/store.h"

namespace servreg::storage {
namespace {

using config::database_kind;

// A database from before servreg_schema may hold a servreg_services table of another shape (the
// original registry's). Its rows are only liveness pings that come back within seconds, so it is
// kept aside under another name rather than converted.
// The column names of `table`, in lower case; empty when there is no such table.
std::vector<std::string> columns_of(soci::session& sql, const dialect& d,
                                    const std::string& table) {
    std::vector<std::string> columns(64);
    sql << d.columns_query, soci::use(table, "table_name"), soci::into(columns);
    for (auto& c : columns) {
        std::ranges::transform(c, c.begin(), [](unsigned char ch) { return std::tolower(ch); });
    }
    return columns;
}

bool has_column(const std::vector<std::string>& columns, std::string_view name) {
    return std::ranges::find(columns, name) != columns.end();
}

void set_aside_foreign_table(soci::session& sql, const dialect& d) {
    const std::vector<std::string> columns = columns_of(sql, d, "servreg_services");
    if (columns.empty()) return;
    const bool ours = std::ranges::all_of(
        std::array<std::string_view, 5>{"name", "host", "port", "first_seen", "last_seen"},
        [&](std::string_view want) { return has_column(columns, want); });
    if (ours) return;
    spdlog::warn(
        "storage: servreg_services has an unknown layout; renaming it servreg_services_v0");
    sql << "ALTER TABLE servreg_services RENAME TO servreg_services_v0";
}

void migrate_to_1(soci::session& sql, const dialect& d) {
    set_aside_foreign_table(sql, d);
    const std::string text(d.text_type);
    std::string create = "CREATE TABLE IF NOT EXISTS servreg_services (name " + text +
                         " NOT NULL, host " + text +
                         " NOT NULL, port INTEGER NOT NULL, first_seen BIGINT NOT NULL, "
                         "last_seen BIGINT NOT NULL, PRIMARY KEY (host, port)";
    if (d.index_in_create_table) create += ", INDEX servreg_services_name (name)";
    create += ")";
    create += d.table_options;
    sql << create;
    if (!d.index_in_create_table) {
        sql << "CREATE INDEX IF NOT EXISTS servreg_services_name ON servreg_services (name)";
    }
}

void create_index(soci::session& sql, const dialect& d, const std::string& table,
                  const std::string& index, const std::string& columns) {
    if (d.index_exists_query.empty()) {
        sql << "CREATE INDEX IF NOT EXISTS " + index + " ON " + table + " (" + columns + ")";
        return;
    }
    // MySQL knows no CREATE INDEX IF NOT EXISTS.
    long long count = 0;
    sql << d.index_exists_query, soci::use(table, "table_name"), soci::use(index, "index_name"),
        soci::into(count);
    if (count == 0) sql << "CREATE INDEX " + index + " ON " + table + " (" + columns + ")";
}

// Version 2: what several servreg processes on one database need to see each other's changes.
// servreg_tombstones remembers deleted endpoints for a while; the index on last_seen lets each
// process read what was pinged lately without scanning the table. SQLite, which one process
// owns, does without that index: it would only slow every ping down.
void migrate_to_2(soci::session& sql, const dialect& d) {
    const std::string text(d.text_type);
    std::string create = "CREATE TABLE IF NOT EXISTS servreg_tombstones (host " + text +
                         " NOT NULL, port INTEGER NOT NULL, deleted_at BIGINT NOT NULL, "
                         "PRIMARY KEY (host, port))";
    create += d.table_options;
    sql << create;
    create_index(sql, d, "servreg_tombstones", "servreg_tombstones_deleted_at", "deleted_at");
    if (d.shared) {
        create_index(sql, d, "servreg_services", "servreg_services_last_seen", "last_seen");
    }
}

std::string services_table(const dialect& d, const std::string& table) {
    const std::string text(d.text_type);
    std::string create = "CREATE TABLE " + table + " (url " + std::string(d.url_type) +
                         " NOT NULL PRIMARY KEY, name " + text + " NOT NULL, host " + text +
                         " NOT NULL, port INTEGER NOT NULL, url_form SMALLINT NOT NULL, meta " +
                         std::string(d.meta_type) +
                         ", drained SMALLINT NOT NULL, first_seen BIGINT NOT NULL, last_seen "
                         "BIGINT NOT NULL, changed BIGINT NOT NULL";
    if (d.index_in_create_table) create += ", INDEX servreg_services_name (name)";
    return create + ")" + std::string(d.services_table_options);
}

// Version 3: instances keyed by their URL (SPEC section 4.1), with the form of their latest
// ping, their metadata and whether they are drained; `changed` is the time of a row's latest
// write, which other processes poll by (a drain changes no last_seen). Every row is kept, at
// http://host:port/api. SQLite cannot change a table's key, so the table is copied on every
// database; MySQL commits each step at once, so each is safe to repeat after a crash.
void migrate_to_3(soci::session& sql, const dialect& d) {
    const std::vector<std::string> columns = columns_of(sql, d, "servreg_services");
    if (columns.empty() || !has_column(columns, "url")) {
        const bool copied = !columns_of(sql, d, "servreg_services_v3").empty();
        if (!columns.empty() || !copied) {
            sql << "DROP TABLE IF EXISTS servreg_services_v3";
            sql << services_table(d, "servreg_services_v3");
        }
        if (!columns.empty()) {
            sql << std::string(d.insert_ignoring) +
                       " servreg_services_v3 (url, name, host, port, url_form, meta, drained, "
                       "first_seen, last_seen, changed) SELECT " +
                       std::string(d.url_of_host_port) +
                       ", name, host, port, 0, NULL, 0, first_seen, last_seen, last_seen FROM "
                       "servreg_services" +
                       std::string(d.ignoring_suffix);
            sql << "DROP TABLE servreg_services";
        }
        sql << "ALTER TABLE servreg_services_v3 RENAME TO servreg_services";
    }
    if (!d.index_in_create_table) {
        create_index(sql, d, "servreg_services", "servreg_services_name", "name");
    }
    if (d.shared) create_index(sql, d, "servreg_services", "servreg_services_changed", "changed");
    // Tombstones live an hour and say only what other processes of this version read: they
    // start empty, keyed by URL.
    if (!has_column(columns_of(sql, d, "servreg_tombstones"), "url")) {
        sql << "DROP TABLE IF EXISTS servreg_tombstones";
        sql << "CREATE TABLE servreg_tombstones (url " + std::string(d.url_type) +
                   " NOT NULL PRIMARY KEY, deleted_at BIGINT NOT NULL)" +
                   std::string(d.table_options);
    }
    create_index(sql, d, "servreg_tombstones", "servreg_tombstones_deleted_at", "deleted_at");
}

struct migration {
    int version;  // the schema version after it ran
    void (*run)(soci::session&, const dialect&);
};

// Applied in order from the database's version. Each must be idempotent: MySQL commits DDL at
// once, so a crash can leave a migration done but not yet recorded.
constexpr std::array migrations{migration{1, &migrate_to_1}, migration{2, &migrate_to_2},
                                migration{3, &migrate_to_3}};
static_assert(migrations.back().version == schema_version);

}  // namespace

void ensure_schema(soci::session& sql, const dialect& d, std::string_view display,
                   const std::function<void()>& begin, const std::function<void()>& commit) {
    sql << "CREATE TABLE IF NOT EXISTS servreg_schema (version INTEGER NOT NULL PRIMARY KEY)";

    // Serialise migrating processes: SQLite by BEGIN IMMEDIATE, PostgreSQL by a table lock held
    // until commit, MySQL (whose DDL commits at once) by a named lock held by the session.
    const bool mysql = d.kind == database_kind::mysql;
    if (mysql) {
        int got = 0;
        soci::indicator ind = soci::i_null;
        sql << "SELECT GET_LOCK('servreg_schema', 30)", soci::into(got, ind);
        if (ind != soci::i_ok || got != 1) throw soci::soci_error("schema lock timeout expired");
    }
    struct release_lock {
        soci::session& session;
        bool held;
        ~release_lock() {
            if (!held) return;
            try {
                int released = 0;
                soci::indicator ind = soci::i_null;
                session << "SELECT RELEASE_LOCK('servreg_schema')", soci::into(released, ind);
            } catch (const std::exception&) {
                // the lock goes with the session anyway
            }
        }
    } lock{sql, mysql};

    // CockroachDB and YugabyteDB speak PostgreSQL's protocol but have no LOCK TABLE: there,
    // concurrent creators rely on the idempotent migrations and the retry of prepare_schema.
    bool table_locks = d.kind == database_kind::postgresql;
    if (table_locks) {
        std::string server;
        sql << "SELECT version()", soci::into(server);
        table_locks = !has(lowercase(server), {"cockroachdb", "yugabyte"});
    }
    begin();
    if (table_locks) sql << "LOCK TABLE servreg_schema IN EXCLUSIVE MODE";
    std::vector<int> rows(8);
    sql << "SELECT version FROM servreg_schema", soci::into(rows);
    const int current = rows.empty() ? 0 : std::ranges::max(rows);
    if (current > schema_version) {
        throw storage_error("cannot open " + std::string(display) + ": its schema version " +
                            std::to_string(current) + " is newer than this servreg knows (" +
                            std::to_string(schema_version) + "); upgrade servreg");
    }
    if (current == schema_version && rows.size() == 1) {
        commit();
        return;
    }
    for (const auto& m : migrations) {
        if (m.version <= current) continue;
        spdlog::info("storage: upgrading the schema of {} to version {}", display, m.version);
        m.run(sql, d);
    }
    // Rewritten whole so that the table holds exactly one row. A concurrent creator that got
    // past the locks above makes this INSERT fail on the key; the retry reads its row.
    sql << "DELETE FROM servreg_schema";
    int version = schema_version;
    sql << "INSERT INTO servreg_schema (version) VALUES (:version)", soci::use(version);
    commit();
}

}  // namespace servreg::storage
