// The in-memory registry. Instances live in fixed blocks of slots; an ordered map from name
// to the slots of that name (ordered by host, port) serves the scans, an open-addressing table
// from (host, port) to slot serves pings and unregisters.
#include "servreg/registry/index.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <limits>
#include <map>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace servreg::registry {

namespace {

using slot_id = std::uint32_t;
constexpr slot_id no_slot = std::numeric_limits<slot_id>::max();

// The slots of one name, ordered by (host, port). Most names have one or two instances, so
// those are stored inline: such a name costs its map node and nothing more.
class member_list {
public:
    member_list() noexcept : inline_{} {}
    member_list(member_list&& other) noexcept : size_(other.size_), capacity_(other.capacity_) {
        if (other.is_inline()) {
            std::copy_n(other.inline_, size_, inline_);
        } else {
            heap_ = other.heap_;
        }
        other.capacity_ = inline_capacity;
        other.size_ = 0;
    }
    member_list(const member_list&) = delete;
    member_list& operator=(const member_list&) = delete;
    member_list& operator=(member_list&&) = delete;
    ~member_list() {
        if (!is_inline()) delete[] heap_;
    }

    slot_id* begin() noexcept { return is_inline() ? inline_ : heap_; }
    slot_id* end() noexcept { return begin() + size_; }
    const slot_id* begin() const noexcept { return is_inline() ? inline_ : heap_; }
    const slot_id* end() const noexcept { return begin() + size_; }
    bool empty() const noexcept { return size_ == 0; }

    // Makes room for one more, so that insert cannot fail.
    void reserve_one() {
        if (size_ < capacity_) return;
        const std::uint32_t bigger = capacity_ * 2;
        auto* fresh = new slot_id[bigger];
        std::copy(begin(), end(), fresh);
        if (!is_inline()) delete[] heap_;
        heap_ = fresh;
        capacity_ = bigger;
    }
    void insert(slot_id* at, slot_id s) noexcept {
        std::copy_backward(at, end(), end() + 1);
        *at = s;
        ++size_;
    }
    void erase(slot_id* at) noexcept {
        std::copy(at + 1, end(), at);
        --size_;
    }
    void truncate(std::size_t n) noexcept { size_ = static_cast<std::uint32_t>(n); }

private:
    static constexpr std::uint32_t inline_capacity = 2;
    bool is_inline() const noexcept { return capacity_ == inline_capacity; }

    union {
        slot_id inline_[inline_capacity];
        slot_id* heap_;
    };
    std::uint32_t size_ = 0;
    std::uint32_t capacity_ = inline_capacity;
};

std::uint32_t endpoint_hash(std::string_view host, std::uint16_t port) noexcept {
    std::uint64_t h = std::hash<std::string_view>{}(host) ^ (port * 0x9E3779B97F4A7C15ull);
    // splitmix64's finaliser: the table indexes by the low bits, which must all be mixed.
    h ^= h >> 30;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 27;
    h *= 0x94D049BB133111EBull;
    h ^= h >> 31;
    return static_cast<std::uint32_t>(h);
}

// The key of an endpoint in the maps that only merging uses.
std::string endpoint_key(std::string_view host, std::uint16_t port) {
    std::string key;
    key.reserve(host.size() + 3);
    key.append(host);
    key.push_back('\0');  // hosts hold no control characters
    key.push_back(static_cast<char>(port >> 8));
    key.push_back(static_cast<char>(port & 0xff));
    return key;
}

}  // namespace

struct index::impl {
    using name_map = std::map<std::string, member_list, std::less<>>;
    using name_entry = name_map::value_type;

