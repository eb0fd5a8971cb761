// Fault injection under the SQLite file (SPEC section 5): a disk that fills up while servreg
// runs, and a database file that is read-only. Pings then answer -32000, reads go on, nothing
// answered is lost, nothing refused shows up later, and writes resume by themselves.
//
// The full disk is a real one where the machine allows mounting (a 4 MiB tmpfs, CI runs as
// root); a file-size limit set on the running daemon (RLIMIT_FSIZE, as `ulimit -f` would)
// is the second way to fill it and runs everywhere.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string endpoint(const std::string& host, int port) {
    return host + ":" + std::to_string(port);
}

// What a test did to the registry, and how each write was answered.
struct ledger {
    std::vector<std::string> answered;  // ping answered true: must survive a restart
    std::vector<std::string> refused;   // ping answered -32000: must never appear
    std::vector<std::string> reasons;   // error.data of the refusals

    // Pings and files the answer; fails the test on anything but true or -32000.
    int ping(std::uint16_t port, const std::string& name, const std::string& host, int p) {
        auto x = call(port, "ping", {name, host, p});
        const int code = error_code(x);
        if (code == 0 && x.result() == true) {
            answered.push_back(endpoint(host, p));
        } else if (code == -32000) {
            refused.push_back(endpoint(host, p));
            reasons.push_back(x.error().value("data", ""));
        } else {
            ADD_FAILURE() << "a ping must be answered true or -32000" << x.describe();
        }
        return code;
    }

    // Pings `name` on `host` at ports first_port, first_port + 1, ... every `every` until one
    // is written; whether that happened within 5 s (longer under sanitizers).
    bool writes_resume(std::uint16_t port, const std::string& name, const std::string& host,
                       int first_port, std::chrono::milliseconds every) {
        int attempt = 0;
        return wait_until([&] { return ping(port, name, host, first_port + attempt++) == 0; },
                          5s * sanitizer_slack, every)
            .has_value();
    }

    // Restarts nothing; checks what a daemon on the same database lists.
    void check_against(std::uint16_t port) const {
        const auto listed = listed_endpoints(port, "*");
        for (const auto& e : answered) {
            EXPECT_TRUE(listed.contains(e)) << "answered ping of " << e << " lost";
        }
        for (const auto& e : refused) {
            EXPECT_FALSE(listed.contains(e)) << "ping of " << e << " answered -32000 was applied";
        }
    }
};

// A disk that a test can fill and free again under a running daemon.
struct disk {
    std::string dburl;
    std::function<void(pid_t)> fill;
    std::function<void(pid_t)> free;
};

// Fills the disk under a running daemon, checks what SPEC section 5 asks of it, frees the
// disk, checks that writes resume, then restarts on the same database and checks that every
// answered ping is there and no refused one is.
void full_disk_scenario(disk& d) {
    ledger book;
    {
        daemon_process daemon({"--dburl", d.dburl});
        const auto port = daemon.port();
        for (int i = 0; i < 30; ++i) {
            ASSERT_EQ(book.ping(port, "disk.before", "10.1.0.1", 1000 + i), 0)
                << "the disk is not full yet";
        }

        d.fill(daemon.pid());
        // Pings of new instances with long names: each needs room, which is gone.
        const std::string long_name(200, 'n');
        int refusals = 0;
        for (int i = 0; i < 4000 && refusals < 20; ++i) {
            if (book.ping(port, long_name + std::to_string(i), "10.2.0.1", 1 + i) == -32000) {
                ++refusals;
            }
            if (::testing::Test::HasFailure()) return;
        }
        ASSERT_GE(refusals, 20) << "pings on a full disk must answer -32000";
        EXPECT_EQ(daemon.wait(0ms), -1) << "servreg died on a full disk\n" << daemon.log();
        std::cout << "full disk: " << book.answered.size() << " answered, " << book.refused.size()
                  << " refused, reason: " << book.reasons.front() << std::endl;

        // Reads are answered from memory meanwhile.
        auto x = call(port, "locate_service", {"disk.before"});
        EXPECT_EQ(x.result().size(), 30u) << "locate on a full disk" << x.describe();

        d.free(daemon.pid());
        const bool resumed = book.writes_resume(port, "disk.after", "10.3.0.1", 1, 100ms);
        ASSERT_TRUE(resumed) << "writes must resume by themselves once there is room\n"
                             << daemon.log();

        daemon.signal(SIGTERM);
        ASSERT_EQ(daemon.wait(10s), 0) << daemon.log();
    }
    daemon_process again({"--dburl", d.dburl});
    book.check_against(again.port());
}

TEST(FaultsDisk, FullTmpfsAnswers32000LosesNothingAndRecoversWhenSpaceReturns) {
    tmpfs_mount mnt("4m");
    if (!mnt.mounted()) {
        GTEST_SKIP() << "cannot mount a tmpfs here (" << mnt.mount_error()
                     << "); FaultsDisk.FileSizeLimit... fills the disk another way";
    }
    const std::string filler = mnt.file("filler");
    disk d{"sqlite:///" + mnt.file("reg.db"),
           [&](pid_t) {
               // Everything that is left, in 4 KiB pieces: tmpfs allocates by page.
               std::FILE* f = std::fopen(filler.c_str(), "wb");
               ASSERT_NE(f, nullptr);
               std::vector<char> page(4096, 'x');
               while (std::fwrite(page.data(), 1, page.size(), f) == page.size() &&
                      std::fflush(f) == 0) {
               }
               std::fclose(f);
           },
           [&](pid_t) { std::filesystem::remove(filler); }};
    full_disk_scenario(d);
}

