// The restart grace: which rows were alive when the registry went down, judged by the newest
// last_seen of all, since the registry's own clock did not run while it was down.
#include "servreg/registry/restart_grace.h"

#include <algorithm>

namespace servreg::registry {

restart_grace apply_restart_grace(index::loader& loaded, std::int64_t now_ms,
                                  std::chrono::milliseconds ttl,
                                  std::chrono::milliseconds prune_after) {
    restart_grace out;
    if (loaded.size() == 0) return out;
    out.newest_ms = loaded.newest_seen_ms();
    // Fresh: the registry was not down (or another process sharing the database was not).
    if (now_ms - out.newest_ms <= ttl.count()) return out;
    const std::int64_t alive_then = out.newest_ms - ttl.count();
    const std::int64_t pruned_before = now_ms - prune_after.count();
    out.instances = loaded.raise_last_seen(std::max(alive_then, pruned_before), now_ms);
    if (out.instances > 0) out.until_ms = now_ms + ttl.count();
    return out;
}

}  // namespace servreg::registry
