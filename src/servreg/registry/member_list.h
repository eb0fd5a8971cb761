// The index's slot lists: for each service name, the slots of its instances, ordered by host
// and port. Private to the index.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <limits>

namespace servreg::registry::detail {

// An instance's place in the index's fixed blocks: 32 bits, half a pointer, per member.
using slot_id = std::uint32_t;
inline constexpr slot_id no_slot = std::numeric_limits<slot_id>::max();

// The slots of one name, ordered by (host, port). Most names have one or two instances, so
// those are stored inline: such a name costs its 16 bytes and nothing more.
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
    // Empty, and inline again.
    void clear() noexcept {
        if (!is_inline()) delete[] heap_;
        capacity_ = inline_capacity;
        size_ = 0;
    }

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

}  // namespace servreg::registry::detail
