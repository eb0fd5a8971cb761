// Metric updates are single relaxed increments, so that the request path pays no lock; a
// scrape reads them all and writes the Prometheus text format.
#include "servreg/http/metrics.h"

#include <algorithm>
#include <charconv>
#include <utility>

namespace servreg::http {
namespace {

constexpr auto relaxed = std::memory_order_relaxed;

void append_number(std::string& out, std::uint64_t v) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

void append_number(std::string& out, double v) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
}

// The length of the valid UTF-8 sequence at the start of `s`, or 0.
std::size_t utf8_sequence(std::string_view s) noexcept {
    const auto b = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
    const auto continuation = [&](std::size_t i) { return i < s.size() && (b(i) & 0xc0) == 0x80; };
    if (b(0) < 0x80) return 1;
    if (b(0) >= 0xc2 && b(0) <= 0xdf) return continuation(1) ? 2 : 0;
    if (b(0) >= 0xe0 && b(0) <= 0xef) {
        if (!continuation(1) || !continuation(2)) return 0;
        if (b(0) == 0xe0 && b(1) < 0xa0) return 0;   // overlong
        if (b(0) == 0xed && b(1) >= 0xa0) return 0;  // surrogate
        return 3;
    }
    if (b(0) >= 0xf0 && b(0) <= 0xf4) {
        if (!continuation(1) || !continuation(2) || !continuation(3)) return 0;
        if (b(0) == 0xf0 && b(1) < 0x90) return 0;
        if (b(0) == 0xf4 && b(1) >= 0x90) return 0;
        return 4;
    }
    return 0;
}

// A label value: backslash, double quote and newline are escaped (text format 0.0.4), and
// bytes that are not UTF-8, which Prometheus refuses, become U+FFFD.
void append_label_value(std::string& out, std::string_view s) {
    out += '"';
    while (!s.empty()) {
        const std::size_t n = utf8_sequence(s);
        if (n == 0) {
            out += "\xef\xbf\xbd";
            s.remove_prefix(1);
            continue;
        }
        if (n > 1) {
            out += s.substr(0, n);
            s.remove_prefix(n);
            continue;
        }
        const char c = s.front();
        s.remove_prefix(1);
        if (c == '\\' || c == '"') {
            out += '\\';
            out += c;
        } else if (c == '\n') {
            out += "\\n";
        } else {
            out += c;
        }
    }
    out += '"';
}

void append_header(std::string& out, std::string_view name, std::string_view type,
                   std::string_view help) {
    out += "# HELP ";
    out += name;
    out += ' ';
    out += help;
    out += "\n# TYPE ";
    out += name;
    out += ' ';
    out += type;
    out += '\n';
}

template <typename T>
void append_sample(std::string& out, std::string_view name, std::string_view labels, T value) {
    out += name;
    if (!labels.empty()) {
        out += '{';
        out += labels;
        out += '}';
    }
    out += ' ';
    append_number(out, value);
    out += '\n';
}

// `labels` are the histogram's own labels ("method=\"ping\"") or empty.
void append_histogram(std::string& out, std::string_view name, std::string_view labels,
                      const duration_histogram::snapshot& s) {
    const std::string bucket = std::string(name) + "_bucket";
    const std::string prefix = labels.empty() ? std::string() : std::string(labels) + ",";
    for (std::size_t i = 0; i < duration_histogram::bucket_labels.size(); ++i) {
        append_sample(out, bucket,
                      prefix + "le=\"" + std::string(duration_histogram::bucket_labels[i]) + "\"",
                      s.cumulative[i]);
    }
    append_sample(out, bucket, prefix + "le=\"+Inf\"", s.count);
    append_sample(out, std::string(name) + "_sum", labels, s.sum_seconds);
    append_sample(out, std::string(name) + "_count", labels, s.count);
}

}  // namespace

