// SQLite's start-up load and process-wide settings, through SQLite's own API (see
// sqlite_fast_path.h for why).
#include "servreg/storage/sqlite_fast_path.h"

#include <memory>
#include <mutex>

#include "servreg/storage/schema.h"

namespace servreg::storage {

// SQLite's memory statistics (on by default) take a global mutex around every allocation and
// free SQLite makes, some six of each per ping; servreg reads none of them. Nor does servreg
// share a connection between threads at once (each store and the checkpointer have their own,
// and the watchdog's sqlite3_interrupt is safe from any thread), so the connections need no
// mutex of their own, which SQLite's default, serialized mode takes around every call: some
// ten million times in a start-up with 1,000,000 instances.
void configure_sqlite_library() {
    static std::once_flag once;
    std::call_once(once, [] {
        sqlite_api::sqlite3_config(SQLITE_CONFIG_MULTITHREAD);
        sqlite_api::sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    });
}

// SOCI's vector fetch copies every text column into an allocation of its own first, which was
// most of a start-up with 100,000 instances. Rows go out in chunks whose strings are reused.
void read_all_rows(sqlite_api::sqlite3* db, const store::row_sink& sink) {
    using namespace sqlite_api;
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db, select_all_rows, -1, &raw, nullptr) != SQLITE_OK) {
        throw soci::soci_error(sqlite3_errmsg(db));
    }
    const std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> st(raw, sqlite3_finalize);
    const auto text = [&](std::string& to, int column) {
        const auto* p = reinterpret_cast<const char*>(sqlite3_column_text(raw, column));
        to.assign(p == nullptr ? "" : p,
                  static_cast<std::size_t>(sqlite3_column_bytes(raw, column)));
    };
    std::vector<instance_row> rows(rows_per_chunk);
    std::size_t n = 0;
    int rc = SQLITE_OK;
    while ((rc = sqlite3_step(raw)) == SQLITE_ROW) {
        instance_row& r = rows[n];
        text(r.name, 0);
        text(r.host, 1);
        r.port = static_cast<std::uint16_t>(sqlite3_column_int(raw, 2));
        r.first_seen_ms = sqlite3_column_int64(raw, 3);
        r.last_seen_ms = sqlite3_column_int64(raw, 4);
        text(r.url, 5);
        r.url_form = sqlite3_column_int(raw, 6) != 0;
        r.drained = sqlite3_column_int(raw, 7) != 0;
        text(r.meta, 8);
        r.changed_ms = sqlite3_column_int64(raw, 9);
        if (++n == rows.size()) {
            sink(rows);
            n = 0;
        }
    }
    if (rc != SQLITE_DONE) throw soci::soci_error(sqlite3_errmsg(db));
    if (n > 0) sink(std::span<const instance_row>(rows.data(), n));
}

}  // namespace servreg::storage
