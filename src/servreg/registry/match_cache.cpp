// The index's match cache: a long scan's matched names, kept for one names generation.
#include "servreg/registry/match_cache.h"

namespace servreg::registry::detail {

std::shared_ptr<const match_cache::matched_names> match_cache::remembered(
    const glob& pattern, std::uint64_t names_generation) {
    std::lock_guard guard(mutex_);
    if (names_generation_ != names_generation) return nullptr;
    const auto it = entries_.find(std::string_view(pattern.text()));
    return it == entries_.end() ? nullptr : it->second;
}

void match_cache::remember(const glob& pattern, std::uint64_t names_generation,
                           matched_names matched) noexcept {
    if (matched.size() > max_names) return;
    try {
        const std::size_t size = matched.size();
        auto entry = std::make_shared<const matched_names>(std::move(matched));
        std::lock_guard guard(mutex_);
        if (names_generation_ != names_generation || entries_.size() >= max_entries ||
            names_held_ + size > max_names) {
            entries_.clear();
            names_held_ = 0;
            names_generation_ = names_generation;
        }
        // Two readers may have scanned for the same pattern at once: the later one replaces.
        auto [it, added] = entries_.try_emplace(pattern.text(), entry);
        if (!added) {
            names_held_ -= it->second->size();
            it->second = std::move(entry);
        }
        names_held_ += size;
    } catch (...) {
        // Out of memory: the next call scans again.
    }
}

}  // namespace servreg::registry::detail
