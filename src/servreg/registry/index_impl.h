// The inside of registry::index, shared by index.cpp and index_merge.cpp: the slots, the name
// map and endpoint table over them, the match cache, and the edits that keep them agreeing.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <shared_mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "servreg/registry/deletion_log.h"
#include "servreg/registry/endpoint_table.h"
#include "servreg/registry/index.h"
#include "servreg/registry/match_cache.h"
#include "servreg/registry/member_list.h"
#include "servreg/registry/metadata.h"
#include "servreg/registry/name_set.h"

namespace servreg::registry {

using detail::member_list;
using detail::name_id;
using detail::no_name;
using detail::no_slot;
using detail::slot_id;

struct index::impl {
    using name_entry = detail::name_entry;

    // What few instances have: a URL other than url_of(host, port), metadata. Kept apart, so
    // that the others pay 8 bytes (a null pointer) for both rather than 24.
    struct rare {
        detail::compact_string url;            // empty: url_of(host, port)
        std::unique_ptr<const metadata> meta;  // null: none
    };

    struct instance {
        detail::compact_string host;
        std::unique_ptr<rare> extra;  // null: the URL is url_of(host, port), no metadata
        std::int64_t first_seen_ms = 0;
        // The `changed` of the write that set `drained`, as far as this index knows.
        std::int64_t drained_ms = 0;
        // Refreshed under the shared lock; the lock orders everything else.
        std::atomic<std::int64_t> last_seen_ms{0};
        std::uint32_t hash = 0;   // url_hash while live, next free slot otherwise
        name_id owner = no_name;  // the service's name while live
        std::uint16_t port = 0;
        bool live = false;
        bool url_form = false;
        bool drained = false;
        // Whether a ping this process committed since the last prune stored the instance with
        // the name, host and form held here, so that its row is known to match (mark_stored).
        // Set under the shared lock by the pings that change nothing else.
        std::atomic<bool> confirmed{false};

        // The key, when it is not url_of(host, port) (empty then, as for every instance that
        // pings by host and port, which costs no allocation for it).
        std::string_view url() const noexcept {
            return extra ? extra->url.view() : std::string_view();
        }
        const metadata* meta() const noexcept { return extra ? extra->meta.get() : nullptr; }

        // Sets the URL kept (empty: the derived one). `spare`, when not null, is used should
        // the instance need its rare part, so that a caller can make it before changing
        // anything; without it this may throw, and then nothing changed.
        void set_url(detail::compact_string u, std::unique_ptr<rare> spare = nullptr) {
            if (!u.empty() && !extra) extra = spare ? std::move(spare) : std::make_unique<rare>();
            if (extra) extra->url = std::move(u);
            drop_empty_extra();
        }
        // Sets the metadata (null: none). Strong guarantee.
        void set_meta(std::unique_ptr<const metadata> m) {
            if (m && !extra) extra = std::make_unique<rare>();
            if (extra) extra->meta = std::move(m);
            drop_empty_extra();
        }
        void drop_empty_extra() noexcept {
            if (extra && extra->url.empty() && !extra->meta) extra.reset();
        }

        bool same_url(const instance& o) const {
            if (url().empty() && o.url().empty()) return port == o.port && host == o.host;
            return full_url() == o.full_url();
        }
        bool has_url(std::string_view u) const noexcept {
            const std::string_view kept = url();
            return kept.empty() ? is_url_of(u, host.view(), port) : kept == u;
        }
        std::string full_url() const {
            const std::string_view kept = url();
            return kept.empty() ? url_of(host.view(), port) : std::string(kept);
        }

        // Whether a ping that gives these would store the instance as it is (meta null: the
        // ping keeps what is stored).
        bool same_as(std::string_view h, bool form, const metadata* m) const noexcept {
            return url_form == form && host == h && (m == nullptr || same_meta(m));
        }
        bool same_meta(const metadata* m) const noexcept {
            const bool empty = m == nullptr || m->empty();
            const metadata* mine = meta();
            if (mine == nullptr) return empty;
            return m != nullptr && *mine == *m;
        }

        std::int64_t last_seen() const noexcept {
            return last_seen_ms.load(std::memory_order_relaxed);
        }
        void seen(std::int64_t now_ms) noexcept {
            last_seen_ms.store(now_ms, std::memory_order_relaxed);
        }
        // Under the shared lock, racing with local pings: never moves last_seen back.
        void seen_at_least(std::int64_t t) noexcept {
            std::int64_t current = last_seen();
            while (current < t &&
                   !last_seen_ms.compare_exchange_weak(current, t, std::memory_order_relaxed)) {
            }
        }
    };
    // 64 bytes at most on 64-bit targets: a million of them are most of the resident set.
    static_assert(sizeof(void*) != 8 || sizeof(instance) <= 64);

