// SQLite through its own API where SOCI's generality costs most: the statements every write
// transaction runs, and the start-up load. Failures throw what SOCI would, so that they are
// classified the same way (db_errors.h).
#pragma once

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/storage/store.h"

namespace servreg::storage {

// The SQLite connection under a session opened with SOCI's sqlite3 backend: the one place
// that reaches below SOCI.
inline sqlite_api::sqlite3* sqlite_handle(soci::session& sql) {
    return static_cast<soci::sqlite3_session_backend*>(sql.get_backend())->conn_;
}

// Process-wide SQLite settings, which only count before SQLite's first use.
void configure_sqlite_library();

// A statement prepared once on an SQLite connection and run through SQLite's own API: SOCI
// copies every bound string and walks its bindings on each execution, and parses a one-off
// statement (BEGIN, COMMIT) every time. The statements every write transaction runs go
// through this. Defined here, inline, as it was beside its callers.
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
        step(SQLITE_DONE);
        return sqlite_api::sqlite3_changes(db_);
    }

    // Runs a query; whether it found a row.
    bool found() { return step(SQLITE_ROW) == SQLITE_ROW; }

private:
    // One step, then a reset; fails unless it ended with SQLITE_DONE or `also_fine`.
    int step(int also_fine) {
        using namespace sqlite_api;
        int rc = bind_failure_;
        bind_failure_ = SQLITE_OK;
        if (rc == SQLITE_OK) rc = sqlite3_step(statement_);
        if (rc != SQLITE_DONE && rc != also_fine) {
            const std::string message = sqlite3_errmsg(db_);
            sqlite3_reset(statement_);
            fail(rc, message);
        }
        sqlite3_reset(statement_);
        return rc;
    }
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

// Every row of servreg_services, read through SQLite's API and handed to `sink` in chunks of
// rows_per_chunk.
inline constexpr std::size_t rows_per_chunk = 1024;
void read_all_rows(sqlite_api::sqlite3* db, const store::row_sink& sink);

}  // namespace servreg::storage
