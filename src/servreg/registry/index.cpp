// The in-memory registry's start-up load, committed pings and unregisters, pruning and reads;
// its structures are in index_impl.h, the merging of other processes' changes in index_merge.cpp.
#include "servreg/registry/index.h"

#include <algorithm>
#include <array>
#include <limits>
#include <mutex>
#include <shared_mutex>

#include "servreg/registry/index_impl.h"

namespace servreg::registry {

using detail::prefetch;
using detail::url_hash;

index::index() : impl_(std::make_unique<impl>()) {}

index::~index() = default;

void index::apply_ping(std::string_view name, const address& at, const metadata* meta,
                       std::int64_t now_ms) {
    impl& d = *impl_;
    const std::uint32_t hash = url_hash(at.url);
    {
        // The common case, a known instance pinging again, needs only the shared lock.
        std::shared_lock lock(d.mutex);
        if (const slot_id s = d.find(at.url, hash); s != no_slot) {
            auto& inst = d.slot(s);
            if (d.name_of(inst) == name && inst.same_as(at.host, at.url_form, meta)) {
                d.seen(inst, now_ms);
                if (!inst.confirmed.load(std::memory_order_relaxed)) {
                    inst.confirmed.store(true, std::memory_order_relaxed);
                }
                return;
            }
        }
    }
    std::unique_lock lock(d.mutex);
    d.slot(d.upsert(name, at, meta, hash, now_ms)).confirmed.store(true, std::memory_order_relaxed);
}

void index::unconfirm(std::string_view url) noexcept {
    impl& d = *impl_;
    try {
        std::shared_lock lock(d.mutex);
        if (const slot_id s = d.find(url, url_hash(url)); s != no_slot) {
            d.slot(s).confirmed.store(false, std::memory_order_relaxed);
        }
    } catch (...) {
        // A lock that cannot be taken: nothing else can change the index either.
    }
}

// Among a million instances, the table entry, the slot and the name of each ping are cold, and
// looked up one after the other they are as many misses in a row (this was most of what a ping
// cost the writer more at 1,000,000 than at 1,000). So a chunk of the batch is looked up in
// stages: every table entry is fetched, then every slot, then every name, and the misses of a
// stage overlap.
void index::mark_stored(std::span<storage::write_op> ops) const {
    constexpr std::size_t chunk = 16;
    const impl& d = *impl_;
    std::shared_lock lock(d.mutex);
    std::array<storage::write_op*, chunk> todo{};
    std::array<std::uint32_t, chunk> hashes{};
    std::array<slot_id, chunk> found{};
    for (auto next = ops.begin(); next != ops.end();) {
        std::size_t n = 0;
        for (; next != ops.end() && n < chunk; ++next) {
            if (next->kind != storage::write_op::kind_t::ping || next->meta) continue;
            todo[n] = &*next;
            hashes[n] = url_hash(next->url);
            d.table.prefetch(hashes[n]);
            ++n;
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (const slot_id s = d.table.first(hashes[i]); s != no_slot) prefetch(&d.slot(s));
        }
        for (std::size_t i = 0; i < n; ++i) {
            found[i] = d.find(todo[i]->url, hashes[i]);
            if (found[i] != no_slot) prefetch(&d.names[d.slot(found[i]).owner]);
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (found[i] == no_slot) continue;
            const auto& inst = d.slot(found[i]);
            storage::write_op& op = *todo[i];
            op.stored_same = inst.confirmed.load(std::memory_order_relaxed) &&
                             d.name_of(inst) == op.name &&
                             inst.same_as(op.host, op.url_form, nullptr);
        }
    }
}

void index::apply_ping(std::string_view name, std::string_view host, std::uint16_t port,
                       std::int64_t now_ms) {
    apply_ping(name, address_of(std::string(host), port), nullptr, now_ms);
}

bool index::apply_unregister(std::string_view url, std::int64_t deleted_at_ms) {
    impl& d = *impl_;
    const std::uint32_t hash = url_hash(url);
    std::unique_lock lock(d.mutex);
    const slot_id s = d.find(url, hash);
    if (s == no_slot) {
        if (d.track_deletions) d.deletions.remember(url, deleted_at_ms);
        return false;
    }
    // Its row is gone: should what follows throw, the instance stays, but unconfirmed.
    d.slot(s).confirmed.store(false, std::memory_order_relaxed);
    // Remembered first: if that throws, nothing changed.
    if (d.track_deletions) {
        d.deletions.remember(url, std::max(deleted_at_ms, d.slot(s).last_seen()));
    }
    d.remove(s);
    return true;
}

bool index::apply_drain(std::string_view url, bool drained, std::int64_t changed_ms) {
    impl& d = *impl_;
    std::unique_lock lock(d.mutex);
    const slot_id s = d.find(url, url_hash(url));
    if (s == no_slot) return false;
    auto& inst = d.slot(s);
    inst.drained_ms = std::max(inst.drained_ms, changed_ms);
    if (std::exchange(inst.drained, drained) != drained) d.bump(d.name_of(inst));
    return true;
}

std::size_t index::prune(std::int64_t cutoff_ms) {
    impl& d = *impl_;
    std::unique_lock lock(d.mutex);
    std::size_t removed = 0;
    const std::size_t names_removed = d.names.erase_if([&](detail::name_entry& entry) noexcept {
        auto& members = entry.members;
        std::size_t kept = 0;
        for (slot_id* p = members.begin(); p != members.end(); ++p) {
            if (d.slot(*p).last_seen() < cutoff_ms) {
                d.forget(*p);
                ++removed;
            } else {
                // The database's prune judges its rows by its own times (the journal's, a
                // drain's), which the index need not share: every instance kept is confirmed
                // again by its next ping.
                d.slot(*p).confirmed.store(false, std::memory_order_relaxed);
                members.begin()[kept++] = *p;
            }
        }
        members.truncate(kept);
        return members.empty();
    });
    if (names_removed > 0) ++d.names_generation;
    if (removed > 0) d.bump({});
    return removed;
}

std::vector<endpoint> index::locate(const glob& pattern, std::int64_t alive_since_ms,
                                    const metadata* filter, std::int64_t* oldest_seen_ms) const {
    const impl& d = *impl_;
    std::vector<endpoint> out;
    std::int64_t oldest = std::numeric_limits<std::int64_t>::max();
    const bool filtered = filter != nullptr && !filter->empty();
    std::shared_lock lock(d.mutex);
    d.visit(pattern, [&](std::string_view, const member_list& members) {
        for (const slot_id s : members) {
            const auto& inst = d.slot(s);
            if (inst.last_seen() < alive_since_ms || inst.drained) continue;
            if (filtered && (inst.meta() == nullptr || !matches(*inst.meta(), *filter))) continue;
            oldest = std::min(oldest, inst.last_seen());
            if (inst.url_form) {
                out.push_back({{}, inst.port, inst.full_url()});
            } else {
                out.push_back({std::string(inst.host.view()), inst.port, {}});
            }
        }
    });
    if (oldest_seen_ms != nullptr) *oldest_seen_ms = oldest;
    return out;
}

std::vector<storage::instance_row> index::list(const glob& pattern) const {
    const impl& d = *impl_;
    std::vector<storage::instance_row> out;
    std::shared_lock lock(d.mutex);
    d.visit(pattern, [&](std::string_view name, const member_list& members) {
        for (const slot_id s : members) {
            const auto& inst = d.slot(s);
            out.push_back({.name = std::string(name),
                           .host = std::string(inst.host.view()),
                           .port = inst.port,
                           .first_seen_ms = inst.first_seen_ms,
                           .last_seen_ms = inst.last_seen(),
                           .url = inst.full_url(),
                           .url_form = inst.url_form,
                           .drained = inst.drained,
                           .meta = inst.meta() != nullptr ? encode_metadata(*inst.meta()) : "{}",
                           .changed_ms = inst.drained_ms});
        }
    });
    return out;
}

index::counts index::count(std::int64_t alive_since_ms) const {
    const impl& d = *impl_;
    counts c;
    std::shared_lock lock(d.mutex);
    for (slot_id s = 0; s < d.slot_count; ++s) {
        const auto& inst = d.slot(s);
        if (!inst.live) continue;
        ++(inst.last_seen() >= alive_since_ms ? c.alive : c.dead);
    }
    return c;
}

std::size_t index::size() const {
    std::shared_lock lock(impl_->mutex);
    return impl_->live_count;
}

std::uint64_t index::generation() const noexcept {
    return impl_->generation.load(std::memory_order_acquire);
}

void index::observe(change_observer* o, std::int64_t ttl_ms) noexcept {
    impl_->observer = o;
    impl_->observer_ttl_ms = ttl_ms;
}

}  // namespace servreg::registry
