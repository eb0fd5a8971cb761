// The storage interface: what servreg keeps in its SQL database, and how it is written.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "servreg/config/db_url.h"

namespace servreg::storage {

// The database cannot be reached or refused a write. Becomes JSON-RPC -32000.
class storage_error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// One row of servreg_services, keyed by its URL. Times are milliseconds since the Unix epoch.
struct instance_row {
    std::string name;
    std::string host;  // of the URL, or as the latest ping by host and port gave it
    std::uint16_t port = 0;
    std::int64_t first_seen_ms = 0;
    std::int64_t last_seen_ms = 0;
    // The key. Empty only in rows made by hand: those are at http://host:port/api.
    std::string url;
    bool url_form = false;  // the latest ping gave the URL rather than host and port
    bool drained = false;
    std::string meta;  // a JSON object of strings (registry/metadata.h); empty: none
    // The latest write of the row (a ping, drain or undrain): what other processes poll by.
    std::int64_t changed_ms = 0;
};

// An instance deleted from servreg_services (unregister or prune), kept a while in
// servreg_tombstones so that other servreg processes on the same database learn of it.
struct tombstone_row {
    std::string url;
    std::int64_t deleted_at_ms = 0;  // at least the deleted row's last_seen_ms
};

// What changed since a point in time, for servreg processes sharing a database.
struct changes {
    std::vector<instance_row> rows;         // changed_ms >= since
    std::vector<tombstone_row> tombstones;  // deleted_at_ms >= since; read before the rows
};

// How long tombstones are kept: a process that could not read the database for longer must
// reload everything instead of catching up.
inline constexpr std::chrono::milliseconds tombstone_retention{3'600'000};

// A write to apply, to the row keyed by `url`. A ping upserts it; an unregister deletes it;
// a drain or undrain sets its drained flag.
struct write_op {
    enum class kind_t : std::uint8_t { ping, unregister, drain, undrain };
    kind_t kind = kind_t::ping;
    std::string name;        // ping only
    std::string host;        // ping only
    std::uint16_t port = 0;  // ping only
    // A ping's last_seen; for an unregister, the deletion time its tombstone carries (raised to
    // the deleted row's last_seen when that is later); a drain's or undrain's time.
    std::int64_t now_ms = 0;
    std::string url;
    bool url_form = false;  // ping only
    // Ping only: the metadata to store as JSON text (registry/metadata.h), or none to keep
    // what is stored.
    std::optional<std::string> meta;
    // Ping only, set by the writer's mark_stored hook: the caller knows the row to be stored
    // already with this name, form and host, as committed before this batch, so that SQLite's
    // heartbeat journal need not look it up. Heeded for the first write of its URL in a
    // batch only.
    bool stored_same = false;
};

// A SQL database holding the registry. Not thread-safe: one thread uses it at a time.
// Every method throws storage_error when the database cannot do its job; the store then
// reconnects by itself on a later call.
class store {
public:
    virtual ~store() = default;

    // Every row, for start-up, handed to `sink` a chunk at a time: a large registry is never
    // held whole, and the chunk's strings are reused for the next one.
    using row_sink = std::function<void(std::span<const instance_row>)>;
    virtual void scan_all(const row_sink& sink) = 0;

    // Every row at once.
    std::vector<instance_row> load_all();

    // Applies `ops` in one transaction, all or nothing. On return, existed[i] tells for an
    // unregister, drain or undrain whether its row was there (unspecified for pings).
    virtual void apply(std::span<const write_op> ops, std::vector<bool>& existed) = 0;

    // Deletes rows last written before cutoff_ms, leaving tombstones; returns how many. Also
    // forgets tombstones older than tombstone_retention.
    virtual std::size_t prune(std::int64_t cutoff_ms) = 0;

    // Rows written and instances deleted at or after since_ms (both bounded by an index). The
    // default throws storage_error: a store that only one process uses need not implement it.
    virtual changes changes_since(std::int64_t since_ms);

    // A trivial query, for health checks.
    virtual void probe() = 0;

    // Work put off while writes came, done once they pause, a short step at a time: the writer
    // calls it when its queue has stayed empty for a probe interval after a write, and again
    // while it is empty, until it returns true (nothing left). SQLite folds its heartbeat
    // journal into the rows. Failures are the store's to log; the default has nothing to do.
    virtual bool settle() { return true; }
};

// Opens the database, creating or upgrading the schema. Throws storage_error naming the
// database (never the password) when it cannot.
std::unique_ptr<store> open_store(const config::database_target& target);

}  // namespace servreg::storage