TEST(FaultsDisk, FileSizeLimitAnswers32000LosesNothingAndRecoversWhenLifted) {
    // RLIMIT_FSIZE on the running daemon: no file may grow past its current size, which is
    // how a full disk looks to SQLite, short of the errno. The kernel also sends SIGXFSZ.
    temp_dir dir;
    const std::string db = dir.file("reg.db");
    disk d{"sqlite:///" + db,
           [&](pid_t pid) {
               std::uintmax_t largest = 0;
               for (const auto& f : {db, db + "-wal", db + "-shm"}) {
                   std::error_code ec;
                   const auto size = std::filesystem::file_size(f, ec);
                   if (!ec) largest = std::max(largest, size);
               }
               rlimit limit{static_cast<rlim_t>(largest), RLIM_INFINITY};
               ASSERT_EQ(::prlimit(pid, RLIMIT_FSIZE, &limit, nullptr), 0) << std::strerror(errno);
           },
           [&](pid_t pid) {
               rlimit limit{RLIM_INFINITY, RLIM_INFINITY};
               ASSERT_EQ(::prlimit(pid, RLIMIT_FSIZE, &limit, nullptr), 0) << std::strerror(errno);
           }};
    full_disk_scenario(d);
}

// Makes a file read-only and writable again in a way that binds root too: the immutable
// attribute (chattr +i) for root, whom file modes do not stop, the file mode for others.
class read_only_file {
public:
    explicit read_only_file(std::string path) : path_(std::move(path)) {}
    ~read_only_file() {
        if (set_) set(false);  // an immutable file could not even be deleted
    }
    read_only_file(const read_only_file&) = delete;
    read_only_file& operator=(const read_only_file&) = delete;

    // False, with the reason in why(), when this machine does not allow it.
    bool set(bool read_only) {
        if (::geteuid() != 0) {
            std::error_code ec;
            std::filesystem::permissions(path_,
                                         read_only ? std::filesystem::perms::owner_read
                                                   : std::filesystem::perms::owner_read |
                                                         std::filesystem::perms::owner_write,
                                         ec);
            why_ = ec.message();
            set_ = read_only && !ec;
            return !ec;
        }
        const int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
        int flags = 0;
        bool ok = fd >= 0 && ::ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0;
        if (ok) {
            flags = read_only ? flags | FS_IMMUTABLE_FL : flags & ~FS_IMMUTABLE_FL;
            ok = ::ioctl(fd, FS_IOC_SETFLAGS, &flags) == 0;
        }
        why_ = ok ? "" : "chattr +i: " + std::string(std::strerror(errno));
        if (fd >= 0) ::close(fd);
        set_ = read_only && ok;
        return ok;
    }
    const std::string& why() const { return why_; }

private:
    std::string path_;
    std::string why_;
    bool set_ = false;
};

TEST(FaultsDisk, ReadOnlyDatabaseFileAnswers32000ServesReadsAndRecoversWhenWritable) {
    temp_dir dir;
    const std::string db = dir.file("reg.db");
    const std::string url = "sqlite:///" + db;
    ledger book;
    {
        daemon_process first({"--dburl", url});
        for (int i = 0; i < 10; ++i) {
            ASSERT_EQ(book.ping(first.port(), "ro.before", "10.4.0.1", 100 + i), 0);
        }
        first.signal(SIGTERM);
        ASSERT_EQ(first.wait(10s), 0) << first.log();
    }

    read_only_file ro(db);
    if (!ro.set(true)) GTEST_SKIP() << "cannot make a file read-only here: " << ro.why();
    daemon_process daemon({"--dburl", url});
    const auto port = daemon.port();
    auto located = call(port, "locate_service", {"ro.*"});
    EXPECT_EQ(located.result().size(), 10u)
        << "a read-only database still serves what it holds" << located.describe();
    for (int i = 0; i < 5; ++i) {
        EXPECT_EQ(book.ping(port, "ro.refused", "10.4.0.2", 200 + i), -32000)
            << "a write to a read-only database must answer -32000";
    }
    if (!book.reasons.empty()) {
        EXPECT_NE(book.reasons.front().find("read-only"), std::string::npos)
            << "the reason names the problem: " << book.reasons.front();
    }

    ASSERT_TRUE(ro.set(false)) << ro.why();
    const bool resumed = book.writes_resume(port, "ro.after", "10.4.0.3", 300, 200ms);
    EXPECT_TRUE(resumed) << "writes must resume without a restart once the file is writable\n"
                         << daemon.log();
    daemon.signal(SIGTERM);
    ASSERT_EQ(daemon.wait(10s), 0) << daemon.log();

    daemon_process again({"--dburl", url});
    book.check_against(again.port());
}

TEST(FaultsDisk, DatabaseOnAReadOnlyFilesystemStopsStartUpNamingIt) {
    tmpfs_mount mnt("4m");
    if (!mnt.mounted()) GTEST_SKIP() << "cannot mount a tmpfs here: " << mnt.mount_error();
    const std::string url = "sqlite:///" + mnt.file("reg.db");
    {
        daemon_process first({"--dburl", url});
        ASSERT_EQ(call(first.port(), "ping", {"rofs.a", "10.4.1.1", 1}).result(), true);
        first.signal(SIGTERM);
        ASSERT_EQ(first.wait(10s), 0) << first.log();
    }
    ASSERT_TRUE(mnt.remount(true)) << std::strerror(errno);
    // SQLite cannot open a WAL database where it may not create its -shm file: servreg says so
    // and which database, and exits 1, as for any database it cannot open.
    auto r = run_servreg({"--port", "0", "--dburl", url});
    EXPECT_EQ(r.status, 1) << r.err;
    EXPECT_NE(r.err.find(mnt.file("reg.db")), std::string::npos) << r.err;
    ASSERT_TRUE(mnt.remount(false)) << std::strerror(errno);
}

}  // namespace
}  // namespace servreg::test
