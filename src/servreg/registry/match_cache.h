// The index's match cache: the names a long scan matched, per pattern, valid for one names
// generation. Private to the index; see "A locate, step by step" in docs/architecture.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/registry/name_set.h"

namespace servreg::registry::detail {

// A pattern no prefix narrows (`*.42.*`) tests every name; what it matched stays true until a
// name is added or removed, which is rare next to the locates: those patterns' matches are
// remembered for the current names generation. Bounded; emptied when full.
//
// Used under the index's shared lock, by any number of readers at once: its own mutex guards
// it. The generation passed in is the index's, read under that lock, so that a list is never
// used after a name it points to has left the map.
class match_cache {
public:
    // The names one pattern matched, as of a names generation. They point at the name set's
    // entries, which never move: a name leaves the set only with a new names generation, and
    // then the list is not used.
    using matched_names = std::vector<const name_entry*>;

    static constexpr std::size_t min_scanned = 64;  // cheaper scans are not remembered
    static constexpr std::size_t max_entries = 256;
    static constexpr std::size_t max_names = std::size_t{1} << 20;  // pointers, in all

    // What the pattern matched as of names_generation, if that is remembered.
    std::shared_ptr<const matched_names> remembered(const glob& pattern,
                                                    std::uint64_t names_generation);

    // Remembers what the pattern matched as of names_generation. Never throws: out of memory,
    // the next call scans again.
    void remember(const glob& pattern, std::uint64_t names_generation,
                  matched_names matched) noexcept;

private:
    struct string_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };

    std::mutex mutex_;
    std::uint64_t names_generation_ = 0;  // of every entry
    std::unordered_map<std::string, std::shared_ptr<const matched_names>, string_hash,
                       std::equal_to<>>
        entries_;
    std::size_t names_held_ = 0;
};

}  // namespace servreg::registry::detail
