// The registry's methods: validated calls in, durable writes through the group-commit
// writer, reads from the in-memory index.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "servreg/registry/clock.h"
#include "servreg/registry/executor.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "servreg/storage/writer.h"

namespace servreg::registry {

struct listed_instance {
    storage::instance_row row;
    bool alive = false;
};

class service {
public:
    // `done` runs once, after the write committed (and the index shows it) or failed, posted
    // to `resume`, or on the writer thread when `resume` is null; `storage_error` holds the
    // reason when it failed.
    using ping_done = std::function<void(std::optional<std::string> storage_error)>;
    using unregister_done =
        std::function<void(std::optional<std::string> storage_error, bool existed)>;

    service(index& idx, storage::writer& w, const clock& c, std::chrono::seconds ttl);

    // Arguments are already validated (validation.h).
    void ping(std::string name, std::string host, std::uint16_t port, ping_done done,
              const executor* resume = nullptr);
    void unregister(std::string host, std::uint16_t port, unregister_done done,
                    const executor* resume = nullptr);

    std::vector<endpoint> locate(const glob& pattern) const;
    std::vector<listed_instance> list(const glob& pattern) const;
    index::counts counts() const;

    std::chrono::seconds ttl() const noexcept { return ttl_; }
    const clock& time() const noexcept { return clock_; }
    storage::health health() const { return writer_.current_health(); }

private:
    std::int64_t alive_since() const noexcept;
    // A write of `kind` at the clock's now.
    storage::write_op make_write(storage::write_op::kind_t kind, std::string name, std::string host,
                                 std::uint16_t port) const;

    index& index_;
    storage::writer& writer_;
    const clock& clock_;
    std::chrono::seconds ttl_;
};

}  // namespace servreg::registry