    mutable std::shared_mutex mutex;
    detail::name_set names;
    // Instances live in fixed blocks: they never move, so growing copies nothing under the
    // lock, last_seen can be a plain atomic, and there is no doubling slack.
    static constexpr std::size_t block_bits = 9;
    static constexpr std::size_t block_size = std::size_t{1} << block_bits;
    std::vector<std::unique_ptr<instance[]>> blocks;
    std::size_t slot_count = 0;  // slots handed out so far, live or free
    slot_id free_head = no_slot;
    std::size_t live_count = 0;
    detail::endpoint_table table;  // holds the live slots
    std::atomic<std::uint64_t> generation{0};
    // Changes whenever a name enters or leaves `names` (under the exclusive lock).
    std::uint64_t names_generation = 0;
    mutable detail::match_cache cache;
    // Kept only while another process's changes are merged (see merge).
    bool track_deletions = false;
    detail::deletion_log deletions;

    instance& slot(slot_id s) noexcept { return blocks[s >> block_bits][s & (block_size - 1)]; }
    const instance& slot(slot_id s) const noexcept {
        return blocks[s >> block_bits][s & (block_size - 1)];
    }

    // Told of every change of an answer (see index::observe); null: nobody watches.
    change_observer* observer = nullptr;
    std::int64_t observer_ttl_ms = 0;

    std::string_view name_of(const instance& inst) const noexcept {
        return names[inst.owner].name.view();
    }

    // An answer of the instances of `name` changed (empty: of any name).
    void bump(std::string_view name) noexcept {
        generation.fetch_add(1, std::memory_order_release);
        if (observer != nullptr) observer->changed(name);
    }
    // Instance `inst` was seen at `now_ms`: a ping more than a TTL after the previous one
    // brings a dead instance back, which changes the answers of its name.
    void seen(instance& inst, std::int64_t now_ms) noexcept {
        if (observer == nullptr) return inst.seen(now_ms);
        const std::int64_t before = inst.last_seen_ms.exchange(now_ms, std::memory_order_relaxed);
        if (now_ms - before > observer_ttl_ms) observer->changed(name_of(inst));
    }
    void seen_at_least(instance& inst, std::int64_t t) noexcept {
        const std::int64_t before = inst.last_seen();
        inst.seen_at_least(t);
        if (observer != nullptr && t - before > observer_ttl_ms) observer->changed(name_of(inst));
    }

    slot_id find(std::string_view url, std::uint32_t hash) const noexcept {
        return table.find(*this, url, hash);
    }

    // --- member lists ---

    bool endpoint_less(slot_id a, slot_id b) const noexcept {
        const instance& x = slot(a);
        const instance& y = slot(b);
        const int c = x.host.compare(y.host.view());  // char_traits<char>: bytes unsigned
        if (c != 0) return c < 0;
        if (x.port != y.port) return x.port < y.port;
        // Rare (two URLs on one host and port), and then at most one of them is derived.
        if (x.url().empty() || y.url().empty()) return x.full_url() < y.full_url();
        return x.url() < y.url();
    }

    slot_id* position_in(member_list& members, slot_id s) const noexcept {
        return std::lower_bound(members.begin(), members.end(), s,
                                [this](slot_id a, slot_id b) { return endpoint_less(a, b); });
    }

    // The entry for `name`, created when missing, with room for one more member.
    std::pair<name_id, bool> prepare_name(std::string_view name) {
        const auto [id, created] = names.insert(name);
        try {
            names[id].members.reserve_one();
        } catch (...) {
            if (created) names.erase(id);
            throw;
        }
        if (created) ++names_generation;
        return {id, created};
    }

    void attach(slot_id s, name_id owner) noexcept {
        slot(s).owner = owner;
        member_list& members = names[owner].members;
        members.insert(position_in(members, s), s);  // room made by prepare_name
    }

    // Takes `s` out of its name's list, and the name out of the index when that leaves it
    // empty, unless it is `keep` (a move to another host under the same name).
    void detach(slot_id s, name_id keep = no_name) noexcept {
        const name_id owner = slot(s).owner;
        member_list& members = names[owner].members;
        members.erase(position_in(members, s));
        if (members.empty() && owner != keep) erase_name(owner);
    }

