// The statements the store runs (statements.h): their SQL, built from the dialect, the
// execution of the upserts a batch has queued, the prune, the heartbeat journal's folds, and
// the poll of what other processes wrote.
#include "servreg/storage/statements.h"

#include "servreg/storage/row_columns.h"
#include "servreg/storage/schema.h"

namespace servreg::storage {
namespace {

constexpr std::array<std::string_view, 9> upsert_columns{
    "url", "name", "host", "port", "url_form", "meta", "first_seen", "last_seen", "changed"};

std::string upsert_sql(const dialect& d, std::size_t rows) {
    std::string sql =
        "INSERT INTO servreg_services (url, name, host, port, url_form, meta, first_seen, "
        "last_seen, changed, drained) VALUES ";
    for (std::size_t i = 0; i < rows; ++i) {
        const std::string n = std::to_string(i);
        sql += i > 0 ? ", (" : "(";
        for (const std::string_view column : upsert_columns) {
            sql += ':';
            sql += column;
            sql += n;
            sql += ", ";
        }
        sql += "0)";
    }
    sql += d.upsert_conflict;
    return sql;
}

std::string bury_sql(const dialect& d) {
    // The tombstone's time is at least the deleted row's last_seen, so that every process that
    // knew the row removes it even when the deleter's clock runs behind the pinger's.
    return "INSERT INTO servreg_tombstones (url, deleted_at) SELECT url, " +
           std::string(d.greatest) +
           "(last_seen, :deleted_at) FROM servreg_services WHERE url = :url" +
           std::string(d.tombstone_conflict);
}

// `changed` always moves, also for a drain of a drained instance, so that the affected row
// count says whether the row exists on every database (MySQL counts only rows it changed).
std::string drain_sql(const dialect& d) {
    return "UPDATE servreg_services SET drained = :drained, changed = " + std::string(d.greatest) +
           "(changed + 1, :at) WHERE url = :url";
}

}  // namespace

write_statements::write_statements(soci::session& sql, const dialect& d, bool multi_row)
    : bury((sql.prepare << bury_sql(d), soci::use(target_at), soci::use(target_url))),
      remove(
          (sql.prepare << "DELETE FROM servreg_services WHERE url = :url", soci::use(target_url))),
      drain((sql.prepare << drain_sql(d), soci::use(target_drained), soci::use(target_at),
             soci::use(target_url))) {
    if (d.kind == config::database_kind::sqlite) {
        sqlite_api::sqlite3* db = sqlite_handle(sql);
        sqlite_begin.emplace(db, sqlite_begin_sql, "Cannot begin transaction");
        sqlite_commit.emplace(db, "COMMIT", "Cannot commit transaction");
        sqlite_refresh.emplace(db, refresh_sql, "refreshing an instance");
        sqlite_refresh_meta.emplace(db, refresh_meta_sql, "refreshing an instance");
        prepare_journal(sql);
    }
    if (!multi_row) {
        bulk_upsert.emplace((sql.prepare << upsert_sql(d, 1), soci::use(urls), soci::use(names),
                             soci::use(hosts), soci::use(ports), soci::use(url_forms),
                             soci::use(metas, meta_given), soci::use(first_seen),
                             soci::use(last_seen), soci::use(changed)));
        return;
    }
    for (std::size_t rows : row_counts) {
        soci::statement& st = multi_upserts.emplace_back(sql);
        for (std::size_t i = 0; i < rows; ++i) {
            st.exchange(soci::use(row_urls[i]));
            st.exchange(soci::use(row_names[i]));
            st.exchange(soci::use(row_hosts[i]));
            st.exchange(soci::use(row_ports[i]));
            st.exchange(soci::use(row_url_forms[i]));
            st.exchange(soci::use(row_metas[i], row_meta_given[i]));
            st.exchange(soci::use(row_first_seen[i]));
            st.exchange(soci::use(row_last_seen[i]));
            st.exchange(soci::use(row_changed[i]));
        }
        st.alloc();
        st.prepare(upsert_sql(d, rows));
        st.define_and_bind();
    }
}

// The journal's tables are created where they are missing, outside the schema's versions: a
// servreg that does not know them ignores them (its rows are then up to a sweep behind, which a
// later servreg folds), and one that knows them folds what they hold when it starts. A file
// that cannot take them (read-only) is written in place.
void write_statements::prepare_journal(soci::session& sql) {
    sqlite_api::sqlite3* db = sqlite_handle(sql);
    try {
        for (const char* table : journal_tables) {
            sql << "CREATE TABLE IF NOT EXISTS " + std::string(table) +
                       " (url TEXT NOT NULL, at BIGINT NOT NULL)";
        }
    } catch (const soci::soci_error&) {
        return;
    }
    sqlite_stored.emplace(db, stored_sql, "reading an instance");
    sqlite_stored_meta.emplace(db, stored_meta_sql, "reading an instance");
    for (std::size_t t = 0; t < journal_tables.size(); ++t) {
        const std::string table(journal_tables[t]);
        sqlite_journal[t].emplace(db,
                                  ("INSERT INTO " + table + " (url, at) VALUES (?1, ?2)").c_str(),
                                  "journaling a heartbeat");
        sqlite_empty_journal[t].emplace(db, ("DELETE FROM " + table).c_str(),
                                        "emptying the heartbeat journal");
    }
    sqlite_fold.emplace(db, fold_sql, "folding a heartbeat");
}

bool write_statements::refreshed(const write_op& op, heartbeat_journal& journal, bool known) {
    if (!sqlite_refresh) return false;
    if (!journal_on() || !journal.accepts(op.url)) {
        return bind_row(op.meta ? *sqlite_refresh_meta : *sqlite_refresh, op).run() > 0;
    }
    if (!(known && !op.meta) &&
        !bind_row(op.meta ? *sqlite_stored_meta : *sqlite_stored, op).found()) {
        return false;
    }
    sqlite_journal[journal.active_table()]->text(1, op.url).integer(2, op.now_ms).run();
    journal.appended(op.url, op.now_ms);
    return true;
}

void write_statements::fold(const std::vector<heartbeat_journal::heartbeat>& heartbeats) {
    for (const heartbeat_journal::heartbeat& h : heartbeats) {
        sqlite_fold->integer(1, h.at_ms).text(2, h.url).run();
    }
}

void write_statements::fold_step(heartbeat_journal& journal) {
    if (!journal_on()) return;
    fold(journal.fold_step(heartbeat_journal::clock::now()));
    if (const int table = journal.table_to_empty(); table >= 0) empty_journal(table);
}

void write_statements::fold_first(heartbeat_journal& journal, std::size_t at_most) {
    fold(journal.fold_first(at_most));
    if (!journal.folds_all()) return;
    empty_journal(0);
    empty_journal(1);
}

void write_statements::queue_upsert(const write_op& op, std::int64_t first_seen_ms) {
    urls.push_back(op.url);
    names.push_back(op.name);
    hosts.push_back(op.host);
    ports.push_back(op.port);
    url_forms.push_back(op.url_form ? 1 : 0);
    metas.push_back(op.meta.value_or(std::string()));
    meta_given.push_back(op.meta ? soci::i_ok : soci::i_null);
    first_seen.push_back(first_seen_ms);
    last_seen.push_back(op.now_ms);
    changed.push_back(op.now_ms);
}

void write_statements::execute_upserts() {
    if (urls.empty()) return;  // SOCI refuses empty vectors
    if (bulk_upsert) {
        bulk_upsert->execute(true);
    } else {
        // Greedy: as many rows per statement as fit, so a batch of n takes about n/64 trips.
        std::size_t done = 0;
        for (std::size_t k = 0; k < row_counts.size(); ++k) {
            while (urls.size() - done >= row_counts[k]) {
                for (std::size_t i = 0; i < row_counts[k]; ++i, ++done) {
                    row_urls[i] = std::move(urls[done]);
                    row_names[i] = std::move(names[done]);
                    row_hosts[i] = std::move(hosts[done]);
                    row_ports[i] = ports[done];
                    row_url_forms[i] = url_forms[done];
                    row_metas[i] = std::move(metas[done]);
                    row_meta_given[i] = meta_given[done];
                    row_first_seen[i] = first_seen[done];
                    row_last_seen[i] = last_seen[done];
                    row_changed[i] = changed[done];
                }
                multi_upserts[k].execute(true);
            }
        }
    }
    discard_upserts();
}

void write_statements::discard_upserts() {
    urls.clear();
    names.clear();
    hosts.clear();
    ports.clear();
    url_forms.clear();
    metas.clear();
    meta_given.clear();
    first_seen.clear();
    last_seen.clear();
    changed.clear();
}

std::size_t delete_stale_rows(soci::session& sql, const dialect& d, bool journal, long long cutoff,
                              long long now) {
    // By `changed`, which is indexed where processes share the database and is never less than
    // last_seen: a row written lately (drained, say) waits for its next prune. A row whose
    // latest ping waits in the heartbeat journal is not stale.
    std::string stale = "changed < :cutoff";
    if (journal) {
        stale +=
            " AND url NOT IN (SELECT url FROM servreg_heartbeats_0 WHERE at >= :cutoff2 "
            "UNION ALL SELECT url FROM servreg_heartbeats_1 WHERE at >= :cutoff3)";
    }
    const auto bind_cutoffs = [&](soci::statement& st) {
        for (int i = 0; i < (journal ? 3 : 1); ++i) st.exchange(soci::use(cutoff));
    };
    const auto prepare = [&](soci::statement& st, const std::string& text) {
        st.alloc();
        st.prepare(text);
        st.define_and_bind();
    };
    soci::statement bury(sql);
    bury.exchange(soci::use(now));
    bind_cutoffs(bury);
    prepare(bury,
            "INSERT INTO servreg_tombstones (url, deleted_at) SELECT url, :now FROM "
            "servreg_services WHERE " +
                stale + std::string(d.tombstone_conflict));
    bury.execute(true);
    soci::statement remove(sql);
    bind_cutoffs(remove);
    prepare(remove, "DELETE FROM servreg_services WHERE " + stale);
    remove.execute(true);
    return static_cast<std::size_t>(remove.get_affected_rows());
}

bool journal_holds_rows(soci::session& sql) {
    int holds = 0;
    sql << "SELECT EXISTS (SELECT 1 FROM servreg_heartbeats_0) OR "
           "EXISTS (SELECT 1 FROM servreg_heartbeats_1)",
        soci::into(holds);
    return holds != 0;
}

void fold_journal_tables(soci::session& sql, write_statements& s) {
    sql << "UPDATE servreg_services SET last_seen = MAX(last_seen, j.at), "
           "changed = MAX(changed, j.at) FROM (SELECT url, MAX(at) AS at FROM "
           "(SELECT url, at FROM servreg_heartbeats_0 UNION ALL "
           "SELECT url, at FROM servreg_heartbeats_1) GROUP BY url) AS j "
           "WHERE servreg_services.url = j.url";
    s.empty_journal(0);
    s.empty_journal(1);
}

changes read_changes(soci::session& sql, long long since) {
    changes out;
    constexpr std::size_t chunk = 4096;
    // Tombstones first, each query in its own snapshot: a row read afterwards that has a
    // tombstone too was pinged again after its deletion (see registry::index::merge).
    {
        std::vector<std::string> urls(chunk);
        std::vector<long long> deleted_at(chunk);
        soci::statement st = (sql.prepare << "SELECT url, deleted_at FROM servreg_tombstones "
                                             "WHERE deleted_at >= :since",
                              soci::use(since), soci::into(urls), soci::into(deleted_at));
        st.execute();
        while (st.fetch()) {
            for (std::size_t i = 0; i < urls.size(); ++i) {
                out.tombstones.push_back(
                    {.url = std::move(urls[i]), .deleted_at_ms = deleted_at[i]});
            }
            urls.resize(chunk);
            deleted_at.resize(chunk);
        }
    }
    row_columns c(chunk);
    soci::statement st =
        c.select(sql, std::string(select_all_rows) + " WHERE changed >= :since", &since);
    c.fetch_all(st, out.rows);
    return out;
}

}  // namespace servreg::storage
