// The daemon's metrics for GET /metrics: relaxed atomic counters and fixed-bucket histograms,
// rendered in the Prometheus text format. Standard library only; every label set is fixed.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/http/server.h"

namespace servreg::http {

// A latency histogram with fixed buckets, observed from any thread without a lock.
class duration_histogram {
public:
    // Upper bounds in seconds, as Prometheus shows them in `le`, and in nanoseconds.
    static constexpr std::array<std::string_view, 18> bucket_labels{
        "0.000025", "0.00005", "0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01",
        "0.025",    "0.05",    "0.1",    "0.25",    "0.5",    "1",     "2.5",    "5",     "10"};
    static constexpr std::array<std::int64_t, 18> bucket_bounds_ns{
        25'000,      50'000,      100'000,       250'000,       500'000,       1'000'000,
        2'500'000,   5'000'000,   10'000'000,    25'000'000,    50'000'000,    100'000'000,
        250'000'000, 500'000'000, 1'000'000'000, 2'500'000'000, 5'000'000'000, 10'000'000'000};

    void observe(std::chrono::nanoseconds d) noexcept;

    struct snapshot {
        std::array<std::uint64_t, bucket_bounds_ns.size() + 1> cumulative{};  // last: +Inf
        std::uint64_t count = 0;
        double sum_seconds = 0;
    };
    snapshot read() const noexcept;

private:
    // Per bucket, not cumulative: one increment per observation. The last one is +Inf.
    std::array<std::atomic<std::uint64_t>, bucket_bounds_ns.size() + 1> buckets_{};
    std::atomic<std::uint64_t> sum_ns_{0};
};

struct service_alive {
    std::string name;
    std::size_t alive = 0;  // 0 when every instance of the service is dead
};

// What a scrape reads from the rest of the daemon at that moment.
struct live_values {
    std::size_t alive = 0;
    std::size_t dead = 0;
    connection_stats connections;
    bool database_up = true;
    std::vector<service_alive> services;  // every known service name, in order
    std::size_t watching = 0;  // watch_service calls and event streams waiting for a change
};

class metrics {
public:
    // The `method` label's values; any other method name counts as "other", and a request that
    // was not a call at all (parse error, invalid request) as "invalid".
    // watch_service's duration includes its wait.
    static constexpr std::array<std::string_view, 10> methods{
        "ping",    "locate_service", "watch_service",     "unregister", "drain",
        "undrain", "list_services",  "get_service_specs", "other",      "invalid"};
    // The `code` label's values: 0 for success, else the JSON-RPC error code.
    static constexpr std::array<int, 8> codes{0,      -32700, -32600, -32601,
                                              -32602, -32603, -32000, -32001};

    explicit metrics(std::string version);
    metrics(const metrics&) = delete;
    metrics& operator=(const metrics&) = delete;

    // One JSON-RPC call answered (the dispatcher's call_observer). Never blocks.
    void record_call(std::string_view method, int code, std::chrono::nanoseconds d) noexcept;

    // One transaction of the storage writer (its on_commit hook). Never blocks.
    void record_commit(std::chrono::nanoseconds d, std::size_t writes, bool ok) noexcept;

    // Database calls aborted at their deadline, and lost connections replaced (the storage
    // watchdog's hooks). Never block.
    void record_db_timeout() noexcept;
    void record_db_reconnect() noexcept;

    // The instances given the restart grace at start-up, shown until the grace ends.
    void set_restart_grace(std::size_t instances,
                           std::chrono::steady_clock::time_point until) noexcept;

    // The whole exposition, in the Prometheus text format 0.0.4.
    std::string render(const live_values& live) const;

    // Services beyond this many get no servreg_service_alive_instances series: the registry's
    // content bounds that metric, and this bounds a scrape of a huge registry.
    static constexpr std::size_t max_service_series = 10'000;

    // The Content-Type of render()'s text.
    static constexpr std::string_view content_type = "text/plain; version=0.0.4; charset=utf-8";

private:
    static std::size_t method_slot(std::string_view method) noexcept;
    static std::size_t code_slot(int code) noexcept;

    std::string version_;
    // [method][code]; the last code slot counts codes outside `codes`.
    std::array<std::array<std::atomic<std::uint64_t>, codes.size() + 1>, methods.size()> calls_{};
    std::array<duration_histogram, methods.size()> call_durations_;
    duration_histogram commit_durations_;
    std::atomic<std::uint64_t> commits_failed_{0};
    std::atomic<std::uint64_t> writes_committed_{0};
    std::atomic<std::uint64_t> db_timeouts_{0};
    std::atomic<std::uint64_t> db_reconnects_{0};
    std::atomic<std::uint64_t> grace_instances_{0};
    std::atomic<std::chrono::steady_clock::rep> grace_until_{0};  // steady_clock ticks
};

}  // namespace servreg::http