    // The names one pattern matched, as of names_generation. They point into the map: a name
    // leaves the map only with a new names_generation, and then the list is not used.
    using matched_names = std::vector<const name_entry*>;
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    // A pattern no prefix narrows (`*.42.*`) tests every name; what it matched stays true
    // until a name is added or removed, which is rare next to the locates: those patterns'
    // matches are remembered for the current names_generation. Bounded; emptied when full.
    static constexpr std::size_t cache_min_scanned = 64;  // cheaper scans are not remembered
    static constexpr std::size_t cache_max_entries = 256;
    static constexpr std::size_t cache_max_names = std::size_t{1} << 20;  // pointers, in all
    struct match_cache {
        std::mutex mutex;
        std::uint64_t names_generation = 0;  // of every entry
        std::unordered_map<std::string, std::shared_ptr<const matched_names>, string_hash,
                           std::equal_to<>>
            entries;
        std::size_t names_held = 0;
    };

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
    // Open addressing with linear probing, at most half full; holds slot ids or no_slot.
    std::vector<slot_id> table;
    std::atomic<std::uint64_t> generation{0};
    // Changes whenever a name enters or leaves `names` (under the exclusive lock).
    std::uint64_t names_generation = 0;
    mutable match_cache cache;
    // Endpoints deleted lately and absent from the index, with the time of their deletion:
    // a row read before the delete must not bring them back (see merge). Kept only while
    // another process's changes are merged.
    bool track_deletions = false;
    std::map<std::string, std::int64_t, std::less<>> deletions;

    instance& slot(slot_id s) noexcept { return blocks[s >> block_bits][s & (block_size - 1)]; }
    const instance& slot(slot_id s) const noexcept {
        return blocks[s >> block_bits][s & (block_size - 1)];
    }

    void bump() noexcept { generation.fetch_add(1, std::memory_order_release); }

    // --- endpoint table ---

    std::size_t mask() const noexcept { return table.size() - 1; }

    slot_id find(std::string_view host, std::uint16_t port, std::uint32_t hash) const noexcept {
        if (table.empty()) return no_slot;
        for (std::size_t pos = hash & mask();; pos = (pos + 1) & mask()) {
            const slot_id s = table[pos];
            if (s == no_slot) return no_slot;
            const instance& inst = slot(s);
            if (inst.hash == hash && inst.port == port && inst.host == host) return s;
        }
    }

    // Makes room for one more entry, so that table_insert cannot fail.
    void table_reserve_one() {
        if ((live_count + 1) * 2 <= table.size()) return;
        std::vector<slot_id> bigger(std::max<std::size_t>(64, table.size() * 2), no_slot);
        table.swap(bigger);
        for (const slot_id s : bigger) {
            if (s != no_slot) table_insert(s);
        }
    }

    void table_insert(slot_id s) noexcept {
        std::size_t pos = slot(s).hash & mask();
        while (table[pos] != no_slot) pos = (pos + 1) & mask();
        table[pos] = s;
    }

    void table_erase(slot_id s) noexcept {
        std::size_t hole = slot(s).hash & mask();
        while (table[hole] != s) hole = (hole + 1) & mask();
        // Backward-shift deletion: pull later entries of the probe run into the hole unless
        // their home lies cyclically in (hole, pos], so that no tombstones accumulate.
        for (std::size_t pos = (hole + 1) & mask(); table[pos] != no_slot;
             pos = (pos + 1) & mask()) {
            const std::size_t home = slot(table[pos]).hash & mask();
            const bool stays =
                hole <= pos ? (hole < home && home <= pos) : (hole < home || home <= pos);
            if (!stays) {
                table[hole] = table[pos];
                hole = pos;
            }
        }
        table[hole] = no_slot;
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
        table_erase(s);
        --live_count;
        release(s);
    }

