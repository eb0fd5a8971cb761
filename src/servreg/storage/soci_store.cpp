// The SOCI-backed store's lifecycle: connecting and reconnecting, the transaction around each
// call, and the store interface's methods. The parts it is made of each have their own file.
#include "servreg/storage/soci_store.h"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <vector>

#include "servreg/storage/connect_string.h"
#include "servreg/storage/database_file.h"
#include "servreg/storage/db_errors.h"
#include "servreg/storage/dialect.h"
#include "servreg/storage/heartbeat_journal.h"
#include "servreg/storage/native_handle.h"
#include "servreg/storage/reconnect_probe.h"
#include "servreg/storage/row_columns.h"
#include "servreg/storage/schema.h"
#include "servreg/storage/sqlite_fast_path.h"
#include "servreg/storage/statements.h"
#include "servreg/storage/store.h"
#include "servreg/storage/write_plan.h"

namespace servreg::storage {
namespace {

using config::database_kind;

class soci_store final : public store {
public:
    soci_store(const config::database_target& target, const store_options& options);
    ~soci_store() override;
    soci_store(const soci_store&) = delete;
    soci_store& operator=(const soci_store&) = delete;

    void scan_all(const row_sink& sink) override;
    void apply(std::span<const write_op> ops, std::vector<bool>& existed) override;
    std::size_t prune(std::int64_t cutoff_ms) override;
    void probe() override;
    // A transaction of this many folds takes about 10 ms at 1,000,000 instances: what a write
    // that comes as writes resume may wait.
    static constexpr std::size_t settle_step = 1024;
    bool settle() override { return fold_journal(settle_step); }
    changes changes_since(std::int64_t since_ms) override;

private:
    void open_session();
    void prepare_schema();
    void configure_session();
    void limit_statements(int calls);
    void begin();
    void commit();
    void rollback_quietly() noexcept;
    void reconnect_if_broken();
    void remember_file();
    void start_checkpoints(const checkpoint_settings& settings);
    void watch_wal();
    sqlite_checkpointer::write_scope hold_checkpoints();
    void execute_plan(std::span<const write_op> ops, const std::vector<write_step>& steps,
                      std::vector<bool>& existed);
    bool fold_journal(std::size_t at_most);
    template <typename F>
    auto guarded(std::string_view operation, F&& body) -> decltype(body());
    void answered(watchdog::armed& armed);

