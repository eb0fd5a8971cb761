// The registry in memory: every known instance, keyed by its URL and ordered by name, host,
// port and URL, so that locate_service never touches the database and a literal prefix narrows
// the scan.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/registry/address.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/metadata.h"
#include "servreg/storage/store.h"

namespace servreg::registry {

// An instance as locate_service answers it: host and port, or its URL when its latest ping
// gave one (then `url` is not empty).
struct endpoint {
    std::string host;
    std::uint16_t port = 0;
    std::string url;
    friend bool operator==(const endpoint&, const endpoint&) = default;
};

// Told of every change of an answer of the index: an instance added, moved, removed, drained or
// undrained, or changing its metadata or form, and a ping that brings a dead instance back.
// Called under the index's lock, from the thread that changed it: it only takes note, and
// never calls the index.
class change_observer {
public:
    // `name`: the service whose instances changed; empty: any service.
    virtual void changed(std::string_view name) noexcept = 0;

protected:
    ~change_observer() = default;
};

// Thread-safe: any number of readers, writers serialised. Holds only what was committed.
class index {
public:
    index();
    ~index();
    index(const index&) = delete;
    index& operator=(const index&) = delete;

    // A new content for the index, built from rows handed over in chunks, away from the
    // index and its lock; reset() puts it in place at once.
    class loader {
    public:
        loader();
        ~loader();
        loader(const loader&) = delete;
        loader& operator=(const loader&) = delete;

        // Copies what the index keeps of `rows`: the database keys rows by URL; should one
        // repeat, the later row wins.
        void take(std::span<const storage::instance_row> rows);
        // Takes every row of `db` (store::scan_all).
        void take_all(storage::store& db);

        // How many instances, and the newest last_seen among them (0: none).
        std::size_t size() const noexcept;
        std::int64_t newest_seen_ms() const noexcept;
        // Raises to `to_ms` the last_seen of the instances seen in [since_ms, to_ms); how many.
        std::size_t raise_last_seen(std::int64_t since_ms, std::int64_t to_ms) noexcept;

    private:
        friend class index;
        struct state;
        std::unique_ptr<state> state_;
    };

    // Replaces the whole content (start-up, and a reload from the database); `content` is
    // left empty.
    void reset(loader& content);
    void reset(const std::vector<storage::instance_row>& rows);

    // A committed ping: inserts the instance, refreshes last_seen, or moves it to a new name
    // (first_seen restarts then); records the form of the ping and its metadata (null: keeps
    // what the instance has).
    void apply_ping(std::string_view name, const address& at, const metadata* meta,
                    std::int64_t now_ms);
    // The same for a ping by host and port without metadata.
    void apply_ping(std::string_view name, std::string_view host, std::uint16_t port,
                    std::int64_t now_ms);
    // A committed ping that apply_ping could not take (out of memory): the instance, if known,
    // is no longer vouched for by mark_stored.
    void unconfirm(std::string_view url) noexcept;

    // On the writer thread, before a batch goes to the database: sets write_op::stored_same on
    // each ping without metadata whose instance a ping committed by this process has stored
    // with the same name, host and form since the last prune(). The index then holds what the
    // row holds: this process alone writes an SQLite file (docs/architecture.md), and every
    // committed write reaches the index before the next batch. Rows read from the database
    // (at start-up, after the restart grace, from other processes) are not vouched for.
    void mark_stored(std::span<storage::write_op> ops) const;

    // A committed unregister. Returns whether the instance was known. The deletion is
    // remembered as of deleted_at_ms (or the instance's last_seen, if later) until merge()
    // forgets it, so that a row another process read before the delete cannot bring it back.
    bool apply_unregister(std::string_view url, std::int64_t deleted_at_ms = 0);

    // A committed drain or undrain at changed_ms. Returns whether the instance was known.
    bool apply_drain(std::string_view url, bool drained, std::int64_t changed_ms);

    // Changes other servreg processes committed to a shared database. A tombstone removes its
    // endpoint unless the index saw it after deleted_at (or the same change set holds a row for
    // it, which was then read after the delete); a row inserts, refreshes or moves an instance
    // when its last_seen is newer than the index's. Deletions older than
    // forget_deletions_before_ms are forgotten: no later change set holds rows that old.
    struct merge_stats {
        std::size_t inserted = 0;
        std::size_t updated = 0;  // refreshed or moved
        std::size_t removed = 0;
    };
    merge_stats merge(const storage::changes& changes, std::int64_t forget_deletions_before_ms);

    // Whether unregisters and merged tombstones are remembered for merge(); on only in a
    // process that merges other processes' changes, so that a lone process keeps nothing.
    void track_deletions(bool on);

    // Forgets instances whose last_seen_ms < cutoff_ms.
    std::size_t prune(std::int64_t cutoff_ms);

    // Undrained instances with last_seen_ms >= alive_since_ms whose name matches and whose
    // metadata holds `filter` (null: any), ordered by name, host, port and URL.
    // `oldest_seen_ms` (may be null) gets the least last_seen of the instances answered
    // (INT64_MAX for none): the answer changes by itself once that one expires.
    std::vector<endpoint> locate(const glob& pattern, std::int64_t alive_since_ms,
                                 const metadata* filter = nullptr,
                                 std::int64_t* oldest_seen_ms = nullptr) const;

    // Every instance whose name matches, alive or not, drained or not, ordered by name, host,
    // port and URL; `meta` holds its metadata's JSON text, "{}" for none.
    std::vector<storage::instance_row> list(const glob& pattern) const;

    struct counts {
        std::size_t alive = 0;
        std::size_t dead = 0;
    };
    counts count(std::int64_t alive_since_ms) const;

    std::size_t size() const;

    // Changes whenever an instance is added, moved, removed, drained or undrained, or changes
    // its metadata or the form of its pings (not on a refresh of last_seen): lets a reader
    // cache what it computed from the same generation.
    std::uint64_t generation() const noexcept;

    // Tells `o` (null: nobody) of every change from now on; a ping more than `ttl_ms` after an
    // instance's previous one counts as one (the instance comes back). Set before the index is
    // shared between threads.
    void observe(change_observer* o, std::int64_t ttl_ms) noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace servreg::registry
