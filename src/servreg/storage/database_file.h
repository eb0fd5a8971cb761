// The identity of an SQLite database file, so that a file deleted or replaced under a running
// servreg is noticed instead of written into and lost.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>

namespace servreg::storage {

// SQLite keeps its file open, so a file deleted or replaced under it goes on working on the old
// inode, and every later write is lost at the next start. The file as it was at start, and
// whether it still is.
class database_file {
public:
    // The file at `path` as it is now; nullopt for an in-memory database or a missing file.
    static std::optional<database_file> identify(std::string path);

    // Whether apply() should look again: a stat a second is cheap; once the file is missing,
    // every write looks until it is back.
    bool due() const {
        return !ok_ || std::chrono::steady_clock::now() - checked_ >= std::chrono::seconds(1);
    }

    // Throws storage_error naming `display` when the file is gone or another one took its place.
    void check(const std::string& display);

    const std::string& path() const { return path_; }

private:
    database_file(std::string path, dev_t device, ino_t inode);

    std::string path_;
    dev_t device_ = 0;
    ino_t inode_ = 0;
    std::chrono::steady_clock::time_point checked_;
    bool ok_ = true;  // at the last check
};

}  // namespace servreg::storage