    // --- slots ---

    slot_id allocate() {
        if (free_head != no_slot) {
            const slot_id s = free_head;
            free_head = slot(s).hash;
            return s;
        }
        if (slot_count >= no_slot) throw std::length_error("servreg index: too many instances");
        if (slot_count == blocks.size() * block_size) {
            blocks.push_back(std::make_unique<instance[]>(block_size));
        }
        return static_cast<slot_id>(slot_count++);
    }

    void release(slot_id s) noexcept {
        instance& inst = slot(s);
        inst.host = {};  // give back a long host's memory
        inst.extra.reset();
        inst.owner = no_name;
        inst.live = false;
        inst.hash = free_head;
        free_head = s;
    }

    void forget(slot_id s) noexcept {
        table.erase(*this, s);
        --live_count;
        release(s);
    }

    // A new instance, not yet in any member list. Strong guarantee.
    slot_id add(const address& at, std::uint32_t hash, std::int64_t first_seen_ms,
                std::int64_t last_seen_ms) {
        return add(at.url, at.host, at.port, at.url_form, hash, first_seen_ms, last_seen_ms);
    }
    slot_id add(std::string_view at_url, std::string_view at_host, std::uint16_t port,
                bool url_form, std::uint32_t hash, std::int64_t first_seen_ms,
                std::int64_t last_seen_ms) {
        table.reserve_one(*this, live_count);
        const slot_id s = place(at_url, at_host, port, url_form, hash, first_seen_ms, last_seen_ms);
        table.insert(*this, s);
        return s;
    }
    // A new live slot, in no member list and not in the endpoint table. Strong guarantee.
    slot_id place(std::string_view at_url, std::string_view at_host, std::uint16_t port,
                  bool url_form, std::uint32_t hash, std::int64_t first_seen_ms,
                  std::int64_t last_seen_ms) {
        detail::compact_string url(is_url_of(at_url, at_host, port) ? std::string_view() : at_url);
        detail::compact_string host(at_host);
        auto spare = url.empty() ? nullptr : std::make_unique<rare>();
        const slot_id s = allocate();
        instance& inst = slot(s);
        inst.set_url(std::move(url), std::move(spare));  // cannot throw: made before
        inst.host = std::move(host);
        inst.port = port;
        inst.url_form = url_form;
        inst.drained = false;
        inst.drained_ms = 0;
        inst.confirmed.store(false, std::memory_order_relaxed);
        inst.hash = hash;
        inst.first_seen_ms = first_seen_ms;
        inst.seen(last_seen_ms);
        inst.live = true;
        ++live_count;
        return s;
    }

    // Sets the metadata a ping gave (null: keeps it); whether it changed.
    static bool set_meta(instance& inst, const metadata* m) {
        if (m == nullptr || inst.same_meta(m)) return false;
        inst.set_meta(m->empty() ? nullptr : std::make_unique<const metadata>(*m));
        return true;
    }

    // A committed ping, under the exclusive lock; the instance's slot.
    slot_id upsert(std::string_view name, const address& at, const metadata* meta,
                   std::uint32_t hash, std::int64_t now_ms) {
        if (const slot_id s = find(at.url, hash); s != no_slot) {
            instance& inst = slot(s);
            if (name_of(inst) != name || inst.host != at.host) {
                const bool renamed = name_of(inst) != name;
                move(s, name, at.host, renamed ? now_ms : inst.first_seen_ms, now_ms);
            } else {
                seen(inst, now_ms);
            }
            bool changed = set_meta(inst, meta);
            changed |= std::exchange(inst.url_form, at.url_form) != at.url_form;
            if (changed) bump(name);
            return s;
        }
        const slot_id s = insert(name, at, hash, now_ms, now_ms);
        set_meta(slot(s), meta);
        // What this process committed is newer than any deletion it heard of.
        if (!deletions.empty()) deletions.forget(at.url);
        return s;
    }

