// Why a thread of its own: a checkpoint copies the WAL's pages into the database file and waits
// for the disk twice (the WAL, then the file). Run by the committing connection, as SQLite does
// by default, every thousandth page written stalled one commit, and every write waiting for it,
// for 10-25 ms. Here passive checkpoints do that work beside the writer; a checkpoint that
// holds writes off copies only what the last passive one left, so that SQLite can start the
// WAL over and keep it bounded.
#include "servreg/storage/sqlite_checkpointer.h"

#include <fcntl.h>
#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>

namespace servreg::storage {
namespace {

sqlite3* handle(void* db) {
    return static_cast<sqlite3*>(db);
}

int wal_hook(void* self, sqlite3*, const char*, int frames) {
    static_cast<sqlite_checkpointer*>(self)->committed(frames);
    return SQLITE_OK;
}

}  // namespace

sqlite_checkpointer::sqlite_checkpointer(const std::string& path, int synchronous,
                                         checkpoint_settings settings)
    : settings_(settings) {
    sqlite3* db = nullptr;
    const int rc = sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr);
    if (rc != SQLITE_OK) {
        std::string why = db != nullptr ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
        sqlite3_close(db);
        throw std::runtime_error("cannot open " + path + " for checkpoints: " + why);
    }
    db_ = db;
    sync_ = synchronous > 0;
    file_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    // The same durability as the writer's commits: with synchronous=NORMAL a checkpoint syncs
    // the WAL before copying it and the file after.
    const std::string pragma = "PRAGMA synchronous=" + std::to_string(synchronous);
    sqlite3_exec(db, pragma.c_str(), nullptr, nullptr, nullptr);
    // A checkpoint never waits for another process: one that cannot finish now runs again later.
    sqlite3_busy_timeout(db, 0);
    // The thread starts with the first commit: a process with a second thread pays for locks
    // in every malloc, and start-up (the registry read into memory) makes 100,000s of them.
}

sqlite_checkpointer::~sqlite_checkpointer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
    sqlite3_close(handle(db_));
    if (file_ >= 0) ::close(file_);
}

void sqlite_checkpointer::watch(void* writer_connection) {
    sqlite3_wal_hook(handle(writer_connection), wal_hook, this);
}

void sqlite_checkpointer::committed(int wal_frames) {
    bool wake = false;
    {
        std::lock_guard lock(mutex_);
        if (wal_frames < wal_frames_) {
            // The commit started the WAL over: everything before it is in the file.
            ++wal_starts_;
            checkpointed_ = 0;
        }
        wal_frames_ = wal_frames;
        wake = wal_frames_ - checkpointed_ >= settings_.passive_after;
        if (!thread_.joinable()) {
            thread_ = std::thread([this] {
                pthread_setname_np(pthread_self(), "servreg-ckpt");
                run();
            });
        }
    }
    if (wake) wake_.notify_one();
}

sqlite_checkpointer::write_scope sqlite_checkpointer::begin_write() {
    std::unique_lock lock(writes_mutex_);
    writes_changed_.wait(lock, [this] { return !restart_waiting_; });
    writing_ = true;
    return write_scope(this);
}

void sqlite_checkpointer::end_write() {
    {
        std::lock_guard lock(writes_mutex_);
        writing_ = false;
    }
    writes_changed_.notify_all();
}

// No transaction runs meanwhile: what is left to copy is what the writer committed during the
// passive checkpoints. The next transaction starts the WAL over. A busy writer would otherwise
// take its turn again and again before this one.
int sqlite_checkpointer::restart(int& in_wal, int& copied) {
    std::unique_lock writes(writes_mutex_);
    restart_waiting_ = true;
    writes_changed_.wait(writes, [this] { return !writing_; });
    const int rc = sqlite3_wal_checkpoint_v2(handle(db_), nullptr, SQLITE_CHECKPOINT_RESTART,
                                             &in_wal, &copied);
    if (rc == SQLITE_OK) {
        std::lock_guard lock(mutex_);
        wal_frames_ = 0;
        checkpointed_ = 0;
        ++wal_starts_;
    }
    restart_waiting_ = false;
    writes.unlock();
    writes_changed_.notify_all();
    return rc;
}

void sqlite_checkpointer::run() noexcept {
    sqlite3* db = handle(db_);
    bool failing = false;
    int idle_rounds = 0;    // checkpoints in a row that copied nothing
    int unsynced_from = 0;  // WAL frames copied before the last sync of the file
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] {
            return stopping_ || wal_frames_ - checkpointed_ >= settings_.passive_after;
        });
        if (stopping_) return;
        const std::uint64_t starts = wal_starts_;
        const int before = checkpointed_;
        lock.unlock();

        int in_wal = 0;
        int copied = 0;
        int rc =
            sqlite3_wal_checkpoint_v2(db, nullptr, SQLITE_CHECKPOINT_PASSIVE, &in_wal, &copied);
        // SQLite syncs the file only once a checkpoint has copied the whole WAL, which under a
        // steady stream of commits is only the restarting one: its sync, with writes held off,
        // then flushed every page the passive ones had copied, spread over the whole file.
        // Synced here instead, beside the writer, every sync_after frames, the restart flushes
        // only what was copied since; and once more just before the restart, so that it
        // flushes only what it copies itself. Not when the WAL is already well past its
        // bound (a writer that outpaces the syncs): that restarts at once, so that the WAL
        // stays bounded.
        if (rc == SQLITE_OK && in_wal >= settings_.restart_after) {
            if (sync_ && file_ >= 0 && copied > unsynced_from &&
                in_wal < settings_.restart_after + settings_.restart_after / 4) {
                ::fdatasync(file_);
                unsynced_from = copied;
            }
            rc = restart(in_wal, copied);
        } else if (rc == SQLITE_OK && sync_ && file_ >= 0 &&
                   copied >= unsynced_from + settings_.sync_after) {
            ::fdatasync(file_);
            unsynced_from = copied;
        }
        const std::string why = rc == SQLITE_OK ? std::string() : sqlite3_errmsg(db);

        lock.lock();
        bool progressed = false;
        if (rc == SQLITE_OK) {
            if (starts == wal_starts_) {
                progressed = copied > before;
                checkpointed_ = copied;
            } else {
                progressed = true;  // the WAL started over, here or at a commit
                unsynced_from = 0;
            }
            if (failing) spdlog::info("storage: WAL checkpoints work again");
            failing = false;
        } else if (rc != SQLITE_BUSY) {
            // A full disk, most likely. Commits go on into the WAL; the writer reports its own
            // failures. Tried again in a moment, not at once.
            if (!failing) spdlog::warn("storage: a WAL checkpoint failed: {}", why);
            failing = true;
        }
        // Another connection holds a lock a moment (BUSY: the writer updating the WAL's
        // header, another process reading or checkpointing), a reader still needs the frames,
        // or the checkpoint failed: try again after a pause that grows while that lasts,
        // rather than at every commit.
        idle_rounds = progressed ? 0 : std::min(idle_rounds + 1, 7);
        if (idle_rounds > 0) {
            const auto pause = std::chrono::milliseconds(1 << idle_rounds);  // 2 to 128 ms
            wake_.wait_for(lock, pause, [this] { return stopping_; });
        }
    }
}

}  // namespace servreg::storage
