// Which heartbeats an SQLite database holds only in its journal, and which of them to fold into
// servreg_services next: pure bookkeeping, with no database in sight (soci_store runs the SQL).
//
// A ping of an instance stored the same way only moves its last_seen. Written in place, each
// such ping dirties the page of its row: at 1,000,000 instances every ping costs a page of WAL
// and, later, of checkpoint. Instead, the ping's time is appended to a journal table (a page
// holds a hundred of them) and folded into its row later, in small steps that walk the URLs in
// key order: a row pinged several times between two visits is written once, and the rows of a
// step share pages. Both journal tables live in the same transaction as everything else, so an
// answered ping is as durable as before.
//
// Two journal tables take turns: a sweep (one walk over every URL pending) appends to one while
// it folds what both hold; when it ends, every heartbeat in the other table has been folded, so
// that table is emptied whole and the next sweep appends to it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace servreg::storage {

class heartbeat_journal {
public:
    using clock = std::chrono::steady_clock;

    struct settings {
        // A sweep takes about this long: each transaction folds its share of what is pending.
        std::chrono::milliseconds sweep_period{2000};
        // At most this many URLs wait to be folded: beyond, pings are written in place.
        std::size_t max_pending = 65536;
        // A transaction folds at most this many rows, however long since the last one.
        std::size_t max_fold = 256;
    };

    struct heartbeat {
        std::string url;
        std::int64_t at_ms;
    };

    heartbeat_journal() : heartbeat_journal(settings{}) {}
    explicit heartbeat_journal(settings s) : settings_(s) {}

    // Which journal table this transaction appends to (0 or 1).
    int active_table() const { return active_; }
    // Whether a ping of `url` may go to the journal: it is pending already, or there is room.
    bool accepts(std::string_view url) const;

    // A transaction, planned and then either committed or dropped. Every attempt starts with
    // begin(), which forgets what an earlier attempt staged.
    void begin();
    // A heartbeat the transaction appended to the active table.
    void appended(std::string_view url, std::int64_t at_ms);
    // The rows this transaction folds, each with the latest time journaled for it before the
    // transaction; valid until the next call. `now` paces the sweep.
    const std::vector<heartbeat>& fold_step(clock::time_point now);
    // Instead of fold_step, in a transaction that appends nothing: the first `at_most` URLs
    // pending (when writes pause, and when the store closes). Where that is all of them, both
    // tables are then emptied.
    const std::vector<heartbeat>& fold_first(std::size_t at_most);
    // The table this transaction must empty, or -1: when it ends a sweep, the other table,
    // whose every heartbeat is folded by then and which the next sweep appends to.
    int table_to_empty() const { return ends_sweep_ && holds_[1 - active_] ? 1 - active_ : -1; }
    // Whether this transaction's fold_first() folds every URL pending.
    bool folds_all() const { return folds_all_; }
    // The transaction committed: what it folded leaves the pending set, what it appended joins.
    void committed();

    // Everything was folded and both tables emptied (at start-up, or by SQL alone).
    void reset();

    std::size_t pending() const { return pending_.size(); }

private:
    settings settings_;
    std::map<std::string, std::int64_t, std::less<>> pending_;  // URL -> latest journaled time
    std::string cursor_;    // the sweep folds URLs after this one next
    bool at_start_ = true;  // the sweep has folded nothing yet
    int active_ = 0;
    bool holds_[2] = {false, false};  // whether a table may hold heartbeats
    std::vector<heartbeat> appended_;
    std::vector<heartbeat> folding_;
    bool ends_sweep_ = false;
    bool folds_first_ = false;
    bool folds_all_ = false;
    std::optional<clock::time_point> last_step_;
};

}  // namespace servreg::storage
