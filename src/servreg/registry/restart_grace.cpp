// The restart grace: which rows were alive when the registry went down, judged by the newest
// last_seen of all, since the registry's own clock did not run while it was down.
#include "servreg/registry/restart_grace.h"

#include <algorithm>

namespace servreg::registry {

restart_grace apply_restart_grace(std::vector<storage::instance_row>& rows, std::int64_t now_ms,
                                  std::chrono::milliseconds ttl,
                                  std::chrono::milliseconds prune_after) {
    restart_grace out;
    if (rows.empty()) return out;
    out.newest_ms = std::ranges::max(rows, {}, &storage::instance_row::last_seen_ms).last_seen_ms;
    // Fresh: the registry was not down (or another process sharing the database was not).
    if (now_ms - out.newest_ms <= ttl.count()) return out;
    const std::int64_t alive_then = out.newest_ms - ttl.count();
    const std::int64_t pruned_before = now_ms - prune_after.count();
    for (auto& row : rows) {
        if (row.last_seen_ms < alive_then || row.last_seen_ms < pruned_before) continue;
        row.last_seen_ms = now_ms;
        ++out.instances;
    }
    if (out.instances > 0) out.until_ms = now_ms + ttl.count();
    return out;
}

}  // namespace servreg::registry
