// Watching (SPEC 4.2): calls that wait until the answer of locate_service(pattern, meta)
// changes, held as callbacks rather than threads, woken by the index's changes and by
// expiries kept in time order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "servreg/registry/clock.h"
#include "servreg/registry/executor.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "servreg/registry/metadata.h"

namespace servreg::registry {

// An answer and its index: a positive integer that changes when, and only when, the answer
// changes, and only ever grows (see watch_index below).
struct watch_answer {
    std::uint64_t index = 0;
    // Shared by every watcher answered with it; never null in an answer.
    std::shared_ptr<const std::vector<endpoint>> instances;
};

// An index is the time of the change in Unix milliseconds, shifted left by index_digest_bits,
// with the low bits a digest of the answer. The time makes it grow across restarts and across
// processes without anything stored; the digest lets a process that never saw an index (after
// a restart, or another process behind the same load balancer) recognise that the answer a
// client holds is the current one, and keep the client's index instead of waking it.
namespace watch_index {
inline constexpr unsigned digest_bits = 22;
inline constexpr std::uint64_t digest_mask = (std::uint64_t{1} << digest_bits) - 1;
// A 64-bit hash of an answer, by which answers are compared, and its low digest_bits.
std::uint64_t hash(const std::vector<endpoint>& instances) noexcept;
std::uint64_t digest(const std::vector<endpoint>& instances) noexcept;
}  // namespace watch_index

class watch_hub final : public change_observer {
public:
    // Runs once, posted to the watcher's executor (or on the hub's thread when null).
    using answer_fn = std::function<void(watch_answer)>;
    using ticket = std::uint64_t;

    // Answers are idx.locate(pattern, now - ttl, meta): what locate_service answers.
    watch_hub(const index& idx, const clock& c, std::chrono::milliseconds ttl);
    ~watch_hub();
    watch_hub(const watch_hub&) = delete;
    watch_hub& operator=(const watch_hub&) = delete;

    // Starts the thread that wakes watchers (tests call run_due() instead).
    void start();

    // Answers the current answer of `pattern` and `filter` at once when `known` is not its
    // current index, `wait` is zero or the hub has stopped; otherwise once the answer changes
    // or `wait` has passed (then with the same index). Returns a ticket for cancel(), or 0
    // when answered at once.
    ticket watch(const glob& pattern, const metadata& filter, std::uint64_t known,
                 std::chrono::milliseconds wait, const executor* resume, answer_fn done);

    // Forgets a waiting call without answering it (its connection closed).
    void cancel(ticket t) noexcept;

    // Answers every waiting call now, and every later one at once; stops the thread.
    void stop();

    // Does what is due at the clock's now: answers changed since the last run are compared
    // and their watchers woken, expiries checked, waits that ran out answered. Returns when
    // something is due next (Unix ms; INT64_MAX for nothing but changes).
    std::int64_t run_due();

    std::size_t waiting() const;

    // change_observer: from the index, under its lock.
    void changed(std::string_view name) noexcept override;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace servreg::registry
