// The index's ordered service names: the search over leaves, insertion with its split, erasure
// with its merge, and the entries' free list.
#include "servreg/registry/name_set.h"

#include <algorithm>
#include <stdexcept>

namespace servreg::registry::detail {

name_set::position name_set::lower_bound(std::string_view name) const noexcept {
    if (leaves_.empty()) return {};
    const auto after = std::upper_bound(
        leaves_.begin(), leaves_.end(), name,
        [this](std::string_view n, const leaf_ref& r) { return n < (*this)[r.first].name.view(); });
    const std::size_t li =
        after == leaves_.begin() ? 0 : static_cast<std::size_t>(after - leaves_.begin()) - 1;
    const leaf& l = *leaves_[li].ids;
    const name_id* at = std::lower_bound(
        l.ids, l.ids + l.size, name,
        [this](name_id id, std::string_view n) { return (*this)[id].name.view() < n; });
    return {li, static_cast<std::uint32_t>(at - l.ids)};
}

std::pair<name_id, bool> name_set::insert(std::string_view name) {
    const position p = lower_bound(name);
    if (const name_id known = found_at(p, name); known != no_name) return {known, false};
    // Everything that can throw comes first: the text, a leaf to split into, the room to list
    // it, and the entry.
    compact_string text(name);
    std::unique_ptr<leaf> spare;
    if (leaves_.empty() || leaves_[p.leaf].ids->size == leaf_capacity) {
        spare = std::make_unique<leaf>();
        reserve_leaf();
    }
    const name_id id = allocate(std::move(text));
    place(p, id, std::move(spare));
    ++size_;
    return {id, true};
}

name_id name_set::append(compact_string name) {
    const bool full = leaves_.empty() || leaves_.back().ids->size == leaf_capacity;
    std::unique_ptr<leaf> fresh;
    if (full) {
        fresh = std::make_unique<leaf>();
        reserve_leaf();
    }
    const name_id id = allocate(std::move(name));
    if (full) leaves_.push_back({id, std::move(fresh)});  // room reserved: cannot throw
    leaf& l = *leaves_.back().ids;
    l.ids[l.size++] = id;
    ++size_;
    return id;
}

void name_set::erase(name_id id) noexcept {
    const position p = lower_bound((*this)[id].name.view());
    leaf& l = *leaves_[p.leaf].ids;
    std::copy(l.ids + p.at + 1, l.ids + l.size, l.ids + p.at);
    --l.size;
    --size_;
    release(id);
    if (l.size == 0) {
        leaves_.erase(leaves_.begin() + static_cast<std::ptrdiff_t>(p.leaf));
        return;
    }
    leaves_[p.leaf].first = l.ids[0];
    // Neighbours that together fill at most half a leaf become one, so that erasing most names
    // gives their leaves back.
    merge_next(p.leaf);
    if (p.leaf > 0) merge_next(p.leaf - 1);
}

void name_set::merge_next(std::size_t li) noexcept {
    if (li + 1 >= leaves_.size()) return;
    leaf& a = *leaves_[li].ids;
    const leaf& b = *leaves_[li + 1].ids;
    if (a.size + b.size > leaf_capacity / 2) return;
    std::copy(b.ids, b.ids + b.size, a.ids + a.size);
    a.size += b.size;
    leaves_.erase(leaves_.begin() + static_cast<std::ptrdiff_t>(li) + 1);
}

void name_set::place(position p, name_id id, std::unique_ptr<leaf> spare) noexcept {
    if (leaves_.empty()) {
        spare->ids[0] = id;
        spare->size = 1;
        leaves_.push_back({id, std::move(spare)});  // room reserved: cannot throw
        return;
    }
    leaf* l = leaves_[p.leaf].ids.get();
    if (l->size == leaf_capacity) {
        constexpr std::uint32_t half = leaf_capacity / 2;
        std::copy(l->ids + half, l->ids + l->size, spare->ids);
        spare->size = l->size - half;
        l->size = half;
        const name_id first = spare->ids[0];
        leaves_.insert(leaves_.begin() + static_cast<std::ptrdiff_t>(p.leaf) + 1,
                       leaf_ref{first, std::move(spare)});  // room reserved: cannot throw
        if (p.at > half) {
            ++p.leaf;
            p.at -= half;
            l = leaves_[p.leaf].ids.get();
        }
    }
    std::copy_backward(l->ids + p.at, l->ids + l->size, l->ids + l->size + 1);
    l->ids[p.at] = id;
    ++l->size;
    leaves_[p.leaf].first = l->ids[0];
}

void name_set::reserve_leaf() {
    if (leaves_.size() < leaves_.capacity()) return;
    leaves_.reserve(std::max<std::size_t>(16, leaves_.capacity() * 2));
}

name_id name_set::allocate(compact_string name) {
    name_id id = no_name;
    if (!free_.empty()) {
        id = free_.back();
        free_.pop_back();
    } else {
        if (entry_count_ >= no_name) throw std::length_error("servreg index: too many names");
        if (entry_count_ == blocks_.size() * block_size) {
            blocks_.push_back(std::make_unique<name_entry[]>(block_size));
        }
        id = static_cast<name_id>(entry_count_++);
    }
    (*this)[id].name = std::move(name);
    return id;
}

void name_set::release(name_id id) noexcept {
    name_entry& e = (*this)[id];
    e.name = {};
    e.members.clear();
    try {
        free_.push_back(id);
    } catch (...) {
        // Out of memory: this entry is not given out again, and nothing else is lost.
    }
}

void name_set::clear() noexcept {
    name_set empty;
    swap(empty);
}

void name_set::swap(name_set& other) noexcept {
    blocks_.swap(other.blocks_);
    std::swap(entry_count_, other.entry_count_);
    free_.swap(other.free_);
    leaves_.swap(other.leaves_);
    std::swap(size_, other.size_);
}

}  // namespace servreg::registry::detail
