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

}  // namespace servreg::storage
