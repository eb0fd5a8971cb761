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
    // "alive", "dead" or "draining" (alive but drained; a dead instance is "dead", drained or
    // not).
    std::string_view state() const noexcept {
        return !alive ? "dead" : row.drained ? "draining" : "alive";
    }
};

class service {
public:
    // `done` runs once, after the write committed (and the index shows it) or failed, posted
    // to `resume`, or on the writer thread when `resume` is null; `storage_error` holds the
    // reason when it failed.
    using ping_done = std::function<void(std::optional<std::string> storage_error)>;
    // For unregister, drain and undrain: whether the instance was known.
    using unregister_done =
        std::function<void(std::optional<std::string> storage_error, bool existed)>;

    service(index& idx, storage::writer& w, const clock& c, std::chrono::seconds ttl);

    // Arguments are already validated (validation.h).
    // `meta`: what to store (and replace), or none to keep what is stored.
    void ping(std::string name, address at, std::optional<metadata> meta, ping_done done,
              const executor* resume = nullptr);
    void ping(std::string name, std::string host, std::uint16_t port, ping_done done,
              const executor* resume = nullptr);
    void unregister(std::string url, unregister_done done, const executor* resume = nullptr);
    void unregister(std::string host, std::uint16_t port, unregister_done done,
                    const executor* resume = nullptr);
    // Drains (`drained`) or undrains the instance at `url`.
    void drain(std::string url, bool drained, unregister_done done,
               const executor* resume = nullptr);

    // `filter`: the metadata every instance answered must hold (null: any).
    std::vector<endpoint> locate(const glob& pattern, const metadata* filter = nullptr) const;
    std::vector<listed_instance> list(const glob& pattern) const;
    index::counts counts() const;

    std::chrono::seconds ttl() const noexcept { return ttl_; }
    const clock& time() const noexcept { return clock_; }
    storage::health health() const { return writer_.current_health(); }

private:
    std::int64_t alive_since() const noexcept;
    // A write of `kind` to the instance at `url`, at the clock's now.
    storage::write_op make_write(storage::write_op::kind_t kind, std::string url) const;
    // Submits a write whose completion reports whether the instance existed; `apply` brings
    // the committed write into the index.
    void submit_known(storage::write_op op, void (*apply)(index&, const storage::write_op&),
                      unregister_done done, const executor* resume);

    index& index_;
    storage::writer& writer_;
    const clock& clock_;
    std::chrono::seconds ttl_;
};

}  // namespace servreg::registry
