// The SOCI-backed store: one session, write statements prepared once per connection, the SQL
// dialects of SQLite, PostgreSQL and MySQL/MariaDB side by side, and the schema migrations.
#include "servreg/storage/soci_store.h"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <numeric>
#include <optional>
#include <thread>
#include <tuple>
#include <type_traits>
#include <vector>

#include "servreg/storage/store.h"

namespace servreg::storage {
namespace {

using config::database_kind;

// Everything that differs between the databases; the rest of the file is the same SQL for all.
struct dialect {
    database_kind kind;
    // Column type of name and host. They must compare byte for byte: MySQL's default collations
    // fold case and accents, hence its binary collation.
    std::string_view text_type;
    std::string_view table_options;
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
    // The column names of servreg_services, empty when the table does not exist.
    std::string_view columns_query;
    // Whether an index exists: :table_name, :index_name bind; empty where CREATE INDEX IF NOT
    // EXISTS does the job.
    std::string_view index_exists_query;
    // Run after every (re)connect.
    std::vector<std::string_view> session_setup;
    // Connect-string settings added unless the URL gives them: they bound how long a call can
    // wait on a server that vanished (see open_session).
    std::vector<std::pair<std::string_view, std::string_view>> connect_defaults;
    // Other servreg processes may share the database: their changes are polled.
    bool shared;
};

const dialect& dialect_for(database_kind kind) {
    static const dialect sqlite{
        .kind = database_kind::sqlite,
        .text_type = "VARCHAR(255)",
        .table_options = "",
        .index_in_create_table = false,
        .upsert_conflict =
            " ON CONFLICT (host, port) DO UPDATE SET "
            "first_seen = CASE WHEN servreg_services.name = excluded.name "
            "THEN servreg_services.first_seen ELSE excluded.first_seen END, "
            "name = excluded.name, last_seen = excluded.last_seen",
        .multi_row_upserts = false,
        .tombstone_conflict =
            " ON CONFLICT (host, port) DO UPDATE SET deleted_at = excluded.deleted_at",
        .greatest = "MAX",
        .columns_query = "SELECT name FROM pragma_table_info('servreg_services')",
        .index_exists_query = "",
        .session_setup = {},
        .connect_defaults = {},
        .shared = false,
    };
    static const dialect postgresql{
        .kind = database_kind::postgresql,
        .text_type = "VARCHAR(255)",
        .table_options = "",
        .index_in_create_table = false,
        .upsert_conflict = sqlite.upsert_conflict,
        .multi_row_upserts = true,
        .tombstone_conflict = sqlite.tombstone_conflict,
        .greatest = "GREATEST",
        .columns_query =
            "SELECT CAST(column_name AS VARCHAR(255)) FROM information_schema.columns "
            "WHERE table_schema = current_schema() "
            "AND table_name = 'servreg_services'",
        .index_exists_query = "",
        // A statement (a lock wait included) that takes longer than a client may wait fails
        // on the server rather than holding the writer.
        .session_setup = {"SET client_encoding TO 'UTF8'", "SET client_min_messages TO ERROR",
                          "SET statement_timeout = 1500"},
        // libpq has no read timeout: a server that vanished without closing the connection is
        // found by TCP keepalives (idle 1 s, one probe of 1 s), and unacknowledged data by
        // tcp_user_timeout. connect_timeout comes from the URL translation.
        .connect_defaults = {{"keepalives", "1"},
                             {"keepalives_idle", "1"},
                             {"keepalives_interval", "1"},
                             {"keepalives_count", "1"},
                             {"tcp_user_timeout", "1500"}},
        .shared = true,
    };
    static const dialect mysql{
        .kind = database_kind::mysql,
        .text_type = "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin",
        .table_options = " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
        .index_in_create_table = true,
        // utf8mb4_bin pads with spaces when comparing, so the name change test casts to bytes.
        .upsert_conflict =
            " ON DUPLICATE KEY UPDATE "
            "first_seen = IF(CAST(name AS BINARY) = CAST(VALUES(name) AS BINARY), "
            "first_seen, VALUES(first_seen)), "
            "name = VALUES(name), last_seen = VALUES(last_seen)",
        .multi_row_upserts = true,
        .tombstone_conflict = " ON DUPLICATE KEY UPDATE deleted_at = VALUES(deleted_at)",
        .greatest = "GREATEST",
        .columns_query =
            "SELECT CAST(column_name AS CHAR(255)) FROM information_schema.columns "
            "WHERE table_schema = DATABASE() AND table_name = 'servreg_services'",
        .index_exists_query =
            "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
            "AND table_name = :table_name AND index_name = :index_name",
        // READ COMMITTED takes no gap locks, so concurrent upserts from several servreg
        // processes deadlock far less. A lock wait gives up after 1 s (the least InnoDB
        // takes) instead of 50; read_timeout and write_timeout come from the URL translation.
        .session_setup = {"SET NAMES utf8mb4",
                          "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED",
                          "SET SESSION innodb_lock_wait_timeout = 1"},
        .connect_defaults = {},
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

// --- schema migrations -------------------------------------------------------------------------

// A database from before servreg_schema may hold a servreg_services table of another shape (the
// original registry's). Its rows are only liveness pings that come back within seconds, so it is
// kept aside under another name rather than converted.
void set_aside_foreign_table(soci::session& sql, const dialect& d) {
    std::vector<std::string> columns(64);
    sql << d.columns_query, soci::into(columns);
    if (columns.empty()) return;
    for (auto& c : columns) {
        std::ranges::transform(c, c.begin(), [](unsigned char ch) { return std::tolower(ch); });
    }
    const bool ours = std::ranges::all_of(
        std::array<std::string_view, 5>{"name", "host", "port", "first_seen", "last_seen"},
        [&](std::string_view want) { return std::ranges::find(columns, want) != columns.end(); });
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

struct migration {
    int version;  // the schema version after it ran
    void (*run)(soci::session&, const dialect&);
};

// Applied in order from the database's version. Each must be idempotent: MySQL commits DDL at
// once, so a crash can leave a migration done but not yet recorded.
constexpr std::array migrations{migration{1, &migrate_to_1}, migration{2, &migrate_to_2}};
static_assert(migrations.back().version == schema_version);

// --- error classification ----------------------------------------------------------------------

std::string lowercase(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool has(std::string_view haystack, std::initializer_list<std::string_view> needles) {
    return std::ranges::any_of(
        needles, [&](std::string_view n) { return haystack.find(n) != std::string_view::npos; });
}

// The driver's message in lowercase, without SOCI's context (the SQL text and bound values).
std::string message_of(const std::exception& e) {
    const auto* s = dynamic_cast<const soci::soci_error*>(&e);
    return lowercase(s != nullptr ? s->get_error_message() : e.what());
}

std::string sqlite_reason(int code) {
    switch (code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return "database is locked";
        case SQLITE_FULL:
            return "disk is full";
        case SQLITE_READONLY:
            return "database is read-only";
        case SQLITE_IOERR:
            return "disk I/O error";
        case SQLITE_CORRUPT:
            return "database file is corrupt";
        case SQLITE_NOTADB:
            return "file is not a database";
        case SQLITE_CANTOPEN:
            return "cannot open the database file";
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return "permission denied";
        case SQLITE_NOMEM:
            return "out of memory";
        case SQLITE_CONSTRAINT:
            return "the database refused the write (constraint)";
        default:
            return {};
    }
}

// Conditions every backend reports in its own words. `msg` is lowercase.
std::string common_reason(std::string_view msg, std::string_view display) {
    if (has(msg, {"deadlock"})) return "deadlock in the database";
    if (has(msg, {"could not serialize"})) return "conflict with a concurrent write";
    if (has(msg, {"no space left", "disk full", "disk is full", " is full"})) return "disk is full";
    if (has(msg, {"read-only", "read only", "readonly"})) return "database is read-only";
    if (has(msg, {"lock wait timeout", "database is locked", "lock timeout"})) {
        return "database is locked";
    }
    if (has(msg, {"too many connections", "too many clients"})) {
        return "too many connections to " + std::string(display);
    }
    if (has(msg, {"password authentication failed", "access denied for user"})) {
        return "authentication failed for " + std::string(display);
    }
    if (has(msg, {"permission denied", "command denied"})) {
        return "permission denied on " + std::string(display);
    }
    return {};
}

// What goes wrong only while connecting. `msg` is lowercase.
std::string connect_reason(std::string_view msg) {
    if (has(msg, {"connection refused"})) return "connection refused";
    // MySQL's clients say "can't connect to server on 'host' (errno)"; MariaDB's, which
    // connects without blocking, reports a refused connection as EINPROGRESS.
    if (has(msg, {"can't connect"})) {
        if (has(msg, {"(111)", "(115)"})) return "connection refused";
        if (has(msg, {"(110)"})) return "connection timed out";
    }
    if (has(msg,
            {"could not translate host name", "unknown mysql server host", "unknown server host",
             "name or service not known", "temporary failure in name resolution"})) {
        return "unknown host";
    }
    if (has(msg, {"timeout expired", "timed out"})) return "connection timed out";
    if (has(msg, {"unknown database"}) ||
        (has(msg, {"database \""}) && has(msg, {"does not exist"}))) {
        return "database does not exist";
    }
    if (has(msg, {"role \""}) && has(msg, {"does not exist"})) return "unknown user";
    if (has(msg, {"shared library", "failed to open"})) {
        return "the SOCI backend library for this database is not installed";
    }
    if (has(msg, {"no such file or directory"})) return "server socket not found";
    return {};
}

// Errors worth trying again at once: another process holds a lock, or won a race.
bool is_transient(const std::exception& e) {
    if (const auto* s = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
        const int code = s->result() & 0xff;
        return code == SQLITE_BUSY || code == SQLITE_LOCKED;
    }
    // CockroachDB asks the client to run a transaction again ("restart transaction").
    return has(message_of(e), {"deadlock", "could not serialize", "restart transaction"});
}

// Startup races between processes creating the same schema.
bool is_schema_race(const std::exception& e) {
    if (is_transient(e)) return true;
    if (const auto* s = dynamic_cast<const soci::soci_error*>(&e);
        s != nullptr && s->get_error_category() == soci::soci_error::constraint_violation) {
        return true;
    }
    return has(message_of(e), {"duplicate", "already exists", "unique"});
}

// Password values of a SOCI connect string, so that no log line ever carries them.
std::vector<std::string> secrets_of(std::string_view connect_string) {
    std::vector<std::string> secrets;
    for (std::string_view key : {"password", "pass"}) {
        if (auto value = connect_string_value(connect_string, key)) {
            secrets.push_back(std::move(*value));
        }
    }
    return secrets;
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
        for (std::size_t at = text.find(secret); at != std::string::npos;
             at = text.find(secret, at + 3)) {
            text.replace(at, secret.size(), "***");
        }
    }
    // libpq's messages span lines ("...unexpectedly\n\tThis probably means..."): one log line.
    std::string line;
    line.reserve(text.size());
    for (const char c : text) {
        const bool space = c == '\n' || c == '\t' || c == '\r';
        if (space && (line.empty() || line.back() == ' ')) continue;
        line.push_back(space ? ' ' : c);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
}

// Rows of servreg_services fetched in chunks into column vectors, which a statement binds with
// into(): a row at a time would be ten times slower.
struct row_columns {
    explicit row_columns(std::size_t rows_per_fetch)
        : chunk(rows_per_fetch),
          names(chunk),
          hosts(chunk),
          ports(chunk),
          first_seen(chunk),
          last_seen(chunk) {}

    std::size_t chunk;
    std::vector<std::string> names;
    std::vector<std::string> hosts;
    std::vector<int> ports;
    std::vector<long long> first_seen;
    std::vector<long long> last_seen;

    // Runs `st` (which selects name, host, port, first_seen, last_seen into these columns) and
    // appends every row to `out`.
    void fetch_all(soci::statement& st, std::vector<instance_row>& out) {
        st.execute();
        while (st.fetch()) {
            for (std::size_t i = 0; i < names.size(); ++i) {
                out.push_back({.name = std::move(names[i]),
                               .host = std::move(hosts[i]),
                               .port = static_cast<std::uint16_t>(ports[i]),
                               .first_seen_ms = first_seen[i],
                               .last_seen_ms = last_seen[i]});
            }
            names.resize(chunk);
            hosts.resize(chunk);
            ports.resize(chunk);
            first_seen.resize(chunk);
            last_seen.resize(chunk);
        }
    }
};

// --- the store ---------------------------------------------------------------------------------

// IMMEDIATE takes the write lock now, under the busy timeout. A deferred transaction would
// upgrade its lock at the first write and could fail at once when another process wrote.
constexpr const char* sqlite_begin_sql = "BEGIN IMMEDIATE";

constexpr const char* refresh_sql =
    "UPDATE servreg_services SET last_seen = :last_seen "
    "WHERE host = :host AND port = :port AND name = :name";

// A statement prepared once on an SQLite connection and run through SQLite's own API: SOCI
// copies every bound string and walks its bindings on each execution, and parses a one-off
// statement (BEGIN, COMMIT) every time. The statements every write transaction runs go
// through this. Failures throw what SOCI would, so that they are classified the same way.
class sqlite_statement {
public:
    sqlite_statement(sqlite_api::sqlite3* db, const char* sql, const char* doing)
        : db_(db), doing_(doing) {
        const int rc = sqlite_api::sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT,
                                                      &statement_, nullptr);
        if (rc != SQLITE_OK) fail(rc, sqlite_api::sqlite3_errmsg(db));
    }
    ~sqlite_statement() { sqlite_api::sqlite3_finalize(statement_); }
    sqlite_statement(const sqlite_statement&) = delete;
    sqlite_statement& operator=(const sqlite_statement&) = delete;

    // Bound without a copy: the text must outlive run().
    sqlite_statement& text(int i, std::string_view v) {
        keep(sqlite_api::sqlite3_bind_text(statement_, i, v.data(), static_cast<int>(v.size()),
                                           SQLITE_STATIC));
        return *this;
    }
    sqlite_statement& integer(int i, long long v) {
        keep(sqlite_api::sqlite3_bind_int64(statement_, i, v));
        return *this;
    }

    // Runs the statement to its end; the number of rows it changed.
    int run() {
        using namespace sqlite_api;
        int rc = bind_failure_;
        bind_failure_ = SQLITE_OK;
        if (rc == SQLITE_OK) rc = sqlite3_step(statement_);
        if (rc != SQLITE_DONE) {
            const std::string message = sqlite3_errmsg(db_);
            sqlite3_reset(statement_);
            fail(rc, message);
        }
        sqlite3_reset(statement_);
        return sqlite3_changes(db_);
    }

private:
    void keep(int rc) {
        if (bind_failure_ == SQLITE_OK) bind_failure_ = rc;
    }
    [[noreturn]] void fail(int rc, const std::string& message) const {
        throw soci::sqlite3_soci_error(std::string(doing_) + ": " + message, rc);
    }

    sqlite_api::sqlite3* db_;
    const char* doing_;
    sqlite_api::sqlite3_stmt* statement_ = nullptr;
    int bind_failure_ = SQLITE_OK;
};

class soci_store final : public store {
public:
    soci_store(const config::database_target& target, const store_options& options);

    std::vector<instance_row> load_all() override;
    void apply(std::span<const write_op> ops, std::vector<bool>& existed) override;
    std::size_t prune(std::int64_t cutoff_ms) override;
    void probe() override;
    changes changes_since(std::int64_t since_ms) override;

private:
    // Statements prepared once per connection, with the variables they are bound to.
    struct statements {
        // Upserts waiting for execution, in order: bound to the bulk statement.
        std::vector<std::string> names;
        std::vector<std::string> hosts;
        std::vector<int> ports;
        std::vector<long long> first_seen;
        std::vector<long long> last_seen;
        // Bound to the multi-row statements, whose row i uses element i.
        static constexpr std::array<std::size_t, 3> row_counts{64, 8, 1};  // largest first
        std::array<std::string, row_counts[0]> row_names;
        std::array<std::string, row_counts[0]> row_hosts;
        std::array<int, row_counts[0]> row_ports{};
        std::array<long long, row_counts[0]> row_first_seen{};
        std::array<long long, row_counts[0]> row_last_seen{};
        std::string remove_host;
        int remove_port = 0;
        long long remove_at = 0;
        // A ping of an endpoint already stored under the same name only moves its last_seen:
        // an UPDATE of that one column leaves the name index alone, which the upsert (it
        // assigns the name) rewrites. Half the pages written per ping on SQLite, where a
        // statement costs no round trip; the servers keep their multi-row upserts.
        std::string refresh_name;
        std::string refresh_host;
        int refresh_port = 0;
        long long refresh_last_seen = 0;
        std::optional<soci::statement> refresh;
        // On SQLite: instead of `refresh` (with single-row upserts), and of SOCI's one-off
        // BEGIN and COMMIT.
        std::optional<sqlite_statement> sqlite_refresh;
        std::optional<sqlite_statement> sqlite_begin;
        std::optional<sqlite_statement> sqlite_commit;
        std::optional<soci::statement> bulk_upsert;
        std::vector<soci::statement> multi_upserts;  // one per row_counts entry
        soci::statement bury;  // the tombstone of remove_host:remove_port, if its row exists
        soci::statement remove;

        statements(soci::session& sql, const dialect& d, bool multi_row);
        bool pending_for(const write_op& op) const;
        // Moves the last_seen of op's row when it has op's name; whether it did.
        bool refreshed(const write_op& op);
        void execute_upserts();
        void discard_upserts();
    };

    // One write to execute: the op, and the first_seen it carries when it inserts or moves.
    struct step {
        std::size_t index;
        std::int64_t first_seen_ms;
    };

    void open_session();
    void prepare_schema();
    void configure_session();
    void ensure_schema();
    void begin();
    void commit();
    void rollback_quietly() noexcept;
    void reconnect_if_broken();
    void remember_file();
    void check_file();
    void start_checkpoints(const checkpoint_settings& settings);
    void watch_wal();
    sqlite_checkpointer::write_scope hold_checkpoints();
    void plan(std::span<const write_op> ops);
    void execute_plan(std::span<const write_op> ops, std::vector<bool>& existed);
    template <typename F>
    auto guarded(std::string_view operation, F&& body) -> decltype(body());

    config::database_target target_;
    const dialect& dialect_;
    bool multi_row_;
    std::vector<std::string> secrets_;
    // An SQLite file's checkpoints; declared before the session, whose WAL hook points at it.
    std::unique_ptr<sqlite_checkpointer> checkpointer_;
    soci::session sql_;
    std::unique_ptr<statements> statements_;  // after sql_: destroyed before the session
    bool broken_ = false;
    // When the last reconnection failed: the next is tried only after reconnect_pause, so that
    // writes during an outage fail at once instead of each waiting for a connect timeout.
    std::optional<std::chrono::steady_clock::time_point> reconnect_failed_at_;
    std::string outage_reason_;
    // An outage is logged as a warning once, then quietly until the database is back.
    bool in_outage_ = false;
    bool in_transaction_ = false;
    bool committing_ = false;
    // An SQLite database file, as it was at start: SQLite keeps its file open, so a file deleted
    // or replaced under it goes on working on the old inode, and every later write is lost at
    // the next start. check_file() notices.
    struct file_identity {
        std::string path;
        dev_t device = 0;
        ino_t inode = 0;
    };
    std::optional<file_identity> file_;
    std::chrono::steady_clock::time_point file_checked_;
    bool file_ok_ = true;  // at the last check
    std::vector<std::size_t> order_;
    std::vector<step> steps_;
};

std::string upsert_sql(const dialect& d, std::size_t rows) {
    std::string sql =
        "INSERT INTO servreg_services (name, host, port, first_seen, last_seen) VALUES ";
    for (std::size_t i = 0; i < rows; ++i) {
        const std::string n = std::to_string(i);
        if (i > 0) sql += ", ";
        sql += "(:name" + n + ", :host" + n + ", :port" + n + ", :first_seen" + n + ", :last_seen" +
               n + ")";
    }
    sql += d.upsert_conflict;
    return sql;
}

std::string bury_sql(const dialect& d) {
    // The tombstone's time is at least the deleted row's last_seen, so that every process that
    // knew the row removes it even when the deleter's clock runs behind the pinger's.
    return "INSERT INTO servreg_tombstones (host, port, deleted_at) SELECT host, port, " +
           std::string(d.greatest) +
           "(last_seen, :deleted_at) FROM servreg_services WHERE host = :host AND port = :port" +
           std::string(d.tombstone_conflict);
}

soci_store::statements::statements(soci::session& sql, const dialect& d, bool multi_row)
    : bury((sql.prepare << bury_sql(d), soci::use(remove_at), soci::use(remove_host),
            soci::use(remove_port))),
      remove((sql.prepare << "DELETE FROM servreg_services WHERE host = :host AND port = :port",
              soci::use(remove_host), soci::use(remove_port))) {
    sqlite_api::sqlite3* db = nullptr;
    if (d.kind == database_kind::sqlite) {
        db = static_cast<soci::sqlite3_session_backend*>(sql.get_backend())->conn_;
        sqlite_begin.emplace(db, sqlite_begin_sql, "Cannot begin transaction");
        sqlite_commit.emplace(db, "COMMIT", "Cannot commit transaction");
    }
    if (!multi_row) {
        bulk_upsert.emplace((sql.prepare << upsert_sql(d, 1), soci::use(names), soci::use(hosts),
                             soci::use(ports), soci::use(first_seen), soci::use(last_seen)));
        if (db != nullptr) {
            sqlite_refresh.emplace(db, refresh_sql, "refreshing an instance");
            return;
        }
        refresh.emplace((sql.prepare << refresh_sql, soci::use(refresh_last_seen),
                         soci::use(refresh_host), soci::use(refresh_port),
                         soci::use(refresh_name)));
        return;
    }
    for (std::size_t rows : row_counts) {
        soci::statement& st = multi_upserts.emplace_back(sql);
        for (std::size_t i = 0; i < rows; ++i) {
            st.exchange(soci::use(row_names[i]));
            st.exchange(soci::use(row_hosts[i]));
            st.exchange(soci::use(row_ports[i]));
            st.exchange(soci::use(row_first_seen[i]));
            st.exchange(soci::use(row_last_seen[i]));
        }
        st.alloc();
        st.prepare(upsert_sql(d, rows));
        st.define_and_bind();
    }
}

bool soci_store::statements::refreshed(const write_op& op) {
    if (sqlite_refresh) {
        return sqlite_refresh->integer(1, op.now_ms)
                   .text(2, op.host)
                   .integer(3, op.port)
                   .text(4, op.name)
                   .run() > 0;
    }
    if (!refresh) return false;
    refresh_name = op.name;
    refresh_host = op.host;
    refresh_port = op.port;
    refresh_last_seen = op.now_ms;
    refresh->execute(true);
    return refresh->get_affected_rows() > 0;
}

// Whether an upsert of the op's endpoint is waiting. Pending upserts are in endpoint order, so
// only the last one can match.
bool soci_store::statements::pending_for(const write_op& op) const {
    return !names.empty() && ports.back() == op.port && hosts.back() == op.host;
}

void soci_store::statements::execute_upserts() {
    if (names.empty()) return;  // SOCI refuses empty vectors
    if (bulk_upsert) {
        bulk_upsert->execute(true);
    } else {
        // Greedy: as many rows per statement as fit, so a batch of n takes about n/64 trips.
        std::size_t done = 0;
        for (std::size_t k = 0; k < row_counts.size(); ++k) {
            while (names.size() - done >= row_counts[k]) {
                for (std::size_t i = 0; i < row_counts[k]; ++i, ++done) {
                    row_names[i] = std::move(names[done]);
                    row_hosts[i] = std::move(hosts[done]);
                    row_ports[i] = ports[done];
                    row_first_seen[i] = first_seen[done];
                    row_last_seen[i] = last_seen[done];
                }
                multi_upserts[k].execute(true);
            }
        }
    }
    discard_upserts();
}

void soci_store::statements::discard_upserts() {
    names.clear();
    hosts.clear();
    ports.clear();
    first_seen.clear();
    last_seen.clear();
}

soci_store::soci_store(const config::database_target& target, const store_options& options)
    : target_(target),
      dialect_(dialect_for(target.kind)),
      multi_row_(options.multi_row_upserts.value_or(dialect_.multi_row_upserts)),
      secrets_(secrets_of(target.connect_string)) {
    secrets_.insert(secrets_.end(), target.secrets.begin(), target.secrets.end());
    std::erase_if(secrets_, [](const std::string& secret) { return secret.empty(); });
    for (const auto& [key, value] : dialect_.connect_defaults) {
        if (!connect_string_value(target_.connect_string, key)) {
            target_.connect_string += " " + std::string(key) + "=" + std::string(value);
        }
    }
    open_session();
    prepare_schema();
    remember_file();
    start_checkpoints(options.checkpoints);
    try {
        statements_ = std::make_unique<statements>(sql_, dialect_, multi_row_);
    } catch (const std::exception& e) {
        spdlog::warn("storage: preparing statements on {} failed: {}", target_.display,
                     redact(e.what(), secrets_));
        throw storage_error(
            client_reason(e, target_.kind, target_.display, true, error_phase::connect));
    }
}

void soci_store::open_session() {
    try {
        // SQLite is linked in; the other backends are loaded by name, so that servreg builds
        // without their client libraries.
        if (target_.kind == database_kind::sqlite) {
            sql_.open(soci::sqlite3, target_.connect_string);
        } else {
            sql_.open(target_.backend, target_.connect_string);
        }
    } catch (const std::exception& e) {
        spdlog::warn("storage: cannot open {}: {}", target_.display, redact(e.what(), secrets_));
        throw storage_error(
            client_reason(e, target_.kind, target_.display, false, error_phase::connect));
    }
}

// Two processes may open an empty database at the same moment: the loser of a race retries.
void soci_store::prepare_schema() {
    for (int attempt = 1;; ++attempt) {
        try {
            configure_session();
            ensure_schema();
            return;
        } catch (const storage_error&) {
            rollback_quietly();
            throw;
        } catch (const std::exception& e) {
            rollback_quietly();
            const bool retry = attempt < 5 && is_schema_race(e);
            spdlog::log(retry ? spdlog::level::debug : spdlog::level::warn,
                        "storage: preparing the schema of {} failed: {}", target_.display,
                        redact(e.what(), secrets_));
            if (!retry) {
                throw storage_error(
                    client_reason(e, target_.kind, target_.display, true, error_phase::connect));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
        }
    }
}

void soci_store::configure_session() {
    if (dialect_.kind == database_kind::sqlite) {
        std::string mode;
        try {
            sql_ << "PRAGMA journal_mode=WAL", soci::into(mode);
        } catch (const soci::sqlite3_soci_error& e) {
            // A read-only file keeps its mode; writes will fail with a clear reason anyway.
            if ((e.result() & 0xff) != SQLITE_READONLY) throw;
            mode = "unchanged (read-only)";
        }
        // An in-memory database reports "memory": it has no journal to keep.
        if (mode != "wal" && mode != "memory") {
            spdlog::warn("storage: {} is in journal mode {}, not WAL", target_.display, mode);
        }
        // WAL with synchronous=NORMAL: a commit survives the process being killed; only a power
        // loss or OS crash can lose the last commits before a checkpoint. SOCI has already
        // applied a level the connect string names.
        if (!connect_string_value(target_.connect_string, "synchronous")) {
            sql_ << "PRAGMA synchronous=NORMAL";
        }
        // A page cache of up to 32 MiB (SQLite's default is 2 MiB) holds the whole file of a
        // registry of some 300,000 instances: pings spread over the registry read from memory,
        // not from the file. Pages are allocated as they are read.
        sql_ << "PRAGMA cache_size=-32768";
        watch_wal();  // after a reconnection
    }
    for (std::string_view statement : dialect_.session_setup) sql_ << statement;
}

void soci_store::ensure_schema() {
    sql_ << "CREATE TABLE IF NOT EXISTS servreg_schema (version INTEGER NOT NULL PRIMARY KEY)";

    // Serialise migrating processes: SQLite by BEGIN IMMEDIATE, PostgreSQL by a table lock held
    // until commit, MySQL (whose DDL commits at once) by a named lock held by the session.
    const bool mysql = dialect_.kind == database_kind::mysql;
    if (mysql) {
        int got = 0;
        soci::indicator ind = soci::i_null;
        sql_ << "SELECT GET_LOCK('servreg_schema', 30)", soci::into(got, ind);
        if (ind != soci::i_ok || got != 1) throw soci::soci_error("schema lock timeout expired");
    }
    struct release_lock {
        soci::session& sql;
        bool held;
        ~release_lock() {
            if (!held) return;
            try {
                int released = 0;
                soci::indicator ind = soci::i_null;
                sql << "SELECT RELEASE_LOCK('servreg_schema')", soci::into(released, ind);
            } catch (const std::exception&) {
                // the lock goes with the session anyway
            }
        }
    } lock{sql_, mysql};

    // CockroachDB and YugabyteDB speak PostgreSQL's protocol but have no LOCK TABLE: there,
    // concurrent creators rely on the idempotent migrations and the retry of prepare_schema.
    bool table_locks = dialect_.kind == database_kind::postgresql;
    if (table_locks) {
        std::string server;
        sql_ << "SELECT version()", soci::into(server);
        table_locks = !has(lowercase(server), {"cockroachdb", "yugabyte"});
    }
    begin();
    if (table_locks) sql_ << "LOCK TABLE servreg_schema IN EXCLUSIVE MODE";
    std::vector<int> rows(8);
    sql_ << "SELECT version FROM servreg_schema", soci::into(rows);
    const int current = rows.empty() ? 0 : std::ranges::max(rows);
    if (current > schema_version) {
        throw storage_error("cannot open " + target_.display + ": its schema version " +
                            std::to_string(current) + " is newer than this servreg knows (" +
                            std::to_string(schema_version) + "); upgrade servreg");
    }
    if (current == schema_version && rows.size() == 1) {
        commit();
        return;
    }
    for (const auto& m : migrations) {
        if (m.version <= current) continue;
        spdlog::info("storage: upgrading the schema of {} to version {}", target_.display,
                     m.version);
        m.run(sql_, dialect_);
    }
    // Rewritten whole so that the table holds exactly one row. A concurrent creator that got
    // past the locks above makes this INSERT fail on the key; the retry reads its row.
    sql_ << "DELETE FROM servreg_schema";
    int version = schema_version;
    sql_ << "INSERT INTO servreg_schema (version) VALUES (:version)", soci::use(version);
    commit();
}

void soci_store::begin() {
    in_transaction_ = true;
    committing_ = false;
    if (statements_ && statements_->sqlite_begin) {
        statements_->sqlite_begin->run();
    } else if (dialect_.kind == database_kind::sqlite) {
        sql_ << sqlite_begin_sql;
    } else {
        sql_.begin();
    }
}

void soci_store::commit() {
    committing_ = true;
    if (statements_ && statements_->sqlite_commit) {
        statements_->sqlite_commit->run();
    } else {
        sql_.commit();
    }
    in_transaction_ = false;
}

void soci_store::rollback_quietly() noexcept {
    if (!in_transaction_) return;
    in_transaction_ = false;
    try {
        sql_.rollback();
    } catch (const std::exception&) {
        // the transaction died with the connection, or never started
    }
}

// How long after a failed reconnection the next one is tried; the writer's probe (every second)
// and the poller try again by themselves.
constexpr auto reconnect_pause = std::chrono::milliseconds(500);

// A failure that took longer than this was a timeout, not a closed connection: trying again at
// once would only double the wait.
constexpr auto quick_failure = std::chrono::milliseconds(300);

void soci_store::reconnect_if_broken() {
    if (!broken_) return;
    const auto now = std::chrono::steady_clock::now();
    if (reconnect_failed_at_ && now - *reconnect_failed_at_ < reconnect_pause) {
        throw storage_error(outage_reason_);
    }
    statements_.reset();  // they belong to the old connection
    try {
        sql_.reconnect();
        configure_session();
        statements_ = std::make_unique<statements>(sql_, dialect_, multi_row_);
    } catch (const std::exception& e) {
        statements_.reset();
        reconnect_failed_at_ = std::chrono::steady_clock::now();
        std::string reason =
            client_reason(e, target_.kind, target_.display, false, error_phase::connect);
        // "cannot open X: connection refused" reads as "connection to X lost: connection refused".
        if (const auto colon = reason.find(": "); colon != std::string::npos) {
            reason = "connection to " + target_.display + " lost: " + reason.substr(colon + 2);
        }
        outage_reason_ = std::move(reason);
        spdlog::log(in_outage_ ? spdlog::level::debug : spdlog::level::warn,
                    "storage: reconnecting to {} failed: {}", target_.display,
                    redact(e.what(), secrets_));
        in_outage_ = true;
        throw storage_error(outage_reason_);
    }
    broken_ = false;
    reconnect_failed_at_.reset();
    in_outage_ = false;
    spdlog::info("storage: reconnected to {}", target_.display);
}

// Messages by which the client libraries say that the connection is gone (lowercase), so that
// no round trip is spent asking a session that cannot answer.
bool says_connection_lost(std::string_view msg) {
    return has(msg,
               {"server closed the connection", "lost connection", "has gone away",
                "no connection to the server", "terminating connection", "connection not open",
                "could not receive data", "could not send data", "broken pipe", "connection reset",
                "timed out", "server shutdown", "connection refused", "eof detected"});
}

// Runs `body` (one transaction at most), turning every failure into a storage_error. A body that
// lost its connection before committing, or lost a deadlock, is run again: nothing of it stayed.
template <typename F>
auto soci_store::guarded(std::string_view operation, F&& body) -> decltype(body()) {
    for (int attempt = 1;; ++attempt) {
        reconnect_if_broken();
        committing_ = false;
        const auto started = std::chrono::steady_clock::now();
        try {
            if constexpr (std::is_void_v<decltype(body())>) {
                body();
                in_outage_ = false;
                return;
            } else {
                auto result = body();
                in_outage_ = false;
                return result;
            }
        } catch (const storage_error&) {
            rollback_quietly();
            throw;
        } catch (const std::exception& e) {
            const bool quick = std::chrono::steady_clock::now() - started < quick_failure;
            const std::string message = message_of(e);
            // SQLite has no connection to lose; asking the others costs a round trip, and only
            // on failure. A session that said it lost its connection is not asked.
            const bool connected = dialect_.kind == database_kind::sqlite ||
                                   (!says_connection_lost(message) && sql_.is_connected());
            if (connected) {
                rollback_quietly();
            } else {
                // A rollback would wait on the dead connection; the server rolls back anyway.
                in_transaction_ = false;
                broken_ = true;
            }
            // SQLite opens a file it may not write read-only, and it stays so for the life of
            // the connection: reopen it next time, so that writes resume once it is writable.
            if (const auto* s = dynamic_cast<const soci::sqlite3_soci_error*>(&e);
                s != nullptr && (s->result() & 0xff) == SQLITE_READONLY) {
                broken_ = true;
            }
            spdlog::log(in_outage_ && !connected ? spdlog::level::debug : spdlog::level::warn,
                        "storage: {} on {} failed: {}", operation, target_.display,
                        redact(e.what(), secrets_));
            if (!connected) in_outage_ = true;
            const bool lost_before_commit = !connected && !committing_ && attempt == 1 && quick;
            const bool lost_a_race =
                dialect_.kind != database_kind::sqlite && attempt < 4 && is_transient(e);
            if (lost_before_commit || lost_a_race) continue;
            throw storage_error(
                client_reason(e, target_.kind, target_.display, connected, error_phase::use));
        }
    }
}

constexpr const char* select_all_rows =
    "SELECT name, host, port, first_seen, last_seen FROM servreg_services";

// SQLite's rows read through its own API: SOCI's vector fetch copies every text column into an
// allocation of its own first, which was most of a start-up with 100,000 instances.
std::vector<instance_row> read_all_rows(sqlite_api::sqlite3* db, std::size_t expected) {
    using namespace sqlite_api;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, select_all_rows, -1, &raw, nullptr) != SQLITE_OK) {
        throw soci::soci_error(sqlite3_errmsg(db));
    }
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    const auto text = [&](int column) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(raw, column));
        return p == nullptr
                   ? std::string()
                   : std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(raw, column)));
    };
    std::vector<instance_row> rows;
    rows.reserve(expected);
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        rows.push_back({.name = text(0),
                        .host = text(1),
                        .port = static_cast<std::uint16_t>(sqlite3_column_int(raw, 2)),
                        .first_seen_ms = sqlite3_column_int64(raw, 3),
                        .last_seen_ms = sqlite3_column_int64(raw, 4)});
    }
    if (rc != SQLITE_DONE) throw soci::soci_error(sqlite3_errmsg(db));
    return rows;
}

