// The index's endpoint table: URL to slot, for pings, unregisters and drains, which name an
// instance by its URL and not by its service. Private to the index.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

#include "servreg/registry/member_list.h"

namespace servreg::registry::detail {

inline std::uint32_t url_hash(std::string_view url) noexcept {
    std::uint64_t h = std::hash<std::string_view>{}(url);
    // splitmix64's finaliser: the table indexes by the low bits, which must all be mixed.
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 31;
    return static_cast<std::uint32_t>(h);
}

// Asks for the cache lines of the object at `p` ahead of its use: every line it spans.
template <class T>
inline void prefetch(const T* p) noexcept {
    const char* bytes = reinterpret_cast<const char*>(p);
    for (std::size_t at = 0; at < sizeof(T); at += 64) __builtin_prefetch(bytes + at);
    __builtin_prefetch(bytes + sizeof(T) - 1);
}

// Open addressing with linear probing, at most half full; holds slot ids or no_slot. The
// table stores only slot ids, 4 bytes an entry: URL and hash are read from the slots, through
// `slots.slot(s)`, which must give something with `has_url(url)` and `hash` (its URL's
// url_hash). Header-only so that the ping's lookup inlines as it did when the table was part
// of the index.
class endpoint_table {
public:
    template <class Slots>
    slot_id find(const Slots& slots, std::string_view url, std::uint32_t hash) const noexcept {
        if (table_.empty()) return no_slot;
        for (std::size_t pos = hash & mask();; pos = (pos + 1) & mask()) {
            const slot_id s = table_[pos];
            if (s == no_slot) return no_slot;
            const auto& inst = slots.slot(s);
            if (inst.hash == hash && inst.has_url(url)) return s;
        }
    }

    // For lookups in stages (index::mark_stored): fetches the entry where `hash`'s probe run
    // starts, and reads it (no_slot: the URL is not in the table).
    void prefetch(std::uint32_t hash) const noexcept {
        if (!table_.empty()) detail::prefetch(&table_[hash & mask()]);
    }
    slot_id first(std::uint32_t hash) const noexcept {
        return table_.empty() ? no_slot : table_[hash & mask()];
    }

    // Makes room for one more entry when `entries` are in the table, so that insert cannot
    // fail.
    template <class Slots>
    void reserve_one(const Slots& slots, std::size_t entries) {
        if ((entries + 1) * 2 <= table_.size()) return;
        rehash(slots, std::max<std::size_t>(64, table_.size() * 2));
    }

    // Makes room for `entries` in all, at once (a load of known size).
    template <class Slots>
    void reserve(const Slots& slots, std::size_t entries) {
        std::size_t size = 64;
        while (size < entries * 2) size *= 2;
        if (size > table_.size()) rehash(slots, size);
    }

    // Inserts `s`, or puts it in the place of an entry `same(entry, s)` says has its URL (which
    // then has its hash) and returns that entry; no_slot when there was none. Room must have
    // been made.
    template <class Slots, class Same>
    slot_id insert_or_replace(const Slots& slots, slot_id s, Same&& same) {
        const std::uint32_t hash = slots.slot(s).hash;
        std::size_t pos = hash & mask();
        for (; table_[pos] != no_slot; pos = (pos + 1) & mask()) {
            const slot_id e = table_[pos];
            if (slots.slot(e).hash == hash && same(e, s)) {
                table_[pos] = s;
                return e;
            }
        }
        table_[pos] = s;
        return no_slot;
    }

    template <class Slots>
    void insert(const Slots& slots, slot_id s) noexcept {
        std::size_t pos = slots.slot(s).hash & mask();
        while (table_[pos] != no_slot) pos = (pos + 1) & mask();
        table_[pos] = s;
    }

    template <class Slots>
    void erase(const Slots& slots, slot_id s) noexcept {
        std::size_t hole = slots.slot(s).hash & mask();
        while (table_[hole] != s) hole = (hole + 1) & mask();
        // Backward-shift deletion: pull later entries of the probe run into the hole unless
        // their home lies cyclically in (hole, pos], so that no tombstones accumulate.
        for (std::size_t pos = (hole + 1) & mask(); table_[pos] != no_slot;
             pos = (pos + 1) & mask()) {
            const std::size_t home = slots.slot(table_[pos]).hash & mask();
            const bool stays =
                hole <= pos ? (hole < home && home <= pos) : (hole < home || home <= pos);
            if (!stays) {
                table_[hole] = table_[pos];
                hole = pos;
            }
        }
        table_[hole] = no_slot;
    }

    void clear() noexcept { table_.clear(); }
    void swap(endpoint_table& other) noexcept { table_.swap(other.table_); }

    std::size_t capacity() const noexcept { return table_.size(); }

private:
    std::size_t mask() const noexcept { return table_.size() - 1; }

    // Moves every entry into a table of `size` slots (a power of two).
    template <class Slots>
    void rehash(const Slots& slots, std::size_t size) {
        std::vector<slot_id> bigger(size, no_slot);
        table_.swap(bigger);
        for (const slot_id s : bigger) {
            if (s != no_slot) insert(slots, s);
        }
    }

    std::vector<slot_id> table_;
};

}  // namespace servreg::registry::detail
