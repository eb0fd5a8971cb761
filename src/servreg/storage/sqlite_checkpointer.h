// WAL checkpoints of an SQLite file, off the commit path: a thread with a connection of its
// own copies the WAL back into the database file (and waits for the disk), so that the writer's
// commits never do.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace servreg::storage {

struct checkpoint_settings {
    // A passive checkpoint runs once this many WAL frames (pages) are not yet in the file:
    // SQLite's own automatic checkpoint threshold.
    int passive_after = 1000;
    // Once the WAL holds this many frames, a checkpoint holds writes off while it copies what
    // is left, so that the next transaction starts the WAL over: this bounds the WAL's size.
    int restart_after = 16384;
    // Passive checkpoints sync the database file once they have copied this many frames since
    // the last sync, and once more before a restart, so that the restarting checkpoint's own
    // sync, with writes held off, flushes only what it copied itself.
    int sync_after = 1000;
};

class sqlite_checkpointer {
public:
    // Opens a connection of its own to the database file at `path`, with the writer's
    // `synchronous` level (0 off, 1 normal, 2 full, 3 extra). Throws std::runtime_error.
    sqlite_checkpointer(const std::string& path, int synchronous,
                        checkpoint_settings settings = {});
    ~sqlite_checkpointer();  // stops the thread; the WAL left behind is SQLite's to finish
    sqlite_checkpointer(const sqlite_checkpointer&) = delete;
    sqlite_checkpointer& operator=(const sqlite_checkpointer&) = delete;

    // Takes over the WAL hook of the writer's connection (an `sqlite3*`), which switches off
    // its automatic checkpoints. Called again after the writer reconnects.
    void watch(void* writer_connection);

    // The writer holds one around each transaction. A checkpoint that starts the WAL over
    // waits for the transaction in progress and goes before the next one.
    class write_scope {
    public:
        write_scope() = default;
        explicit write_scope(sqlite_checkpointer* owner) : owner_(owner) {}
        write_scope(write_scope&& other) noexcept : owner_(std::exchange(other.owner_, nullptr)) {}
        write_scope& operator=(write_scope&&) = delete;
        ~write_scope() {
            if (owner_ != nullptr) owner_->end_write();
        }

    private:
        sqlite_checkpointer* owner_ = nullptr;
    };
    [[nodiscard]] write_scope begin_write();

    // From the WAL hook, on the writer's thread after each commit: the WAL's size in frames.
    void committed(int wal_frames);

private:
    void run() noexcept;
    void end_write();
    int restart(int& in_wal, int& copied);

    checkpoint_settings settings_;
    void* db_ = nullptr;  // sqlite3*, used by the thread only
    // The database file, read-only, to sync what passive checkpoints copied; -1: not open (the
    // restarting checkpoint's own sync then does it all).
    int file_ = -1;
    bool sync_ = true;  // synchronous is not OFF
    std::mutex writes_mutex_;
    std::condition_variable writes_changed_;
    bool writing_ = false;          // a transaction is in progress
    bool restart_waiting_ = false;  // a restarting checkpoint waits for it to end

    mutable std::mutex mutex_;
    std::condition_variable wake_;
    int wal_frames_ = 0;            // in the WAL after the last commit
    int checkpointed_ = 0;          // of those, already in the file
    std::uint64_t wal_starts_ = 0;  // times the WAL started over
    bool stopping_ = false;

    std::thread thread_;
};

}  // namespace servreg::storage
