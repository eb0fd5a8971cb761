// What other servreg processes committed to a shared database, merged into this one's index
// (index::merge), and the deletions remembered meanwhile so that an old row cannot undo them.
#include <algorithm>
#include <mutex>
#include <shared_mutex>
#include <unordered_set>

#include "servreg/registry/index_impl.h"

namespace servreg::registry {

namespace detail {

void deletion_log::remember(std::string_view url, std::int64_t at_ms) {
    auto [it, added] = deletions_.try_emplace(std::string(url), at_ms);
    if (!added) it->second = std::max(it->second, at_ms);
}

void deletion_log::forget(std::string_view url) {
    if (auto it = deletions_.find(url); it != deletions_.end()) deletions_.erase(it);
}

std::optional<std::int64_t> deletion_log::deleted_at(std::string_view url) const {
    if (deletions_.empty()) return std::nullopt;
    if (auto it = deletions_.find(url); it != deletions_.end()) return it->second;
    return std::nullopt;
}

void deletion_log::forget_before(std::int64_t cutoff_ms) {
    std::erase_if(deletions_, [&](const auto& entry) { return entry.second < cutoff_ms; });
}

}  // namespace detail

using detail::url_hash;

namespace {

// Rows made by hand (in tests) may leave the URL out: theirs is http://host:port/api.
const storage::changes& with_urls(const storage::changes& changes, storage::changes& filled) {
    const auto no_url = [](const storage::instance_row& row) { return row.url.empty(); };
    if (std::ranges::none_of(changes.rows, no_url)) return changes;
    filled = changes;
    for (auto& row : filled.rows) {
        if (row.url.empty()) row.url = url_of(row.host, row.port);
    }
    return filled;
}

// What a row read from the database says that the index does not know yet: a later ping
// (name, host, form, metadata, times) and a later drain or undrain. A row's `changed` is the
// time of its latest write; last_seen that of its latest ping.
struct row_news {
    bool ping = false;
    bool drain = false;
    bool any() const noexcept { return ping || drain; }
};

template <class Instance>
row_news news_of(const storage::instance_row& row, const Instance& inst) {
    return {.ping = row.last_seen_ms > inst.last_seen(),
            .drain = row.changed_ms > inst.drained_ms && row.drained != inst.drained};
}

std::optional<metadata> meta_of(const storage::instance_row& row) {
    if (row.meta.empty()) return metadata{};
    return decode_metadata(row.meta);
}

}  // namespace

void index::track_deletions(bool on) {
    std::unique_lock lock(impl_->mutex);
    impl_->track_deletions = on;
    if (!on) impl_->deletions.clear();
}

index::merge_stats index::merge(const storage::changes& given,
                                std::int64_t forget_deletions_before_ms) {
    impl& d = *impl_;
    storage::changes filled;
    const storage::changes& changes = with_urls(given, filled);
    merge_stats stats;
    // Rows that need the exclusive lock: new instances, moves, restarted first_seen, changed
    // attributes.
    std::vector<std::size_t> structural;
    bool deletions_kept = false;
    {
        // Most rows are pings of known instances: refreshing them needs only the shared lock.
        std::shared_lock lock(d.mutex);
        for (std::size_t i = 0; i < changes.rows.size(); ++i) {
            const auto& row = changes.rows[i];
            const slot_id s = d.find(row.url, url_hash(row.url));
            if (s != no_slot) {
                auto& inst = d.slot(s);
                const row_news news = news_of(row, inst);
                if (!news.any()) continue;
                if (!news.drain && d.name_of(inst) == row.name &&
                    inst.first_seen_ms == row.first_seen_ms) {
                    const auto meta = meta_of(row);
                    if (inst.same_as(row.host, row.url_form, meta ? &*meta : nullptr)) {
                        d.seen_at_least(inst, row.last_seen_ms);
                        ++stats.updated;
                        continue;
                    }
                }
            }
            structural.push_back(i);
        }
        deletions_kept = !d.deletions.empty();
    }
    if (structural.empty() && changes.tombstones.empty() && !deletions_kept) return stats;

    // The tombstones were read before the rows: an instance that has both was deleted and then
    // pinged again, and the row is the later truth.
    std::unordered_set<std::string_view> with_row;
    if (!changes.tombstones.empty()) {
        with_row.reserve(changes.rows.size());
        for (const auto& row : changes.rows) with_row.insert(row.url);
    }

    std::unique_lock lock(d.mutex);
    for (const auto& t : changes.tombstones) {
        if (with_row.contains(t.url)) continue;
        const slot_id s = d.find(t.url, url_hash(t.url));
        if (s != no_slot) {
            // Seen after the delete: pinged again since (or by a clock ahead of the deleter's).
            if (d.slot(s).last_seen() > t.deleted_at_ms) continue;
            d.deletions.remember(t.url, t.deleted_at_ms);
            d.remove(s);
            ++stats.removed;
        } else {
            d.deletions.remember(t.url, t.deleted_at_ms);
        }
    }
    for (const std::size_t i : structural) {
        const auto& row = changes.rows[i];
        const std::uint32_t hash = url_hash(row.url);
        if (const slot_id s = d.find(row.url, hash); s != no_slot) {
            auto& inst = d.slot(s);
            const row_news news = news_of(row, inst);  // a local write may have come in between
            if (!news.any()) continue;
            bool changed = false;
            if (news.ping) {
                inst.confirmed.store(false, std::memory_order_relaxed);  // another's write
                if (d.name_of(inst) != row.name || inst.host != row.host) {
                    d.move(s, row.name, row.host, row.first_seen_ms, row.last_seen_ms);
                } else {
                    inst.first_seen_ms = row.first_seen_ms;
                    d.seen(inst, row.last_seen_ms);
                }
                const auto meta = meta_of(row);
                changed |= impl::set_meta(inst, meta ? &*meta : nullptr);
                changed |= std::exchange(inst.url_form, row.url_form) != row.url_form;
            }
            if (news.drain) {
                inst.drained = row.drained;
                inst.drained_ms = row.changed_ms;
                changed = true;
            }
            if (changed) d.bump(d.name_of(inst));
            ++stats.updated;
            continue;
        }
        if (const auto deleted = d.deletions.deleted_at(row.url)) {
            const bool read_after_delete = !with_row.empty() && with_row.contains(row.url);
            // A row as old as the deletion was read before it committed.
            if (*deleted >= row.last_seen_ms && !read_after_delete) continue;
            d.deletions.forget(row.url);
        }
        const slot_id s = d.insert(row.name, impl::address_of_row(row), hash, row.first_seen_ms,
                                   row.last_seen_ms);
        d.take_row(s, row);
        ++stats.inserted;
    }
    d.deletions.forget_before(forget_deletions_before_ms);
    return stats;
}

}  // namespace servreg::registry
