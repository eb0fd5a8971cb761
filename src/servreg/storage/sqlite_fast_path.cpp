// SQLite's start-up load and process-wide settings, through SQLite's own API (see
// sqlite_fast_path.h for why).
#include "servreg/storage/sqlite_fast_path.h"

#include <memory>
#include <mutex>

#include "servreg/storage/schema.h"

namespace servreg::storage {

// SQLite's memory statistics (on by default) take a global mutex around every allocation and
// free SQLite makes, some six of each per ping; servreg reads none of them.
void configure_sqlite_library() {
    static std::once_flag once;
    std::call_once(once, [] { sqlite_api::sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

// SOCI's vector fetch copies every text column into an allocation of its own first, which was
// most of a start-up with 100,000 instances.
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
                        .last_seen_ms = sqlite3_column_int64(raw, 4),
                        .url = text(5),
                        .url_form = sqlite3_column_int(raw, 6) != 0,
                        .drained = sqlite3_column_int(raw, 7) != 0,
                        .meta = text(8),
                        .changed_ms = sqlite3_column_int64(raw, 9)});
    }
    if (rc != SQLITE_DONE) throw soci::soci_error(sqlite3_errmsg(db));
    return rows;
}

}  // namespace servreg::storage