void duration_histogram::observe(std::chrono::nanoseconds d) noexcept {
    const std::int64_t ns = std::max<std::int64_t>(d.count(), 0);
    const auto slot = static_cast<std::size_t>(std::ranges::lower_bound(bucket_bounds_ns, ns) -
                                               bucket_bounds_ns.begin());
    buckets_[slot].fetch_add(1, relaxed);
    sum_ns_.fetch_add(static_cast<std::uint64_t>(ns), relaxed);
}

duration_histogram::snapshot duration_histogram::read() const noexcept {
    // The count is the buckets' total, so that the exposition stays consistent (+Inf equals
    // _count) even while other threads observe.
    snapshot s;
    std::uint64_t running = 0;
    for (std::size_t i = 0; i < buckets_.size(); ++i) {
        running += buckets_[i].load(relaxed);
        s.cumulative[i] = running;
    }
    s.count = running;
    s.sum_seconds = static_cast<double>(sum_ns_.load(relaxed)) / 1e9;
    return s;
}

metrics::metrics(std::string version) : version_(std::move(version)) {}

std::size_t metrics::method_slot(std::string_view method) noexcept {
    if (method == "-") return methods.size() - 1;  // "invalid"
    for (std::size_t i = 0; i + 2 < methods.size(); ++i) {
        if (methods[i] == method) return i;
    }
    return methods.size() - 2;  // "other"
}

std::size_t metrics::code_slot(int code) noexcept {
    for (std::size_t i = 0; i < codes.size(); ++i) {
        if (codes[i] == code) return i;
    }
    return codes.size();
}

void metrics::record_call(std::string_view method, int code, std::chrono::nanoseconds d) noexcept {
    const std::size_t m = method_slot(method);
    calls_[m][code_slot(code)].fetch_add(1, relaxed);
    call_durations_[m].observe(d);
}

void metrics::record_db_timeout() noexcept {
    db_timeouts_.fetch_add(1, relaxed);
}

void metrics::record_db_reconnect() noexcept {
    db_reconnects_.fetch_add(1, relaxed);
}

void metrics::set_restart_grace(std::size_t instances,
                                std::chrono::steady_clock::time_point until) noexcept {
    grace_instances_.store(instances, relaxed);
    grace_until_.store(until.time_since_epoch().count(), relaxed);
}

void metrics::record_commit(std::chrono::nanoseconds d, std::size_t writes, bool ok) noexcept {
    commit_durations_.observe(d);
    if (ok) {
        writes_committed_.fetch_add(writes, relaxed);
    } else {
        commits_failed_.fetch_add(1, relaxed);
    }
}

