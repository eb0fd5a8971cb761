// A string in 16 bytes rather than std::string's 32, for the texts the index keeps a million
// of (names, hosts, URLs): up to 15 bytes inline, a longer one in a heap block of its own
// size. Private to the index.
#pragma once

#include <compare>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <utility>

namespace servreg::registry::detail {

class compact_string {
public:
    static constexpr std::size_t inline_capacity = 15;

    compact_string() noexcept { bytes_[tag_at] = 0; }
    explicit compact_string(std::string_view s) { set(s); }
    compact_string(compact_string&& other) noexcept {
        std::memcpy(bytes_, other.bytes_, sizeof bytes_);
        other.bytes_[tag_at] = 0;
    }
    compact_string& operator=(compact_string&& other) noexcept {
        if (this != &other) {
            release();
            std::memcpy(bytes_, other.bytes_, sizeof bytes_);
            other.bytes_[tag_at] = 0;
        }
        return *this;
    }
    compact_string(const compact_string&) = delete;
    compact_string& operator=(const compact_string&) = delete;
    ~compact_string() { release(); }

    // Strong guarantee.
    void assign(std::string_view s) {
        compact_string fresh(s);
        *this = std::move(fresh);
    }

    std::string_view view() const noexcept {
        if (!on_heap()) return {reinterpret_cast<const char*>(bytes_), bytes_[tag_at]};
        return {heap_data(), heap_size()};
    }
    std::size_t size() const noexcept { return on_heap() ? heap_size() : bytes_[tag_at]; }
    bool empty() const noexcept { return size() == 0; }
    bool starts_with(std::string_view prefix) const noexcept { return view().starts_with(prefix); }
    int compare(std::string_view other) const noexcept { return view().compare(other); }

    friend bool operator==(const compact_string& a, const compact_string& b) noexcept {
        return a.view() == b.view();
    }
    friend std::strong_ordering operator<=>(const compact_string& a,
                                            const compact_string& b) noexcept {
        return a.view() <=> b.view();
    }
    friend bool operator==(const compact_string& a, std::string_view b) noexcept {
        return a.view() == b;
    }
    friend std::strong_ordering operator<=>(const compact_string& a, std::string_view b) noexcept {
        return a.view() <=> b;
    }

private:
    // Inline: the text in bytes 0-14 and its size in byte 15. On the heap: the block's address
    // in bytes 0-7, the size in bytes 8-11 and heap_tag in byte 15.
    static constexpr std::size_t tag_at = 15;
    static constexpr unsigned char heap_tag = 0xff;

    bool on_heap() const noexcept { return bytes_[tag_at] == heap_tag; }
    const char* heap_data() const noexcept {
        const char* p = nullptr;
        std::memcpy(&p, bytes_, sizeof p);
        return p;
    }
    std::uint32_t heap_size() const noexcept {
        std::uint32_t n = 0;
        std::memcpy(&n, bytes_ + sizeof(char*), sizeof n);
        return n;
    }

    void set(std::string_view s) {
        if (s.size() <= inline_capacity) {
            if (!s.empty()) std::memcpy(bytes_, s.data(), s.size());
            bytes_[tag_at] = static_cast<unsigned char>(s.size());
            return;
        }
        if (s.size() > UINT32_MAX) throw std::bad_alloc();
        char* p = new char[s.size()];
        std::memcpy(p, s.data(), s.size());
        const auto n = static_cast<std::uint32_t>(s.size());
        std::memcpy(bytes_, &p, sizeof p);
        std::memcpy(bytes_ + sizeof p, &n, sizeof n);
        bytes_[tag_at] = heap_tag;
    }
    void release() noexcept {
        if (on_heap()) delete[] heap_data();
        bytes_[tag_at] = 0;
    }

    alignas(8) unsigned char bytes_[16];
};

static_assert(sizeof(compact_string) == 16);

}  // namespace servreg::registry::detail