    config::database_target target_;
    soci_connection connection_;  // with the dialect's connect defaults
    const dialect& dialect_;
    bool multi_row_;
    std::vector<std::string> secrets_;
    // An SQLite database file, as it was at start; declared before everything that opens it,
    // as closing its claim's descriptor drops the process's locks on the file.
    std::optional<database_file> file_;
    // An SQLite file's checkpoints; declared before the session, whose WAL hook points at it.
    std::unique_ptr<sqlite_checkpointer> checkpointer_;
    soci::session sql_;
    std::unique_ptr<write_statements> statements_;  // after sql_: destroyed before the session
    bool broken_ = false;
    // When the last reconnection failed: the next is tried only after reconnect_pause, so that
    // writes during an outage fail at once instead of each waiting for a connect timeout.
    std::optional<std::chrono::steady_clock::time_point> reconnect_failed_at_;
    std::string outage_reason_;
    // An outage is logged as a warning once, then quietly until the database is back.
    bool in_outage_ = false;
    // The connection was abandoned at a deadline: the server hangs, so a call does not wait for
    // it to answer a reconnection; the probe goes on in the background.
    bool timed_out_ = false;
    bool in_transaction_ = false;
    bool committing_ = false;
    write_planner planner_;
    heartbeat_journal journal_;     // SQLite's, while write_statements has one
    bool leftover_journal_ = true;  // its tables may hold what an earlier process journaled
    watchdog* deadlines_;
    std::chrono::milliseconds round_trip_;  // the deadline of one (store_options::round_trip)
    int call_deadlines_ = 1;                // how many deadlines the call at hand gets
    int statement_calls_ = 0;  // how many the session's statement limit is for (the servers)
    reconnect_probe probe_;    // tries a server before the store reconnects to it
};

soci_store::soci_store(const config::database_target& target, const store_options& options)
    : target_(target),
      connection_(soci_connection_for(target, options.round_trip())),
      dialect_(dialect_for(target.kind)),
      multi_row_(options.multi_row_upserts.value_or(dialect_.multi_row_upserts)),
      secrets_(secrets_of(connection_.connect_string)),
      deadlines_(options.deadlines),
      round_trip_(options.round_trip()),
      probe_(connection_.backend, connection_.connect_string) {
    secrets_.insert(secrets_.end(), connection_.secrets.begin(), connection_.secrets.end());
    std::erase_if(secrets_, [](const std::string& secret) { return secret.empty(); });
    add_connect_defaults(connection_, dialect_, round_trip_);
    remember_file();  // before a connection opens an existing file: another process may own it
    open_session();
    if (!file_) remember_file();  // the file the session has just created
    prepare_schema();
    start_checkpoints(options.checkpoints);
    try {
        statements_ = std::make_unique<write_statements>(sql_, dialect_, multi_row_);
    } catch (const std::exception& e) {
        spdlog::warn("storage: preparing statements on {} failed: {}", target_.display,
                     redact(e.what(), secrets_));
        throw storage_error(
            client_reason(e, target_.kind, target_.display, true, error_phase::connect));
    }
    fold_journal(std::numeric_limits<std::size_t>::max());
}

soci_store::~soci_store() {
    deadlines_ = nullptr;  // the watchdog may be gone already
    fold_journal(std::numeric_limits<std::size_t>::max());
}

void soci_store::open_session() {
    try {
        // SQLite is linked in; the other backends are loaded by name, so that servreg builds
        // without their client libraries.
        if (target_.kind == database_kind::sqlite) {
            sql_.open(soci::sqlite3, connection_.connect_string);
        } else {
            sql_.open(connection_.backend, connection_.connect_string);
        }
    } catch (const std::exception& e) {
        spdlog::warn("storage: cannot open {}: {}", target_.display, redact(e.what(), secrets_));
        throw storage_error(
            client_reason(e, target_.kind, target_.display, false, error_phase::connect));
    }
}

// Two processes may open an empty database at the same moment: the loser of a race retries.
void soci_store::prepare_schema() {
    for (int attempt = 1;; ++attempt) {
        try {
            configure_session();
            ensure_schema(
                sql_, dialect_, target_.display, [this] { begin(); }, [this] { commit(); });
            return;
        } catch (const storage_error&) {
            rollback_quietly();
            throw;
        } catch (const std::exception& e) {
            rollback_quietly();
            const bool retry = attempt < 5 && is_schema_race(e);
            spdlog::log(retry ? spdlog::level::debug : spdlog::level::warn,
                        "storage: preparing the schema of {} failed: {}", target_.display,
                        redact(e.what(), secrets_));
            if (!retry) {
                throw storage_error(
                    client_reason(e, target_.kind, target_.display, true, error_phase::connect));
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50 * attempt));
        }
    }
}

void soci_store::configure_session() {
    if (dialect_.kind == database_kind::sqlite) {
        std::string mode;
        try {
            sql_ << "PRAGMA journal_mode=WAL", soci::into(mode);
        } catch (const soci::sqlite3_soci_error& e) {
            // A read-only file keeps its mode; writes will fail with a clear reason anyway.
            if ((e.result() & 0xff) != SQLITE_READONLY) throw;
            mode = "unchanged (read-only)";
        }
        // An in-memory database reports "memory": it has no journal to keep.
        if (mode != "wal" && mode != "memory") {
            spdlog::warn("storage: {} is in journal mode {}, not WAL", target_.display, mode);
        }
        // WAL with synchronous=NORMAL: a commit survives the process being killed; only a power
        // loss or OS crash can lose the last commits before a checkpoint. SOCI has already
        // applied a level the connect string names.
        if (!connect_string_value(connection_.connect_string, "synchronous")) {
            sql_ << "PRAGMA synchronous=NORMAL";
        }
        // A page cache of up to 32 MiB (SQLite's default is 2 MiB) holds the whole file of a
        // registry of some 300,000 instances: pings spread over the registry read from memory,
        // not from the file. Pages are allocated as they are read.
        sql_ << "PRAGMA cache_size=-32768";
        watch_wal();  // after a reconnection
        if (deadlines_) {
            // A file that another process holds locked makes a write wait for the lock; that
            // wait ends within half the round trip's deadline, whatever the URL's timeout.
            const auto given = connect_string_value(connection_.connect_string, "timeout");
            const long long bound = round_trip_.count() / 2;
            const long long wanted = given ? 1000LL * std::stoll(*given) : bound;
            sqlite_api::sqlite3_busy_timeout(sqlite_handle(sql_),
                                             static_cast<int>(std::min(wanted, bound)));
        }
    }
    for (std::string_view statement : dialect_.session_setup) sql_ << statement;
    statement_calls_ = 0;
    limit_statements(call_deadlines_);
}

// A statement past within_round_trip() of each of its call's deadlines (the start-up load has
// 15) ends on the server, a second line behind the watchdog: PostgreSQL bounds the statement,
// InnoDB only its lock waits, in whole seconds (1 at the least).
void soci_store::limit_statements(int calls) {
    if (!dialect_.shared || calls == statement_calls_) return;
    const auto limit = within_round_trip(round_trip_) * calls;
    sql_ << (dialect_.kind == database_kind::postgresql
                 ? "SET statement_timeout = " + std::to_string(limit.count())
                 : "SET SESSION innodb_lock_wait_timeout = " +
                       std::to_string(std::max<std::int64_t>(1, limit.count() / 1000)));
    statement_calls_ = calls;
}

void soci_store::begin() {
    in_transaction_ = true;
    committing_ = false;
    if (statements_ && statements_->sqlite_begin) {
        statements_->sqlite_begin->run();
    } else if (dialect_.kind == database_kind::sqlite) {
        sql_ << sqlite_begin_sql;
    } else {
        sql_.begin();
    }
}

void soci_store::commit() {
    committing_ = true;
    if (statements_ && statements_->sqlite_commit) {
        statements_->sqlite_commit->run();
    } else {
        sql_.commit();
    }
    in_transaction_ = false;
}

void soci_store::rollback_quietly() noexcept {
    if (!in_transaction_) return;
    in_transaction_ = false;
    try {
        sql_.rollback();
    } catch (const std::exception&) {
        // the transaction died with the connection, or never started
    }
}

// How long after a failed reconnection the next one is tried; the writer's probe (every second)
// and the poller try again by themselves.
constexpr auto reconnect_pause = std::chrono::milliseconds(500);

// A failure that took longer than this was a timeout, not a closed connection: trying again at
// once would only double the wait.
constexpr auto quick_failure = std::chrono::milliseconds(300);

// How long a call waits for a server being tried again (reconnect_probe.h) before it fails,
// after a connection was lost (not abandoned at a deadline): long enough for a server that
// restarted to answer, so that the call goes through.
constexpr auto reconnect_wait = std::chrono::milliseconds(250);

// The server has not answered the reconnection probe yet.
struct still_connecting {};

void soci_store::reconnect_if_broken() {
    if (!broken_) return;
    const auto now = std::chrono::steady_clock::now();
    if (reconnect_failed_at_ && now - *reconnect_failed_at_ < reconnect_pause) {
        throw storage_error(outage_reason_);
    }
    statements_.reset();  // they belong to the old connection
    try {
        // A server that hangs would hold the caller for a connect timeout: it is tried on a
        // thread of its own first, and calls fail at once until it answers.
        if (dialect_.kind != database_kind::sqlite && deadlines_ &&
            !probe_.succeeded(timed_out_ ? std::chrono::milliseconds(0) : reconnect_wait)) {
            throw still_connecting();
        }
        sql_.reconnect();
        configure_session();
        statements_ = std::make_unique<write_statements>(sql_, dialect_, multi_row_);
    } catch (const still_connecting&) {
        throw storage_error(outage_reason_);
    } catch (const std::exception& e) {
        statements_.reset();
        reconnect_failed_at_ = std::chrono::steady_clock::now();
        std::string reason =
            client_reason(e, target_.kind, target_.display, false, error_phase::connect);
        // "cannot open X: connection refused" reads as "connection to X lost: connection refused".
        if (const auto colon = reason.find(": "); colon != std::string::npos) {
            reason = "connection to " + target_.display + " lost: " + reason.substr(colon + 2);
        }
        outage_reason_ = std::move(reason);
        spdlog::log(in_outage_ ? spdlog::level::debug : spdlog::level::warn,
                    "storage: reconnecting to {} failed: {}", target_.display,
                    redact(e.what(), secrets_));
        in_outage_ = true;
        throw storage_error(outage_reason_);
    }
    broken_ = false;
    timed_out_ = false;
    reconnect_failed_at_.reset();
    in_outage_ = false;
    spdlog::info("storage: reconnected to {}", target_.display);
    if (deadlines_) deadlines_->count_reconnect();
}

// Runs `body` (one transaction at most), turning every failure into a storage_error. A body that
// lost its connection before committing, or lost a deadlock, is run again: nothing of it stayed.
// It has call_deadlines_ times the round-trip deadline: a body past it is aborted, and on a server
// its connection is abandoned (a commit in flight may still land: -32000 is "not known to be
// done").
template <typename F>
auto soci_store::guarded(std::string_view operation, F&& body) -> decltype(body()) {
    for (int attempt = 1;; ++attempt) {
        reconnect_if_broken();
        committing_ = false;
        const auto started = std::chrono::steady_clock::now();
        auto armed = deadlines_ ? deadlines_->arm(target_.display, abort_of(sql_, dialect_.kind),
                                                  call_deadlines_)
                                : watchdog::armed{};
        try {
            limit_statements(call_deadlines_);
            if constexpr (std::is_void_v<decltype(body())>) {
                body();
                answered(armed);
                return;
            } else {
                auto result = body();
                answered(armed);
                return result;
            }
        } catch (const storage_error&) {
            rollback_quietly();
            throw;
        } catch (const std::exception& e) {
            const bool quick = std::chrono::steady_clock::now() - started < quick_failure;
            const bool timed_out = armed.expired();
            const std::string message = message_of(e);
            // SQLite has no connection to lose; asking the others costs a round trip, and only
            // on failure. A session that said it lost its connection is not asked.
            const bool connected =
                dialect_.kind == database_kind::sqlite ||
                (!timed_out && !says_connection_lost(message) && sql_.is_connected());
            armed.disarm();
            if (connected) {
                rollback_quietly();
            } else {
                // A rollback would wait on the dead connection; the server rolls back anyway.
                in_transaction_ = false;
                broken_ = true;
            }
            // SQLite opens a file it may not write read-only, and it stays so for the life of
            // the connection: reopen it next time, so that writes resume once it is writable.
            if (const auto* s = dynamic_cast<const soci::sqlite3_soci_error*>(&e);
                s != nullptr && (s->result() & 0xff) == SQLITE_READONLY) {
                broken_ = true;
            }
            spdlog::log(in_outage_ && !connected ? spdlog::level::debug : spdlog::level::warn,
                        "storage: {} on {} failed: {}", operation, target_.display,
                        redact(e.what(), secrets_));
            if (!connected) in_outage_ = true;
            if (timed_out) {
                timed_out_ = !connected;
                outage_reason_ = (connected ? target_.display + ": "
                                            : "connection to " + target_.display + " lost: ") +
                                 no_answer_within(deadlines_->timeout() * call_deadlines_);
                throw storage_error(outage_reason_);
            }
            const bool lost_before_commit = !connected && !committing_ && attempt == 1 && quick;
            const bool lost_a_race =
                dialect_.kind != database_kind::sqlite && attempt < 4 && is_transient(e);
            if (lost_before_commit || lost_a_race) continue;
            throw storage_error(
                client_reason(e, target_.kind, target_.display, connected, error_phase::use));
        }
    }
}

// The end of a call that came back: in time, it proves the database answers.
void soci_store::answered(watchdog::armed& armed) {
    in_outage_ = false;
    armed.disarm();
    if (deadlines_ && !armed.expired()) deadlines_->answered();
}

void soci_store::scan_all(const row_sink& sink) {
    fold_journal(std::numeric_limits<std::size_t>::max());
    // Reading the whole registry is many round trips: it gets 15 deadlines in all, then one again.
    call_deadlines_ = 15;
    const std::unique_ptr<int, void (*)(int*)> then_one(&call_deadlines_, [](int* n) { *n = 1; });
    // A lost connection is retried only before the first rows went out: each row once.
    bool handed = false;
    const row_sink once = [&](std::span<const instance_row> rows) {
        handed = true;
        sink(rows);
    };
    guarded("loading the registry", [&] {
        if (handed) throw storage_error("the connection was lost while loading the registry");
        if (dialect_.kind == database_kind::sqlite) return read_all_rows(sqlite_handle(sql_), once);
        row_columns c(10'000);
        soci::statement st = c.select(sql_, select_all_rows);
        c.fetch_each(st, once);
    });
}

void soci_store::execute_plan(std::span<const write_op> ops, const std::vector<write_step>& steps,
                              std::vector<bool>& existed) {
    write_statements& s = *statements_;
    for (const write_step& st : steps) {
        const write_op& op = ops[st.index];
        // One statement may not upsert a row twice (PostgreSQL refuses it), and any other write
        // of a row must see what an earlier step of the batch wrote; the other upserts may
        // wait to fill a multi-row statement.
        if (s.pending_for(op)) s.execute_upserts();
        if (op.kind == write_op::kind_t::ping) {
            if (!s.refreshed(op, journal_, st.stored_same)) s.queue_upsert(op, st.first_seen_ms);
            continue;
        }
        s.target_url = op.url;
        s.target_at = op.now_ms;
        soci::statement* run = &s.drain;
        if (op.kind == write_op::kind_t::unregister) {
            s.bury.execute(true);
            run = &s.remove;
        } else {
            s.target_drained = op.kind == write_op::kind_t::drain ? 1 : 0;
        }
        run->execute(true);
        existed[st.index] = run->get_affected_rows() > 0;
    }
    s.execute_upserts();
}

// Folds what the journal holds into the rows, at most `at_most` URLs in one transaction: all
// of it before the rows are read and when the store closes, a step at a time when writes pause.
// What an earlier process left is folded from the tables by SQL at once, which groups their
// rows in a temporary B-tree (megabytes at 1,000,000 instances); what this store journaled,
// from the latest times it keeps. Whether nothing is left to fold. A file that cannot be
// written (read-only) keeps its journal, logged: its rows are then up to a sweep behind.
bool soci_store::fold_journal(std::size_t at_most) {
    if (!statements_ || !statements_->journal_on()) return true;
    if (!leftover_journal_ && journal_.pending() == 0) return true;
    const auto held = hold_checkpoints();
    try {
        guarded("folding the heartbeat journal", [&] {
            if (leftover_journal_ && !journal_holds_rows(sql_)) return;
            journal_.begin();
            begin();
            if (leftover_journal_) {
                fold_journal_tables(sql_, *statements_);
            } else {
                statements_->fold_first(journal_, at_most);
            }
            commit();
            if (leftover_journal_) journal_.reset();
            journal_.committed();
        });
        leftover_journal_ = false;
        return journal_.pending() == 0;
    } catch (const storage_error& e) {
        spdlog::warn("storage: the heartbeat journal of {} stays as it is: {}", target_.display,
                     e.what());
        return true;
    }
}

void soci_store::remember_file() {
    if (dialect_.kind != database_kind::sqlite) return;
    auto path = connect_string_value(connection_.connect_string, "db");
    if (path) file_ = database_file::claim(std::move(*path), target_.display);
}

// A database file gets its checkpoints from a thread of its own (sqlite_checkpointer.h); an
// in-memory or read-only database has none to run.
void soci_store::start_checkpoints(const checkpoint_settings& settings) {
    if (!file_ || connect_string_value(connection_.connect_string, "readonly")) return;
    int synchronous = 1;
    try {
        sql_ << "PRAGMA synchronous", soci::into(synchronous);
        checkpointer_ = std::make_unique<sqlite_checkpointer>(file_->path(), synchronous, settings);
    } catch (const std::exception& e) {
        // SQLite's own checkpoints, in the commits, stay on.
        spdlog::warn("storage: checkpoints stay in the commits of {}: {}", target_.display,
                     e.what());
        return;
    }
    watch_wal();
}

void soci_store::watch_wal() {
    if (!checkpointer_ || !sql_.get_backend()) return;
    checkpointer_->watch(sqlite_handle(sql_));
}

// A transaction and a checkpoint that starts the WAL over never overlap.
sqlite_checkpointer::write_scope soci_store::hold_checkpoints() {
    if (!checkpointer_) return {};
    return checkpointer_->begin_write();
}

void soci_store::apply(std::span<const write_op> ops, std::vector<bool>& existed) {
    existed.assign(ops.size(), false);
    if (ops.empty()) return;
    // A write into a deleted file would be answered and then lost.
    if (file_ && file_->due()) file_->check(target_.display);
    const std::vector<write_step>& steps = planner_.plan(ops);
    const auto held = hold_checkpoints();
    guarded("writing", [&] {
        existed.assign(ops.size(), false);
        statements_->discard_upserts();  // a failed attempt may have left some
        journal_.begin();
        begin();
        execute_plan(ops, steps, existed);
        statements_->fold_step(journal_);
        commit();
        journal_.committed();
    });
}

std::size_t soci_store::prune(std::int64_t cutoff_ms) {
    const auto held = hold_checkpoints();
    return guarded("pruning", [&] {
        long long cutoff = cutoff_ms;
        long long now = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
        long long forget = now - tombstone_retention.count();
        begin();
        const std::size_t removed =
            delete_stale_rows(sql_, dialect_, statements_->journal_on(), cutoff, now);
        sql_ << "DELETE FROM servreg_tombstones WHERE deleted_at < :forget", soci::use(forget);
        commit();
        return removed;
    });
}

changes soci_store::changes_since(std::int64_t since_ms) {
    return guarded("polling", [&] { return read_changes(sql_, since_ms); });
}

void soci_store::probe() {
    if (file_) file_->check(target_.display);
    // A read of the schema table rather than SELECT 1: it also proves an SQLite file readable.
    guarded("probing", [&] {
        int version = 0;
        sql_ << "SELECT version FROM servreg_schema", soci::into(version);
    });
}

}  // namespace

std::vector<instance_row> store::load_all() {
    std::vector<instance_row> rows;
    scan_all([&rows](std::span<const instance_row> chunk) {
        rows.insert(rows.end(), chunk.begin(), chunk.end());
    });
    return rows;
}

changes store::changes_since(std::int64_t /*since_ms*/) {
    throw storage_error("this store cannot report changes");
}

std::unique_ptr<store> open_store(const config::database_target& target,
                                  const store_options& options) {
    if (target.kind == database_kind::sqlite) configure_sqlite_library();
    return std::make_unique<soci_store>(target, options);
}

std::unique_ptr<store> open_store(const config::database_target& target) {
    return open_store(target, {});
}

std::unique_ptr<store> open_store(const config::database_target& target, watchdog& deadlines) {
    store_options options;
    options.deadlines = &deadlines;
    return open_store(target, options);
}

}  // namespace servreg::storage