    // A new instance, not yet in any member list. Strong guarantee.
    slot_id add(std::string host, std::uint16_t port, std::uint32_t hash,
                std::int64_t first_seen_ms, std::int64_t last_seen_ms) {
        table_reserve_one();
        const slot_id s = allocate();
        instance& inst = slot(s);
        inst.host = std::move(host);
        inst.port = port;
        inst.hash = hash;
        inst.first_seen_ms = first_seen_ms;
        inst.seen(last_seen_ms);
        inst.live = true;
        table_insert(s);
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
        if (!deletions.empty()) forget_deletion(host, port);
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

    // --- deletions (merging only) ---

    void remember_deletion(std::string_view host, std::uint16_t port, std::int64_t at_ms) {
        auto [it, added] = deletions.try_emplace(endpoint_key(host, port), at_ms);
        if (!added) it->second = std::max(it->second, at_ms);
    }

    void forget_deletion(std::string_view host, std::uint16_t port) {
        if (auto it = deletions.find(endpoint_key(host, port)); it != deletions.end()) {
            deletions.erase(it);
        }
    }

    // The time endpoint was deleted, if that is remembered.
    std::optional<std::int64_t> deleted_at(std::string_view host, std::uint16_t port) const {
        if (deletions.empty()) return std::nullopt;
        if (auto it = deletions.find(endpoint_key(host, port)); it != deletions.end()) {
            return it->second;
        }
        return std::nullopt;
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

    // Under the shared lock: what the pattern matched as of this names_generation, if that
    // is remembered.
    std::shared_ptr<const matched_names> remembered(const glob& pattern) const {
        std::lock_guard guard(cache.mutex);
        if (cache.names_generation != names_generation) return nullptr;
        const auto it = cache.entries.find(std::string_view(pattern.text()));
        return it == cache.entries.end() ? nullptr : it->second;
    }

    // Under the shared lock, so that names_generation is the one `matched` was computed at.
    void remember(const glob& pattern, std::vector<const name_entry*> matched) const noexcept {
        if (matched.size() > cache_max_names) return;
        try {
            const std::size_t size = matched.size();
            auto entry = std::make_shared<const matched_names>(std::move(matched));
            std::lock_guard guard(cache.mutex);
            if (cache.names_generation != names_generation ||
                cache.entries.size() >= cache_max_entries ||
                cache.names_held + size > cache_max_names) {
                cache.entries.clear();
                cache.names_held = 0;
                cache.names_generation = names_generation;
            }
            // Two readers may have scanned for the same pattern at once: the later one replaces.
            auto [it, added] = cache.entries.try_emplace(pattern.text(), entry);
            if (!added) {
                cache.names_held -= it->second->size();
                it->second = std::move(entry);
            }
            cache.names_held += size;
        } catch (...) {
            // Out of memory: the next call scans again.
        }
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
        if (const auto known = remembered(pattern)) {
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
        if (keep && scanned >= cache_min_scanned) remember(pattern, std::move(matched));
    }
};

index::index() : impl_(std::make_unique<impl>()) {}

index::~index() = default;

void index::reset(std::vector<storage::instance_row> rows) {
    impl& d = *impl_;
    std::unique_lock lock(d.mutex);
    d.clear();
    d.bump();
    try {
        // The database keys rows by endpoint; should one repeat, the later row wins.
        std::vector<slot_id> slot_of(rows.size());
        std::vector<std::uint32_t> winner;  // per slot, the row that fills it
        winner.reserve(rows.size());
        for (std::uint32_t i = 0; i < rows.size(); ++i) {
            auto& row = rows[i];
            const std::uint32_t hash = endpoint_hash(row.host, row.port);
            slot_id s = d.find(row.host, row.port, hash);
            if (s == no_slot) {
                s = d.add(std::move(row.host), row.port, hash, row.first_seen_ms, row.last_seen_ms);
                winner.push_back(i);
            } else {
                winner[s] = i;
            }
            slot_of[i] = s;
        }
        // One sort of the rows by name, host and port, comparing names where they lie in the
        // rows, then every name appended at the map's end and every member at its list's end:
        // cheaper than a map insertion per row and a sort of the slots through their names.
        std::vector<std::uint32_t> order;
        order.reserve(winner.size());
        for (const std::uint32_t i : winner) order.push_back(i);
        std::sort(order.begin(), order.end(), [&](std::uint32_t a, std::uint32_t b) {
            const int c = rows[a].name.compare(rows[b].name);
            return c < 0 || (c == 0 && d.endpoint_less(slot_of[a], slot_of[b]));
        });
        auto owner = d.names.end();
        for (const std::uint32_t i : order) {
            auto& row = rows[i];
            if (owner == d.names.end() || owner->first != row.name) {
                owner = d.names.emplace_hint(d.names.end(), std::move(row.name), member_list{});
            }
            const slot_id s = slot_of[i];
            auto& inst = d.slot(s);
            inst.owner = owner;
            inst.first_seen_ms = row.first_seen_ms;
            inst.seen(row.last_seen_ms);
            owner->second.reserve_one();
            owner->second.insert(owner->second.end(), s);
        }
    } catch (...) {
        d.clear();
        throw;
    }
}

void index::apply_ping(std::string_view name, std::string_view host, std::uint16_t port,
                       std::int64_t now_ms) {
    impl& d = *impl_;
    const std::uint32_t hash = endpoint_hash(host, port);
    {
        // The common case, a known instance pinging again, needs only the shared lock.
        std::shared_lock lock(d.mutex);
        if (const slot_id s = d.find(host, port, hash); s != no_slot) {
            auto& inst = d.slot(s);
            if (inst.owner->first == name) {
                inst.seen(now_ms);
                return;
            }
        }
    }
    std::unique_lock lock(d.mutex);
    d.upsert(name, host, port, hash, now_ms);
}

bool index::apply_unregister(std::string_view host, std::uint16_t port,
                             std::int64_t deleted_at_ms) {
    impl& d = *impl_;
    const std::uint32_t hash = endpoint_hash(host, port);
    std::unique_lock lock(d.mutex);
    const slot_id s = d.find(host, port, hash);
    if (s == no_slot) {
        if (d.track_deletions) d.remember_deletion(host, port, deleted_at_ms);
        return false;
    }
    // Remembered first: if that throws, nothing changed.
    if (d.track_deletions) {
        d.remember_deletion(host, port, std::max(deleted_at_ms, d.slot(s).last_seen()));
    }
    d.remove(s);
    return true;
}

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
            d.remember_deletion(t.host, t.port, t.deleted_at_ms);
            d.remove(s);
            ++stats.removed;
        } else {
            d.remember_deletion(t.host, t.port, t.deleted_at_ms);
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
        if (const auto deleted = d.deleted_at(row.host, row.port)) {
            const bool read_after_delete =
                !with_row.empty() && with_row.contains(endpoint_key(row.host, row.port));
            // A row as old as the deletion was read before it committed.
            if (*deleted >= row.last_seen_ms && !read_after_delete) continue;
            d.forget_deletion(row.host, row.port);
        }
        d.insert(row.name, row.host, row.port, hash, row.first_seen_ms, row.last_seen_ms);
        ++stats.inserted;
    }
    std::erase_if(d.deletions,
                  [&](const auto& entry) { return entry.second < forget_deletions_before_ms; });
    return stats;
}

std::size_t index::prune(std::int64_t cutoff_ms) {
    impl& d = *impl_;
    std::unique_lock lock(d.mutex);
    std::size_t removed = 0;
    for (auto it = d.names.begin(); it != d.names.end();) {
        auto& members = it->second;
        std::size_t kept = 0;
        for (slot_id* p = members.begin(); p != members.end(); ++p) {
            if (d.slot(*p).last_seen() < cutoff_ms) {
                d.forget(*p);
                ++removed;
            } else {
                members.begin()[kept++] = *p;
            }
        }
        members.truncate(kept);
        if (members.empty()) {
            it = d.names.erase(it);
            ++d.names_generation;
        } else {
            ++it;
        }
    }
    if (removed > 0) d.bump();
    return removed;
}

std::vector<endpoint> index::locate(const glob& pattern, std::int64_t alive_since_ms) const {
    const impl& d = *impl_;
    std::vector<endpoint> out;
    std::shared_lock lock(d.mutex);
    d.visit(pattern, [&](const std::string&, const member_list& members) {
        for (const slot_id s : members) {
            const auto& inst = d.slot(s);
            if (inst.last_seen() >= alive_since_ms) out.push_back({inst.host, inst.port});
        }
    });
    return out;
}

std::vector<storage::instance_row> index::list(const glob& pattern) const {
    const impl& d = *impl_;
    std::vector<storage::instance_row> out;
    std::shared_lock lock(d.mutex);
    d.visit(pattern, [&](const std::string& name, const member_list& members) {
        for (const slot_id s : members) {
            const auto& inst = d.slot(s);
            out.push_back({name, inst.host, inst.port, inst.first_seen_ms, inst.last_seen()});
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

}  // namespace servreg::registry
