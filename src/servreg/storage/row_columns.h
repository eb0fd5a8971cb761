// Rows of servreg_services read through SOCI in chunks, for the servers' start-up load and
// for polling; SQLite's load has its own path (sqlite_fast_path.h).
#pragma once

#include <soci/soci.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "servreg/storage/store.h"

namespace servreg::storage {

// Rows of servreg_services fetched in chunks into column vectors, which a statement binds with
// into(): a row at a time would be ten times slower.
struct row_columns {
    explicit row_columns(std::size_t rows_per_fetch) : chunk(rows_per_fetch) { resize(); }

    std::size_t chunk;
    std::vector<std::string> names;
    std::vector<std::string> hosts;
    std::vector<int> ports;
    std::vector<long long> first_seen;
    std::vector<long long> last_seen;
    std::vector<std::string> urls;
    std::vector<int> url_forms;
    std::vector<int> drained;
    std::vector<std::string> metas;
    std::vector<soci::indicator> meta_indicators;
    std::vector<long long> changed;

    // `query` selects the columns of schema.h's select_all_rows, with one :since parameter
    // bound to `since` when it is given.
    soci::statement select(soci::session& sql, const std::string& query,
                           long long* since = nullptr) {
        soci::statement st(sql);
        if (since != nullptr) st.exchange(soci::use(*since));
        st.exchange(soci::into(names));
        st.exchange(soci::into(hosts));
        st.exchange(soci::into(ports));
        st.exchange(soci::into(first_seen));
        st.exchange(soci::into(last_seen));
        st.exchange(soci::into(urls));
        st.exchange(soci::into(url_forms));
        st.exchange(soci::into(drained));
        st.exchange(soci::into(metas, meta_indicators));
        st.exchange(soci::into(changed));
        st.alloc();
        st.prepare(query);
        st.define_and_bind();
        return st;
    }

    // Runs `st` (from select()) and hands every fetch's rows to `sink`.
    void fetch_each(soci::statement& st, const store::row_sink& sink) {
        std::vector<instance_row> rows;
        st.execute();
        while (st.fetch()) {
            rows.resize(names.size());
            for (std::size_t i = 0; i < names.size(); ++i) {
                instance_row& r = rows[i];
                r.name.swap(names[i]);
                r.host.swap(hosts[i]);
                r.port = static_cast<std::uint16_t>(ports[i]);
                r.first_seen_ms = first_seen[i];
                r.last_seen_ms = last_seen[i];
                r.url.swap(urls[i]);
                r.url_form = url_forms[i] != 0;
                r.drained = drained[i] != 0;
                if (meta_indicators[i] == soci::i_ok) {
                    r.meta.swap(metas[i]);
                } else {
                    r.meta.clear();
                }
                r.changed_ms = changed[i];
            }
            sink(rows);
            resize();
        }
    }

    // Runs `st` (from select()) and appends every row to `out`.
    void fetch_all(soci::statement& st, std::vector<instance_row>& out) {
        fetch_each(st, [&out](std::span<const instance_row> rows) {
            out.insert(out.end(), rows.begin(), rows.end());
        });
    }

private:
    void resize() {
        names.resize(chunk);
        hosts.resize(chunk);
        ports.resize(chunk);
        first_seen.resize(chunk);
        last_seen.resize(chunk);
        urls.resize(chunk);
        url_forms.resize(chunk);
        drained.resize(chunk);
        metas.resize(chunk);
        meta_indicators.resize(chunk);
        changed.resize(chunk);
    }
};

}  // namespace servreg::storage
