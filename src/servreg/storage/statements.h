// The statements every write transaction runs, prepared once per connection: the upserts (bulk
// or multi-row, as the dialect prefers), SQLite's refresh of last_seen and its heartbeat
// journal, the tombstone and delete, the drain; and the store's other SQL: the prune, the
// journal's whole fold, the poll.
#pragma once

#include <soci/soci.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "servreg/storage/dialect.h"
#include "servreg/storage/heartbeat_journal.h"
#include "servreg/storage/sqlite_fast_path.h"
#include "servreg/storage/store.h"

namespace servreg::storage {

// IMMEDIATE takes the write lock now, under the busy timeout. A deferred transaction would
// upgrade its lock at the first write and could fail at once when another process wrote.
inline constexpr const char* sqlite_begin_sql = "BEGIN IMMEDIATE";

// A ping of a row that already has its name, form and host only moves its time; one that
// gives metadata also needs the stored metadata to be the same.
inline constexpr const char* refresh_sql =
    "UPDATE servreg_services SET last_seen = ?1, changed = ?1 "
    "WHERE url = ?2 AND name = ?3 AND url_form = ?4 AND host = ?5";
inline constexpr const char* refresh_meta_sql =
    "UPDATE servreg_services SET last_seen = ?1, changed = ?1 "
    "WHERE url = ?2 AND name = ?3 AND url_form = ?4 AND host = ?5 AND meta = ?6";
// Whether such a ping may go to the heartbeat journal instead (heartbeat_journal.h); ?1 is
// bound as for the refresh, and unused.
inline constexpr const char* stored_sql =
    "SELECT 1 FROM servreg_services "
    "WHERE url = ?2 AND name = ?3 AND url_form = ?4 AND host = ?5";
inline constexpr const char* stored_meta_sql =
    "SELECT 1 FROM servreg_services "
    "WHERE url = ?2 AND name = ?3 AND url_form = ?4 AND host = ?5 AND meta = ?6";

// The journal's two tables, and the fold of a journaled time into its row. Times only move
// forward: a row written since (a new name, say) keeps its own.
inline constexpr std::array<const char*, 2> journal_tables{"servreg_heartbeats_0",
                                                           "servreg_heartbeats_1"};
inline constexpr const char* fold_sql =
    "UPDATE servreg_services SET last_seen = MAX(last_seen, ?1), changed = MAX(changed, ?1) "
    "WHERE url = ?2";

// The write statements, prepared once per connection, with the variables they are bound to.
struct write_statements {
    // Upserts waiting for execution, in order: bound to the bulk statement.
    std::vector<std::string> urls;
    std::vector<std::string> names;
    std::vector<std::string> hosts;
    std::vector<int> ports;
    std::vector<int> url_forms;
    std::vector<std::string> metas;
    std::vector<soci::indicator> meta_given;  // i_null: keep the stored metadata
    std::vector<long long> first_seen;
    std::vector<long long> last_seen;
    std::vector<long long> changed;
    // Bound to the multi-row statements, whose row i uses element i.
    static constexpr std::array<std::size_t, 3> row_counts{64, 8, 1};  // largest first
    template <class T>
    using rows_of = std::array<T, row_counts[0]>;
    rows_of<std::string> row_urls;
    rows_of<std::string> row_names;
    rows_of<std::string> row_hosts;
    rows_of<int> row_ports{};
    rows_of<int> row_url_forms{};
    rows_of<std::string> row_metas;
    rows_of<soci::indicator> row_meta_given{};
    rows_of<long long> row_first_seen{};
    rows_of<long long> row_last_seen{};
    rows_of<long long> row_changed{};
    std::string target_url;  // of an unregister, drain or undrain
    long long target_at = 0;
    int target_drained = 0;
    // A ping of an instance already stored the same way only moves its last_seen: an UPDATE
    // of two columns leaves the name index alone, which the upsert (it assigns the name)
    // rewrites. Half the pages written per ping on SQLite, where a statement costs no round
    // trip; the servers keep their multi-row upserts. SQLite only.
    std::optional<sqlite_statement> sqlite_refresh;
    std::optional<sqlite_statement> sqlite_refresh_meta;
    // The heartbeat journal, where SQLite could create its tables (not in a read-only file).
    std::optional<sqlite_statement> sqlite_stored;
    std::optional<sqlite_statement> sqlite_stored_meta;
    std::array<std::optional<sqlite_statement>, 2> sqlite_journal;  // appends to each table
    std::array<std::optional<sqlite_statement>, 2> sqlite_empty_journal;
    std::optional<sqlite_statement> sqlite_fold;
    // Instead of SOCI's one-off BEGIN and COMMIT.
    std::optional<sqlite_statement> sqlite_begin;
    std::optional<sqlite_statement> sqlite_commit;
    std::optional<soci::statement> bulk_upsert;
    std::vector<soci::statement> multi_upserts;  // one per row_counts entry
    soci::statement bury;                        // the tombstone of target_url, if its row exists
    soci::statement remove;
    soci::statement drain;  // sets drained to target_drained

    write_statements(soci::session& sql, const dialect& d, bool multi_row);
    // Whether an upsert of the op's row is waiting. Pending upserts are in URL order, so only
    // the last one can match.
    bool pending_for(const write_op& op) const { return !urls.empty() && urls.back() == op.url; }
    // Writes a ping of a row stored as the ping would store it, SQLite only: into the heartbeat
    // journal where there is one with room, else in place. False if the row must be upserted.
    // `known` (write_op::stored_same, heeded): the journal need not read the row first.
    bool refreshed(const write_op& op, heartbeat_journal& journal, bool known);
    // The transaction's share of the journal's sweep (heartbeat_journal.h).
    void fold_step(heartbeat_journal& journal);
    // The first `at_most` URLs the journal keeps, into their rows; both tables emptied when
    // that was all of them.
    void fold_first(heartbeat_journal& journal, std::size_t at_most);
    bool journal_on() const { return sqlite_fold.has_value(); }
    void empty_journal(int table) { sqlite_empty_journal[table]->run(); }
    // Queues the upsert of a ping, carrying `first_seen_ms` if it inserts or renames.
    void queue_upsert(const write_op& op, std::int64_t first_seen_ms);
    void execute_upserts();
    void discard_upserts();

private:
    static sqlite_statement& bind_row(sqlite_statement& st, const write_op& op) {
        st.integer(1, op.now_ms).text(2, op.url).text(3, op.name).integer(4, op.url_form);
        st.text(5, op.host);
        if (op.meta) st.text(6, *op.meta);
        return st;
    }
    void prepare_journal(soci::session& sql);
    // Each heartbeat's time into its row (fold_sql).
    void fold(const std::vector<heartbeat_journal::heartbeat>& heartbeats);
};

// A prune's deletions, in the caller's transaction: the rows not written since `cutoff`, each
// with a tombstone of time `now`; how many. `journal` says whether the heartbeat journal is on.
std::size_t delete_stale_rows(soci::session& sql, const dialect& d, bool journal, long long cutoff,
                              long long now);

// Rows written and instances deleted at or after `since` (store::changes_since).
changes read_changes(soci::session& sql, long long since);

// Whether either journal table holds a heartbeat.
bool journal_holds_rows(soci::session& sql);
// Folds every heartbeat both journal tables hold into its row and empties them, in the
// caller's transaction.
void fold_journal_tables(soci::session& sql, write_statements& s);

}  // namespace servreg::storage
