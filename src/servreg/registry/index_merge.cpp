// What other servreg processes committed to a shared database, merged into this one's index
// (index::merge), and the deletions remembered meanwhile so that an old row cannot undo them.
#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

#include "servreg/registry/index_impl.h"

namespace servreg::registry {

namespace detail {

std::string endpoint_key(std::string_view host, std::uint16_t port) {
    std::string key;
    key.reserve(host.size() + 3);
    key.append(host);
    key.push_back('\0');  // hosts hold no control characters
    key.push_back(static_cast<char>(port >> 8));
    key.push_back(static_cast<char>(port & 0xff));
    return key;
}

void deletion_log::remember(std::string_view host, std::uint16_t port, std::int64_t at_ms) {
    auto [it, added] = deletions_.try_emplace(endpoint_key(host, port), at_ms);
    if (!added) it->second = std::max(it->second, at_ms);
}

void deletion_log::forget(std::string_view host, std::uint16_t port) {
    if (auto it = deletions_.find(endpoint_key(host, port)); it != deletions_.end()) {
        deletions_.erase(it);
    }
}

std::optional<std::int64_t> deletion_log::deleted_at(std::string_view host,
                                                     std::uint16_t port) const {
    if (deletions_.empty()) return std::nullopt;
    if (auto it = deletions_.find(endpoint_key(host, port)); it != deletions_.end()) {
        return it->second;
    }
    return std::nullopt;
}

void deletion_log::forget_before(std::int64_t cutoff_ms) {
    std::erase_if(deletions_, [&](const auto& entry) { return entry.second < cutoff_ms; });
}

}  // namespace detail

using detail::endpoint_hash;
using detail::endpoint_key;

void index::track_deletions(bool on) {
    std::unique_lock lock(impl_->mutex);
    impl_->track_deletions = on;
    if (!on) impl_->deletions.clear();
}

index::merge_stats index::merge(const storage::changes& changes,
                                std::int64_t forget_deletions_before_ms) {
    impl& d = *impl_;
    merge_stats stats;
    // Rows that need the exclusive lock: new instances, moves, restarted first_seen.
    std::vector<std::size_t> structural;
    bool deletions_kept = false;
    {
        // Most rows are pings of known instances: refreshing them needs only the shared lock.
        std::shared_lock lock(d.mutex);
        for (std::size_t i = 0; i < changes.rows.size(); ++i) {
            const auto& row = changes.rows[i];
            const slot_id s = d.find(row.host, row.port, endpoint_hash(row.host, row.port));
            if (s != no_slot) {
                auto& inst = d.slot(s);
                if (row.last_seen_ms <= inst.last_seen()) continue;
                if (inst.owner->first == row.name && inst.first_seen_ms == row.first_seen_ms) {
                    inst.seen_at_least(row.last_seen_ms);
                    ++stats.updated;
                    continue;
                }
            }
            structural.push_back(i);
        }
        deletions_kept = !d.deletions.empty();
    }
    if (structural.empty() && changes.tombstones.empty() && !deletions_kept) return stats;

    // The tombstones were read before the rows: an endpoint that has both was deleted and then
    // pinged again, and the row is the later truth.
    std::unordered_set<std::string> with_row;
    if (!changes.tombstones.empty()) {
        with_row.reserve(changes.rows.size());
        for (const auto& row : changes.rows) with_row.insert(endpoint_key(row.host, row.port));
    }

    std::unique_lock lock(d.mutex);
    for (const auto& t : changes.tombstones) {
        if (with_row.contains(endpoint_key(t.host, t.port))) continue;
        const slot_id s = d.find(t.host, t.port, endpoint_hash(t.host, t.port));
        if (s != no_slot) {
            // Seen after the delete: pinged again since (or by a clock ahead of the deleter's).
            if (d.slot(s).last_seen() > t.deleted_at_ms) continue;
            d.deletions.remember(t.host, t.port, t.deleted_at_ms);
            d.remove(s);
            ++stats.removed;
        } else {
            d.deletions.remember(t.host, t.port, t.deleted_at_ms);
        }
    }
    for (const std::size_t i : structural) {
        const auto& row = changes.rows[i];
        const std::uint32_t hash = endpoint_hash(row.host, row.port);
        if (const slot_id s = d.find(row.host, row.port, hash); s != no_slot) {
            auto& inst = d.slot(s);
            if (row.last_seen_ms <= inst.last_seen()) continue;  // a local ping came in between
            if (inst.owner->first == row.name) {
                inst.first_seen_ms = row.first_seen_ms;
                inst.seen(row.last_seen_ms);
            } else {
                d.move(s, row.name, row.first_seen_ms, row.last_seen_ms);
            }
            ++stats.updated;
            continue;
        }
        if (const auto deleted = d.deletions.deleted_at(row.host, row.port)) {
            const bool read_after_delete =
                !with_row.empty() && with_row.contains(endpoint_key(row.host, row.port));
            // A row as old as the deletion was read before it committed.
            if (*deleted >= row.last_seen_ms && !read_after_delete) continue;
            d.deletions.forget(row.host, row.port);
        }
        d.insert(row.name, row.host, row.port, hash, row.first_seen_ms, row.last_seen_ms);
        ++stats.inserted;
    }
    d.deletions.forget_before(forget_deletions_before_ms);
    return stats;
}

}  // namespace servreg::registry
