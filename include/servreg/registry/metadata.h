// Instance metadata (SPEC section 4.1): string keys to string values, given with a ping and
// matched by locate_service's filter. Stored as a canonical JSON object.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace servreg::registry {

// Sorted by key, keys unique.
using metadata = std::vector<std::pair<std::string, std::string>>;

inline constexpr std::size_t max_meta_keys = 32;
inline constexpr std::size_t max_meta_key_length = 64;
inline constexpr std::size_t max_meta_value_length = 512;
// Of the keys and values together, in bytes.
inline constexpr std::size_t max_meta_size = 4096;

// Why `key` cannot be a metadata key (1 to 64 characters of [A-Za-z0-9_.-]), or nothing.
std::optional<std::string> check_meta_key(std::string_view key);

// Sorts `entries` by key (the last of equal keys wins) and checks every limit; why not, or
// nothing. `what` names the parameter in the reason ("meta").
std::optional<std::string> normalize_metadata(metadata& entries, std::string_view what);

// Whether `have` holds every key of `filter` with the same value.
bool matches(const metadata& have, const metadata& filter) noexcept;

// The canonical JSON object text ({"k":"v",...}, keys in order, only \" \\ and control
// characters escaped), and back. decode_metadata reads any JSON object of strings; nothing
// when the text is not one.
std::string encode_metadata(const metadata& entries);
std::optional<metadata> decode_metadata(std::string_view json);

}  // namespace servreg::registry
