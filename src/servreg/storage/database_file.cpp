// An SQLite database file's identity, checked by stat (database_file.h).
#include "servreg/storage/database_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "servreg/storage/store.h"

namespace servreg::storage {

database_file::database_file(std::string path, dev_t device, ino_t inode)
    : path_(std::move(path)),
      device_(device),
      inode_(inode),
      checked_(std::chrono::steady_clock::now()) {}

std::optional<database_file> database_file::identify(std::string path) {
    struct stat st {};
    if (path.empty() || path == ":memory:" || ::stat(path.c_str(), &st) != 0) return std::nullopt;
    return database_file(std::move(path), st.st_dev, st.st_ino);
}

void database_file::check(const std::string& display) {
    checked_ = std::chrono::steady_clock::now();
    ok_ = false;
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) {
        const int error = errno;
        throw storage_error(error == ENOENT
                                ? display + " is gone (deleted or renamed)"
                                : display + " cannot be reached: " + std::strerror(error));
    }
    if (st.st_dev != device_ || st.st_ino != inode_) {
        throw storage_error(display + " was replaced by another file; restart servreg to use it");
    }
    ok_ = true;
}

}  // namespace servreg::storage