std::vector<instance_row> soci_store::load_all() {
    return guarded("loading the registry", [&] {
        // Sized once: growing 100,000 rows by doubling costs more than counting them.
        long long count = 0;
        sql_ << "SELECT COUNT(*) FROM servreg_services", soci::into(count);
        if (dialect_.kind == database_kind::sqlite) {
            return read_all_rows(
                static_cast<soci::sqlite3_session_backend*>(sql_.get_backend())->conn_,
                static_cast<std::size_t>(count));
        }
        row_columns c(10'000);
        soci::statement st =
            (sql_.prepare << select_all_rows, soci::into(c.names), soci::into(c.hosts),
             soci::into(c.ports), soci::into(c.first_seen), soci::into(c.last_seen));
        std::vector<instance_row> rows;
        rows.reserve(static_cast<std::size_t>(count));
        c.fetch_all(st, rows);
        return rows;
    });
}

// Orders the ops by endpoint (stable, so each endpoint keeps its own order), which gives every
// servreg process sharing a database the same lock order. A ping followed by a ping of the same
// name for the same endpoint is left out; the one that stays carries the first one's time as
// first_seen, so the result is that of running every op in turn.
void soci_store::plan(std::span<const write_op> ops) {
    order_.resize(ops.size());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::ranges::stable_sort(order_, [&](std::size_t a, std::size_t b) {
        return std::tie(ops[a].port, ops[a].host) < std::tie(ops[b].port, ops[b].host);
    });
    steps_.clear();
    std::optional<std::int64_t> run_start;
    for (std::size_t k = 0; k < order_.size(); ++k) {
        const write_op& op = ops[order_[k]];
        if (op.kind == write_op::kind_t::unregister) {
            steps_.push_back({order_[k], 0});
            continue;
        }
        if (!run_start) run_start = op.now_ms;
        if (k + 1 < order_.size()) {
            const write_op& next = ops[order_[k + 1]];
            if (next.kind == write_op::kind_t::ping && next.port == op.port &&
                next.host == op.host && next.name == op.name) {
                continue;
            }
        }
        steps_.push_back({order_[k], *run_start});
        run_start.reset();
    }
}

void soci_store::execute_plan(std::span<const write_op> ops, std::vector<bool>& existed) {
    statements& s = *statements_;
    for (const step& st : steps_) {
        const write_op& op = ops[st.index];
        if (op.kind == write_op::kind_t::ping) {
            // One statement may not upsert a row twice (PostgreSQL refuses it); a refresh must
            // see what an earlier step of the batch wrote.
            if (s.pending_for(op)) s.execute_upserts();
            if (s.refreshed(op)) continue;  // first_seen stays, as it would
            s.names.push_back(op.name);
            s.hosts.push_back(op.host);
            s.ports.push_back(op.port);
            s.first_seen.push_back(st.first_seen_ms);
            s.last_seen.push_back(op.now_ms);
            continue;
        }
        // Only an upsert of the same endpoint must go first; the others may wait to fill
        // a multi-row statement.
        if (s.pending_for(op)) s.execute_upserts();
        s.remove_host = op.host;
        s.remove_port = op.port;
        s.remove_at = op.now_ms;
        s.bury.execute(true);
        s.remove.execute(true);
        existed[st.index] = s.remove.get_affected_rows() > 0;
    }
    s.execute_upserts();
}

void soci_store::remember_file() {
    if (dialect_.kind != database_kind::sqlite) return;
    auto path = connect_string_value(target_.connect_string, "db");
    struct stat st {};
    if (!path || path->empty() || *path == ":memory:" || ::stat(path->c_str(), &st) != 0) return;
    file_ = file_identity{std::move(*path), st.st_dev, st.st_ino};
    file_checked_ = std::chrono::steady_clock::now();
}

// A database file gets its checkpoints from a thread of its own (sqlite_checkpointer.h); an
// in-memory or read-only database has none to run.
void soci_store::start_checkpoints(const checkpoint_settings& settings) {
    if (!file_ || connect_string_value(target_.connect_string, "readonly")) return;
    int synchronous = 1;
    try {
        sql_ << "PRAGMA synchronous", soci::into(synchronous);
        checkpointer_ = std::make_unique<sqlite_checkpointer>(file_->path, synchronous, settings);
    } catch (const std::exception& e) {
        // SQLite's own checkpoints, in the commits, stay on.
        spdlog::warn("storage: checkpoints stay in the commits of {}: {}", target_.display,
                     e.what());
        return;
    }
    watch_wal();
}

void soci_store::watch_wal() {
    if (!checkpointer_ || !sql_.get_backend()) return;
    checkpointer_->watch(static_cast<soci::sqlite3_session_backend*>(sql_.get_backend())->conn_);
}

// A transaction and a checkpoint that starts the WAL over never overlap.
sqlite_checkpointer::write_scope soci_store::hold_checkpoints() {
    if (!checkpointer_) return {};
    return checkpointer_->begin_write();
}

void soci_store::check_file() {
    if (!file_) return;
    file_checked_ = std::chrono::steady_clock::now();
    file_ok_ = false;
    struct stat st {};
    if (::stat(file_->path.c_str(), &st) != 0) {
        const int error = errno;
        throw storage_error(error == ENOENT
                                ? target_.display + " is gone (deleted or renamed)"
                                : target_.display + " cannot be reached: " + std::strerror(error));
    }
    if (st.st_dev != file_->device || st.st_ino != file_->inode) {
        throw storage_error(target_.display +
                            " was replaced by another file; restart servreg to use it");
    }
    file_ok_ = true;
}

void soci_store::apply(std::span<const write_op> ops, std::vector<bool>& existed) {
    existed.assign(ops.size(), false);
    if (ops.empty()) return;
    // A write into a deleted file would be answered and then lost. A stat a second is cheap;
    // once the file is missing, every write looks until it is back.
    if (file_ && (!file_ok_ ||
                  std::chrono::steady_clock::now() - file_checked_ >= std::chrono::seconds(1))) {
        check_file();
    }
    plan(ops);
    const auto held = hold_checkpoints();
    guarded("writing", [&] {
        existed.assign(ops.size(), false);
        statements_->discard_upserts();  // a failed attempt may have left some
        begin();
        execute_plan(ops, existed);
        commit();
    });
}

std::size_t soci_store::prune(std::int64_t cutoff_ms) {
    const auto held = hold_checkpoints();
    return guarded("pruning", [&] {
        long long cutoff = cutoff_ms;
        long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        long long forget = now - tombstone_retention.count();
        begin();
        sql_ << "INSERT INTO servreg_tombstones (host, port, deleted_at) "
                "SELECT host, port, :now FROM servreg_services WHERE last_seen < :cutoff" +
                    std::string(dialect_.tombstone_conflict),
            soci::use(now), soci::use(cutoff);
        soci::statement st =
            (sql_.prepare << "DELETE FROM servreg_services WHERE last_seen < :cutoff",
             soci::use(cutoff));
        st.execute(true);
        const auto removed = static_cast<std::size_t>(st.get_affected_rows());
        sql_ << "DELETE FROM servreg_tombstones WHERE deleted_at < :forget", soci::use(forget);
        commit();
        return removed;
    });
}

changes soci_store::changes_since(std::int64_t since_ms) {
    return guarded("polling", [&] {
        changes out;
        long long since = since_ms;
        constexpr std::size_t chunk = 4096;
        // Tombstones first, each query in its own snapshot: a row read afterwards that has a
        // tombstone too was pinged again after its deletion (see registry::index::merge).
        {
            std::vector<std::string> hosts(chunk);
            std::vector<int> ports(chunk);
            std::vector<long long> deleted_at(chunk);
            soci::statement st =
                (sql_.prepare << "SELECT host, port, deleted_at FROM "
                                 "servreg_tombstones WHERE deleted_at >= :since",
                 soci::use(since), soci::into(hosts), soci::into(ports), soci::into(deleted_at));
            st.execute();
            while (st.fetch()) {
                for (std::size_t i = 0; i < hosts.size(); ++i) {
                    out.tombstones.push_back({.host = std::move(hosts[i]),
                                              .port = static_cast<std::uint16_t>(ports[i]),
                                              .deleted_at_ms = deleted_at[i]});
                }
                hosts.resize(chunk);
                ports.resize(chunk);
                deleted_at.resize(chunk);
            }
        }
        row_columns c(chunk);
        soci::statement st =
            (sql_.prepare << "SELECT name, host, port, first_seen, last_seen FROM "
                             "servreg_services WHERE last_seen >= :since",
             soci::use(since), soci::into(c.names), soci::into(c.hosts), soci::into(c.ports),
             soci::into(c.first_seen), soci::into(c.last_seen));
        c.fetch_all(st, out.rows);
        return out;
    });
}

void soci_store::probe() {
    check_file();
    // A read of the schema table rather than SELECT 1: it also proves an SQLite file readable.
    guarded("probing", [&] {
        int version = 0;
        sql_ << "SELECT version FROM servreg_schema", soci::into(version);
    });
}

}  // namespace

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

