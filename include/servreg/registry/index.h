// The registry in memory: every known instance, ordered by name, host and port, so that
// locate_service never touches the database and a literal prefix narrows the scan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/storage/store.h"

namespace servreg::registry {

struct endpoint {
    std::string host;
    std::uint16_t port = 0;
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

// Thread-safe: any number of readers, writers serialised. Holds only what was committed.
class index {
public:
    index();
    ~index();
    index(const index&) = delete;
    index& operator=(const index&) = delete;

    // Replaces the whole content (start-up).
    void reset(std::vector<storage::instance_row> rows);

    // A committed ping: inserts the instance, refreshes last_seen, or moves the endpoint to
    // a new name (first_seen restarts then).
    void apply_ping(std::string_view name, std::string_view host, std::uint16_t port,
                    std::int64_t now_ms);

    // A committed unregister. Returns whether the endpoint was known.
    bool apply_unregister(std::string_view host, std::uint16_t port);

    // Forgets instances whose last_seen_ms < cutoff_ms.
    std::size_t prune(std::int64_t cutoff_ms);

    // Instances with last_seen_ms >= alive_since_ms whose name matches, ordered by name,
    // host, port.
    std::vector<endpoint> locate(const glob& pattern, std::int64_t alive_since_ms) const;

    // Every instance whose name matches, alive or not, ordered by name, host, port.
    std::vector<storage::instance_row> list(const glob& pattern) const;

    struct counts {
        std::size_t alive = 0;
        std::size_t dead = 0;
    };
    counts count(std::int64_t alive_since_ms) const;

    std::size_t size() const;

    // Changes whenever an instance is added, moved or removed (not on a refresh of
    // last_seen): lets a reader cache what it computed from the same generation.
    std::uint64_t generation() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace servreg::registry
