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

namespace servreg::registry {

using detail::member_list;
using detail::no_slot;
using detail::slot_id;

struct index::impl {
    using name_map = detail::name_map;
    using name_entry = detail::name_entry;

    struct instance {
        std::string host;
        name_map::iterator owner{};  // valid while live
        std::int64_t first_seen_ms = 0;
        // Refreshed under the shared lock; the lock orders everything else.
        std::atomic<std::int64_t> last_seen_ms{0};
        std::uint32_t hash = 0;  // endpoint_hash while live, next free slot otherwise
        std::uint16_t port = 0;
        bool live = false;

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

    mutable std::shared_mutex mutex;
    name_map names;
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

    void bump() noexcept { generation.fetch_add(1, std::memory_order_release); }

    slot_id find(std::string_view host, std::uint16_t port, std::uint32_t hash) const noexcept {
        return table.find(*this, host, port, hash);
    }

    // --- member lists ---

    bool endpoint_less(slot_id a, slot_id b) const noexcept {
        const instance& x = slot(a);
        const instance& y = slot(b);
        const int c = x.host.compare(y.host);  // char_traits<char> compares bytes unsigned
        return c < 0 || (c == 0 && x.port < y.port);
    }

    slot_id* position_in(member_list& members, slot_id s) const noexcept {
        return std::lower_bound(members.begin(), members.end(), s,
                                [this](slot_id a, slot_id b) { return endpoint_less(a, b); });
    }

    // The node for `name`, created when missing, with room for one more member.
    std::pair<name_map::iterator, bool> prepare_name(std::string_view name) {
        auto it = names.lower_bound(name);
        bool created = false;
        if (it == names.end() || it->first != name) {
            it = names.emplace_hint(it, std::string(name), member_list{});
            created = true;
            ++names_generation;
        }
        try {
            it->second.reserve_one();
        } catch (...) {
            if (created) names.erase(it);
            throw;
        }
        return {it, created};
    }

    void attach(slot_id s, name_map::iterator owner) noexcept {
        slot(s).owner = owner;
        owner->second.insert(position_in(owner->second, s), s);  // room made by prepare_name
    }

    void detach(slot_id s) noexcept {
        const auto owner = slot(s).owner;
        owner->second.erase(position_in(owner->second, s));
        if (owner->second.empty()) erase_name(owner);
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
        std::string().swap(inst.host);  // give back a long host's memory
        inst.owner = {};
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
    slot_id add(std::string host, std::uint16_t port, std::uint32_t hash,
                std::int64_t first_seen_ms, std::int64_t last_seen_ms) {
        table.reserve_one(*this, live_count);
        const slot_id s = allocate();
        instance& inst = slot(s);
        inst.host = std::move(host);
        inst.port = port;
        inst.hash = hash;
        inst.first_seen_ms = first_seen_ms;
        inst.seen(last_seen_ms);
        inst.live = true;
        table.insert(*this, s);
        ++live_count;
        return s;
    }

    // A committed ping, under the exclusive lock.
    void upsert(std::string_view name, std::string_view host, std::uint16_t port,
                std::uint32_t hash, std::int64_t now_ms) {
        if (const slot_id s = find(host, port, hash); s != no_slot) {
            instance& inst = slot(s);
            if (inst.owner->first == name) {
                inst.seen(now_ms);
                return;
            }
            move(s, name, now_ms, now_ms);
            return;
        }
        insert(name, host, port, hash, now_ms, now_ms);
        // What this process committed is newer than any deletion it heard of.
        if (!deletions.empty()) deletions.forget(host, port);
    }

    // Gives instance `s` to another name. Strong guarantee.
    void move(slot_id s, std::string_view name, std::int64_t first_seen_ms,
              std::int64_t last_seen_ms) {
        instance& inst = slot(s);
        const auto owner = prepare_name(name).first;
        detach(s);
        attach(s, owner);
        inst.first_seen_ms = first_seen_ms;
        inst.seen(last_seen_ms);
        bump();
    }

    // A new instance. Strong guarantee.
    void insert(std::string_view name, std::string_view host, std::uint16_t port,
                std::uint32_t hash, std::int64_t first_seen_ms, std::int64_t last_seen_ms) {
        const auto [owner, created] = prepare_name(name);
        try {
            attach(add(std::string(host), port, hash, first_seen_ms, last_seen_ms), owner);
        } catch (...) {
            if (created) names.erase(owner);
            throw;
        }
        bump();
    }

    // Removes live instance `s`.
    void remove(slot_id s) noexcept {
        detach(s);
        forget(s);
        bump();
    }

    void erase_name(name_map::iterator it) noexcept {
        names.erase(it);
        ++names_generation;
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
            if (const auto it = names.find(prefix); it != names.end()) f(it->first, it->second);
            return;
        }
        if (const auto known = cache.remembered(pattern, names_generation)) {
            for (const name_entry* entry : *known) f(entry->first, entry->second);
            return;
        }
        std::vector<const name_entry*> matched;
        std::size_t scanned = 0;
        bool keep = true;
        for (auto it = names.lower_bound(prefix);
             it != names.end() && it->first.starts_with(prefix); ++it) {
            ++scanned;
            if (!pattern.matches(it->first)) continue;
            if (keep) {
                try {
                    matched.push_back(&*it);
                } catch (...) {
                    keep = false;  // out of memory: answer without remembering
                }
            }
            f(it->first, it->second);
        }
        if (keep && scanned >= detail::match_cache::min_scanned) {
            cache.remember(pattern, names_generation, std::move(matched));
        }
    }
};

}  // namespace servreg::registry
