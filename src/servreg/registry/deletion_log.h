// The deletions the index remembers while it merges other processes' changes (index::merge,
// in index_merge.cpp): instances deleted lately, with the time of their deletion.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace servreg::registry::detail {

// Instances (by URL) deleted lately and absent from the index: a row another process read before
// the delete must not bring them back. Guarded by the index's lock.
class deletion_log {
public:
    // Keeps the later time when the URL is already remembered.
    void remember(std::string_view url, std::int64_t at_ms);

    void forget(std::string_view url);

    // The time the URL's instance was deleted, if that is remembered.
    std::optional<std::int64_t> deleted_at(std::string_view url) const;

    // Forgets the deletions older than cutoff_ms.
    void forget_before(std::int64_t cutoff_ms);

    bool empty() const noexcept { return deletions_.empty(); }
    void clear() noexcept { deletions_.clear(); }

private:
    std::map<std::string, std::int64_t, std::less<>> deletions_;
};

}  // namespace servreg::registry::detail