    // Gives instance `s` to another name, or another host (its place in the list changes).
    // Strong guarantee.
    void move(slot_id s, std::string_view name, std::string_view host, std::int64_t first_seen_ms,
              std::int64_t last_seen_ms) {
        instance& inst = slot(s);
        // The URL does not move with the host: one derived from the old host is kept whole.
        detail::compact_string kept_url(inst.url().empty() && inst.host != host
                                            ? url_of(inst.host.view(), inst.port)
                                            : std::string());
        auto spare = kept_url.empty() || inst.extra ? nullptr : std::make_unique<rare>();
        detail::compact_string new_host(host);
        const name_id owner = prepare_name(name).first;
        if (observer != nullptr) observer->changed(name_of(inst));  // it leaves
        detach(s, owner);
        if (!kept_url.empty()) inst.set_url(std::move(kept_url), std::move(spare));
        inst.host = std::move(new_host);
        attach(s, owner);
        inst.first_seen_ms = first_seen_ms;
        inst.seen(last_seen_ms);
        bump(name);
    }

    // A new instance. Strong guarantee.
    slot_id insert(std::string_view name, const address& at, std::uint32_t hash,
                   std::int64_t first_seen_ms, std::int64_t last_seen_ms) {
        const auto [owner, created] = prepare_name(name);
        slot_id s = no_slot;
        try {
            s = add(at, hash, first_seen_ms, last_seen_ms);
        } catch (...) {
            if (created) erase_name(owner);
            throw;
        }
        attach(s, owner);
        bump(name);
        return s;
    }

    // A row's attributes and times onto slot `s`, which holds the row's URL.
    void take_row(slot_id s, const storage::instance_row& row) {
        auto& inst = slot(s);
        inst.first_seen_ms = row.first_seen_ms;
        inst.seen(row.last_seen_ms);
        inst.url_form = row.url_form;
        inst.drained = row.drained;
        inst.drained_ms = row.changed_ms;
        inst.confirmed.store(false, std::memory_order_relaxed);  // read, not committed here
        // Written by servreg, so always readable; should it not be, the next ping with
        // metadata puts it right.
        auto m = row.meta.empty() ? std::nullopt : decode_metadata(row.meta);
        inst.set_meta(m && !m->empty() ? std::make_unique<const metadata>(std::move(*m)) : nullptr);
    }

    static address address_of_row(const storage::instance_row& row) {
        return {row.url.empty() ? url_of(row.host, row.port) : row.url, row.host, row.port,
                row.url_form};
    }

    // Removes live instance `s`.
    void remove(slot_id s) noexcept {
        if (observer != nullptr) observer->changed(name_of(slot(s)));
        detach(s);
        forget(s);
        generation.fetch_add(1, std::memory_order_release);
    }

    void erase_name(name_id id) noexcept {
        names.erase(id);
        ++names_generation;
    }

    // Trades instances, names and endpoints with `other` (not the deletions, the cache or the
    // observer).
    void swap_content(impl& other) noexcept {
        names.swap(other.names);
        blocks.swap(other.blocks);
        table.swap(other.table);
        std::swap(slot_count, other.slot_count);
        std::swap(free_head, other.free_head);
        std::swap(live_count, other.live_count);
    }

    void clear() noexcept {
        deletions.clear();
        names.clear();
        ++names_generation;
        blocks.clear();
        table.clear();
        slot_count = 0;
        free_head = no_slot;
        live_count = 0;
    }

    // Calls f(name, members) for every name the pattern matches, in name order. Each name is
    // tested once, only names starting with the literal prefix are visited, and a long scan's
    // matches are remembered until a name comes or goes.
    template <class F>
    void visit(const glob& pattern, F&& f) const {
        const std::string& prefix = pattern.literal_prefix();
        if (pattern.is_literal()) {
            if (const name_id id = names.find(prefix); id != no_name) {
                f(names[id].name.view(), names[id].members);
            }
            return;
        }
        if (const auto known = cache.remembered(pattern, names_generation)) {
            for (const name_entry* entry : *known) f(entry->name.view(), entry->members);
            return;
        }
        std::vector<const name_entry*> matched;
        std::size_t scanned = 0;
        bool keep = true;
        names.scan_from(prefix, [&](const name_entry& entry) {
            if (!entry.name.starts_with(prefix)) return false;
            ++scanned;
            if (!pattern.matches(entry.name.view())) return true;
            if (keep) {
                try {
                    matched.push_back(&entry);
                } catch (...) {
                    keep = false;  // out of memory: answer without remembering
                }
            }
            f(entry.name.view(), entry.members);
            return true;
        });
        if (keep && scanned >= detail::match_cache::min_scanned) {
            cache.remember(pattern, names_generation, std::move(matched));
        }
    }
};

}  // namespace servreg::registry
