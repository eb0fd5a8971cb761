// The statements every write transaction runs, prepared once per connection: the upserts (bulk
// or multi-row, as the dialect prefers), SQLite's refresh of last_seen, the tombstone and delete.
#pragma once

#include <soci/soci.h>

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "servreg/storage/dialect.h"
#include "servreg/storage/sqlite_fast_path.h"
#include "servreg/storage/store.h"

namespace servreg::storage {

// IMMEDIATE takes the write lock now, under the busy timeout. A deferred transaction would
// upgrade its lock at the first write and could fail at once when another process wrote.
inline constexpr const char* sqlite_begin_sql = "BEGIN IMMEDIATE";

inline constexpr const char* refresh_sql =
    "UPDATE servreg_services SET last_seen = :last_seen "
    "WHERE host = :host AND port = :port AND name = :name";

// The write statements, prepared once per connection, with the variables they are bound to.
struct write_statements {
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

    write_statements(soci::session& sql, const dialect& d, bool multi_row);
    // Whether an upsert of the op's endpoint is waiting. Pending upserts are in endpoint order,
    // so only the last one can match.
    bool pending_for(const write_op& op) const {
        return !names.empty() && ports.back() == op.port && hosts.back() == op.host;
    }
    // Moves the last_seen of op's row when it has op's name; whether it did.
    bool refreshed(const write_op& op) {
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
    void execute_upserts();
    void discard_upserts();
};

}  // namespace servreg::storage
