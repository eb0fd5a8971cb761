// The index's service names, in order, each with its member list. Private to the index.
//
// A name is an entry of 32 bytes in fixed blocks, where it stays while it lives: instances
// name their service by a 32-bit id, and the match cache keeps pointers to entries. The order
// is kept apart, as ids in leaves of up to 255 under one sorted vector of leaves (a B+tree of
// two levels). At a million names this costs about 37 bytes a name, where a std::map node of
// the same key and list cost 80; a lookup compares about as many names as the map did.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <string_view>
#include <utility>
#include <vector>

#include "servreg/registry/compact_string.h"
#include "servreg/registry/member_list.h"

namespace servreg::registry::detail {

using name_id = std::uint32_t;
inline constexpr name_id no_name = std::numeric_limits<name_id>::max();

struct name_entry {
    compact_string name;
    member_list members;
};

class name_set {
public:
    name_set() = default;
    name_set(const name_set&) = delete;
    name_set& operator=(const name_set&) = delete;
    ~name_set() = default;

    name_entry& operator[](name_id id) noexcept {
        return blocks_[id >> block_bits][id & block_mask];
    }
    const name_entry& operator[](name_id id) const noexcept {
        return blocks_[id >> block_bits][id & block_mask];
    }

    std::size_t size() const noexcept { return size_; }
    bool empty() const noexcept { return size_ == 0; }

    // The id of `name`, or no_name.
    name_id find(std::string_view name) const noexcept { return found_at(lower_bound(name), name); }

    // The id of `name`, added with no members when missing (second: whether it was added).
    // Strong guarantee.
    std::pair<name_id, bool> insert(std::string_view name);

    // Adds `name`, greater than every name in the set, and returns its id (a load in order).
    name_id append(compact_string name);

    // Removes a name, whose member list must be empty; its id may be given out again.
    void erase(name_id id) noexcept;

    // Removes every name `pred(entry)` says to, in one pass; how many went.
    template <class Pred>
    std::size_t erase_if(Pred&& pred) noexcept {
        std::size_t removed = 0;
        std::size_t kept_leaves = 0;
        for (leaf_ref& ref : leaves_) {
            leaf& l = *ref.ids;
            std::uint32_t kept = 0;
            for (std::uint32_t i = 0; i < l.size; ++i) {
                if (pred((*this)[l.ids[i]])) {
                    release(l.ids[i]);
                    ++removed;
                } else {
                    l.ids[kept++] = l.ids[i];
                }
            }
            l.size = kept;
            if (kept == 0) continue;
            ref.first = l.ids[0];
            leaves_[kept_leaves++] = std::move(ref);
        }
        leaves_.erase(leaves_.begin() + static_cast<std::ptrdiff_t>(kept_leaves), leaves_.end());
        size_ -= removed;
        return removed;
    }

    // Calls f(entry) for each name not less than `from`, in order, until f returns false.
    template <class F>
    void scan_from(std::string_view from, F&& f) const {
        for (position p = lower_bound(from); p.leaf < leaves_.size(); ++p.leaf, p.at = 0) {
            const leaf& l = *leaves_[p.leaf].ids;
            for (; p.at < l.size; ++p.at) {
                if (!f((*this)[l.ids[p.at]])) return;
            }
        }
    }

    void clear() noexcept;
    void swap(name_set& other) noexcept;

    // Leaves in use, for tests of splits and merges.
    std::size_t leaf_count() const noexcept { return leaves_.size(); }

    static constexpr std::uint32_t leaf_capacity = 255;  // a leaf is 1 KiB

private:
    static constexpr std::size_t block_bits = 9;
    static constexpr std::size_t block_size = std::size_t{1} << block_bits;
    static constexpr std::size_t block_mask = block_size - 1;

    struct leaf {
        std::uint32_t size = 0;
        name_id ids[leaf_capacity];
    };
    struct leaf_ref {
        name_id first = no_name;  // ids->ids[0], read by the search over leaves
        std::unique_ptr<leaf> ids;
    };
    struct position {
        std::size_t leaf = 0;
        std::uint32_t at = 0;
    };

    // The first place whose name is not less than `name`, within the last leaf whose first
    // name is not greater (so at a leaf's end when the name falls between two leaves).
    position lower_bound(std::string_view name) const noexcept;
    // The id at `p` (lower_bound(name)) when it holds `name`, or no_name.
    name_id found_at(position p, std::string_view name) const noexcept {
        if (p.leaf == leaves_.size() || p.at == leaves_[p.leaf].ids->size) return no_name;
        const name_id id = leaves_[p.leaf].ids->ids[p.at];
        return (*this)[id].name == name ? id : no_name;
    }

    // A fresh entry holding `name`, not yet in any leaf. Strong guarantee.
    name_id allocate(compact_string name);
    void release(name_id id) noexcept;

    // Inserts `id` at `p`, splitting a full leaf; `spare` is a leaf to split into, made before
    // anything changed (null when p's leaf has room).
    void place(position p, name_id id, std::unique_ptr<leaf> spare) noexcept;
    // Room in `leaves_` for one more, grown geometrically.
    void reserve_leaf();
    // Moves leaf li + 1 into leaf li when both fit in half a leaf.
    void merge_next(std::size_t li) noexcept;

    std::vector<std::unique_ptr<name_entry[]>> blocks_;
    std::size_t entry_count_ = 0;  // entries handed out so far, live or free
    std::vector<name_id> free_;
    std::vector<leaf_ref> leaves_;
    std::size_t size_ = 0;
};

}  // namespace servreg::registry::detail
