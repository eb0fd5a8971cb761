// The write statements (statements.h): their SQL, built from the dialect, and the execution of
// the upserts a batch has queued.
#include "servreg/storage/statements.h"

namespace servreg::storage {
namespace {

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

}  // namespace

write_statements::write_statements(soci::session& sql, const dialect& d, bool multi_row)
    : bury((sql.prepare << bury_sql(d), soci::use(remove_at), soci::use(remove_host),
            soci::use(remove_port))),
      remove((sql.prepare << "DELETE FROM servreg_services WHERE host = :host AND port = :port",
              soci::use(remove_host), soci::use(remove_port))) {
    sqlite_api::sqlite3* db = nullptr;
    if (d.kind == config::database_kind::sqlite) {
        db = sqlite_handle(sql);
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

void write_statements::execute_upserts() {
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

void write_statements::discard_upserts() {
    names.clear();
    hosts.clear();
    ports.clear();
    first_seen.clear();
    last_seen.clear();
}

}  // namespace servreg::storage
