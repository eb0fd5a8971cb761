// An SQLite database file's identity, checked by stat, and its claim by flock (database_file.h).
#include "servreg/storage/database_file.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <utility>

#include "servreg/storage/store.h"

namespace servreg::storage {

// The process's claim on one file: a descriptor holding an exclusive flock, closed with the last
// database_file of that file.
struct database_file::owner {
    explicit owner(int descriptor) : fd(descriptor) {}
    ~owner() { ::close(fd); }
    owner(const owner&) = delete;
    owner& operator=(const owner&) = delete;
    int fd;
};

database_file::database_file(std::string path, dev_t device, ino_t inode,
                             std::shared_ptr<const owner> o)
    : owner_(std::move(o)),
      path_(std::move(path)),
      device_(device),
      inode_(inode),
      checked_(std::chrono::steady_clock::now()) {}

std::optional<database_file> database_file::claim(std::string path, const std::string& display) {
    struct stat st {};
    if (path.empty() || path == ":memory:" || ::stat(path.c_str(), &st) != 0) return std::nullopt;
    // The process's claims, by file (an entry a file ever claimed).
    static std::mutex mutex;
    static std::map<std::pair<dev_t, ino_t>, std::weak_ptr<const owner>> claims;
    std::lock_guard lock(mutex);
    std::weak_ptr<const owner>& claimed = claims[{st.st_dev, st.st_ino}];
    // Another store of this process holds it: a descriptor opened and closed here would drop
    // that store's locks.
    if (auto shared = claimed.lock()) {
        return database_file(std::move(path), st.st_dev, st.st_ino, std::move(shared));
    }
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {  // SQLite's own open says why, if it cannot open it either
        return database_file(std::move(path), st.st_dev, st.st_ino, nullptr);
    }
    auto held = std::make_shared<const owner>(fd);
    if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
        const int error = errno;
        if (error == EWOULDBLOCK) {
            throw storage_error(display +
                                " is in use by another process: an SQLite file belongs to one "
                                "servreg (several can share a PostgreSQL or MySQL database)");
        }
        // Kept open all the same, and shared: see the note on owner_.
        spdlog::warn(
            "storage: {} cannot be claimed for this process ({}); a second servreg on "
            "it would not be refused",
            display, std::strerror(error));
    }
    claimed = held;
    return database_file(std::move(path), st.st_dev, st.st_ino, std::move(held));
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