std::string client_reason(const std::exception& e, config::database_kind kind,
                          std::string_view display, bool connected, error_phase phase) {
    std::string reason;
    if (const auto* s = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
        reason = sqlite_reason(s->result());
    }
    const auto* soci_e = dynamic_cast<const soci::soci_error*>(&e);
    const std::string message = message_of(e);
    const auto category =
        soci_e != nullptr ? soci_e->get_error_category() : soci::soci_error::unknown;
    if (reason.empty()) reason = common_reason(message, display);
    if (phase == error_phase::connect) {
        if (reason.empty() && kind != database_kind::sqlite) reason = connect_reason(message);
        if (reason.empty()) {
            reason = !connected || category == soci::soci_error::connection_error
                         ? "cannot connect"
                         : "database error";
        }
        return "cannot open " + std::string(display) + ": " + reason;
    }
    if (!reason.empty()) return reason;
    if (!connected || category == soci::soci_error::connection_error) {
        return "connection to " + std::string(display) + " lost";
    }
    return "database error on " + std::string(display);
}

changes store::changes_since(std::int64_t /*since_ms*/) {
    throw storage_error("this store cannot report changes");
}

namespace {

// Process-wide SQLite settings, which only count before SQLite's first use. Its memory
// statistics (on by default) take a global mutex around every allocation and free SQLite
// makes, some six of each per ping; servreg reads none of them.
void configure_sqlite_library() {
    static std::once_flag once;
    std::call_once(once, [] { sqlite_api::sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

}  // namespace

std::unique_ptr<store> open_store(const config::database_target& target,
                                  const store_options& options) {
    if (target.kind == database_kind::sqlite) configure_sqlite_library();
    return std::make_unique<soci_store>(target, options);
}

std::unique_ptr<store> open_store(const config::database_target& target) {
    return open_store(target, {});
}

}  // namespace servreg::storage