std::string metrics::render(const live_values& live) const {
    std::string out;
    out.reserve(24 * 1024);

    append_header(out, "servreg_build_info", "gauge",
                  "The running servreg's version as a label; the value is always 1.");
    std::string version_label = "version=";
    append_label_value(version_label, version_);
    append_sample(out, "servreg_build_info", version_label, std::uint64_t{1});

    append_header(out, "servreg_rpc_requests_total", "counter",
                  "JSON-RPC calls answered, by method and JSON-RPC error code (0: success). "
                  "Unknown methods count as \"other\", requests that are not calls as "
                  "\"invalid\".");
    for (std::size_t m = 0; m < methods.size(); ++m) {
        const std::string method_label = "method=\"" + std::string(methods[m]) + "\"";
        const bool real_method = m + 2 < methods.size();
        for (std::size_t c = 0; c <= codes.size(); ++c) {
            const std::uint64_t n = calls_[m][c].load(relaxed);
            // Success is always shown for the real methods, so that rate() has a series from
            // the first scrape; other combinations appear once they happen.
            if (n == 0 && !(real_method && c == 0)) continue;
            const std::string code =
                c < codes.size() ? std::to_string(codes[c]) : std::string("other");
            append_sample(out, "servreg_rpc_requests_total",
                          method_label + ",code=\"" + code + "\"", n);
        }
    }

    append_header(out, "servreg_rpc_duration_seconds", "histogram",
                  "Time from a JSON-RPC call's parsing to its answer, commit included for writes.");
    for (std::size_t m = 0; m < methods.size(); ++m) {
        append_histogram(out, "servreg_rpc_duration_seconds",
                         "method=\"" + std::string(methods[m]) + "\"", call_durations_[m].read());
    }

    append_header(out, "servreg_instances", "gauge",
                  "Registered instances: alive (pinged within --ttl) or dead (kept until pruned).");
    append_sample(out, "servreg_instances", "state=\"alive\"", std::uint64_t{live.alive});
    append_sample(out, "servreg_instances", "state=\"dead\"", std::uint64_t{live.dead});

    append_header(out, "servreg_service_alive_instances", "gauge",
                  "Alive instances of each registered service; 0 when all its instances are "
                  "dead (they are kept until pruned). At most " +
                      std::to_string(max_service_series) + " services.");
    std::size_t shown = 0;
    for (const auto& s : live.services) {
        if (shown++ == max_service_series) break;
        std::string label = "service=";
        append_label_value(label, s.name);
        append_sample(out, "servreg_service_alive_instances", label, std::uint64_t{s.alive});
    }

    append_header(out, "servreg_db_commit_duration_seconds", "histogram",
                  "Time of one database transaction of the group-commit writer.");
    append_histogram(out, "servreg_db_commit_duration_seconds", "", commit_durations_.read());

    append_header(out, "servreg_db_writes_total", "counter",
                  "Writes (pings, unregisters, drains, undrains) committed to the database.");
    append_sample(out, "servreg_db_writes_total", "", writes_committed_.load(relaxed));

    append_header(out, "servreg_db_commit_failures_total", "counter",
                  "Database transactions that failed (their writes were answered -32000).");
    append_sample(out, "servreg_db_commit_failures_total", "", commits_failed_.load(relaxed));

    append_header(out, "servreg_db_up", "gauge",
                  "1 when the database answered its last query or commit, else 0.");
    append_sample(out, "servreg_db_up", "", std::uint64_t{live.database_up ? 1U : 0U});

    append_header(out, "servreg_db_timeouts_total", "counter",
                  "Database calls abandoned at their deadline (--db-timeout).");
    append_sample(out, "servreg_db_timeouts_total", "", db_timeouts_.load(relaxed));
    append_header(out, "servreg_db_reconnects_total", "counter",
                  "Lost database connections replaced by new ones.");
    append_sample(out, "servreg_db_reconnects_total", "", db_reconnects_.load(relaxed));
    const bool in_grace =
        std::chrono::steady_clock::now().time_since_epoch().count() < grace_until_.load(relaxed);
    append_header(out, "servreg_restart_grace_instances", "gauge",
                  "Instances kept alive by the restart grace after a downtime, while it lasts.");
    append_sample(out, "servreg_restart_grace_instances", "",
                  in_grace ? grace_instances_.load(relaxed) : std::uint64_t{0});

    append_header(out, "servreg_watch_waiting", "gauge",
                  "watch_service calls and /v1/watch streams waiting for a change now.");
    append_sample(out, "servreg_watch_waiting", "", live.watching);

    append_header(out, "servreg_http_connections_open", "gauge", "HTTP connections open now.");
    append_sample(out, "servreg_http_connections_open", "", live.connections.open);

    append_header(out, "servreg_http_connections_accepted_total", "counter",
                  "HTTP connections accepted, refused ones included.");
    append_sample(out, "servreg_http_connections_accepted_total", "", live.connections.accepted);

    append_header(out, "servreg_http_connections_refused_total", "counter",
                  "HTTP connections closed at once: over --max-connections or out of file "
                  "descriptors.");
    append_sample(out, "servreg_http_connections_refused_total", "", live.connections.refused);
    return out;
}

}  // namespace servreg::http
