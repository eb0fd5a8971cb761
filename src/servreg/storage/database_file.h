// The identity of an SQLite database file, so that a file deleted or replaced under a running
// servreg is noticed instead of written into and lost, and its ownership by one process.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

namespace servreg::storage {

// SQLite keeps its file open, so a file deleted or replaced under it goes on working on the old
// inode, and every later write is lost at the next start. The file as it was at start, and
// whether it still is.
//
// An SQLite file belongs to one process (docs/operations.md): a second servreg on it would serve
// an index that never sees the first one's writes, and would fold and empty heartbeat journal
// tables whose rows the first still counts on. The file is therefore claimed with an exclusive
// flock(2) on a descriptor of its own, which SQLite's fcntl(2) locks do not see; the stores of
// one process share the claim.
class database_file {
public:
    // The file at `path` as it is now, claimed for this process; nullopt for an in-memory
    // database or a missing file. Throws storage_error naming `display` when another process
    // holds the claim.
    static std::optional<database_file> claim(std::string path, const std::string& display);

    // Whether apply() should look again: a stat a second is cheap; once the file is missing,
    // every write looks until it is back.
    bool due() const {
        return !ok_ || std::chrono::steady_clock::now() - checked_ >= std::chrono::seconds(1);
    }

    // Throws storage_error naming `display` when the file is gone or another one took its place.
    void check(const std::string& display);

    const std::string& path() const { return path_; }

private:
    struct owner;
    database_file(std::string path, dev_t device, ino_t inode, std::shared_ptr<const owner> o);

    // Closing a descriptor of the file drops the process's fcntl locks on it, SQLite's included:
    // a store keeps its database_file until its connections are closed.
    std::shared_ptr<const owner> owner_;
    std::string path_;
    dev_t device_ = 0;
    ino_t inode_ = 0;
    std::chrono::steady_clock::time_point checked_;
    bool ok_ = true;  // at the last check
};

}  // namespace servreg::storage
