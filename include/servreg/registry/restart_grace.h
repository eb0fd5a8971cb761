// The grace after a downtime (SPEC section 5): instances that were alive when the registry went
// down count as alive for one TTL after it starts again, so that clients are not told "no
// instances" before the services have had time to ping.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "servreg/registry/index.h"

namespace servreg::registry {

struct restart_grace {
    std::size_t instances = 0;  // instances given the grace
    // The newest last_seen of the instances loaded: about when the registry stopped.
    std::int64_t newest_ms = 0;
    std::int64_t until_ms = 0;  // when the grace ends (0 when none was given)
};

// When the newest last_seen of the instances loaded at start-up (at `now_ms`) is more than `ttl`
// old, raises to `now_ms` the last_seen of those within `ttl` of that newest one, in the index
// only: the database keeps what the services told it. Instances older than `prune_after` are left
// alone, since the first prune deletes them. A ping (a later last_seen) or an unregister then
// ends an instance's grace as it would end its life.
restart_grace apply_restart_grace(index::loader& loaded, std::int64_t now_ms,
                                  std::chrono::milliseconds ttl,
                                  std::chrono::milliseconds prune_after);

}  // namespace servreg::registry
