// Helpers of the fault-injection and hostile-client tests (tests/test_faults_*.cpp): the
// daemon's memory and descriptors, a well-behaved client that keeps being served while
// others misbehave, descriptor limits, and small tmpfs mounts for a disk that fills up.
#pragma once

#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "utils.h"

namespace servreg::test {

// Sanitizers slow the daemon down and inflate its memory (redzones, quarantine, shadow):
// bounds on time and memory are scaled by this.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
inline constexpr int sanitizer_slack = 4;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
inline constexpr int sanitizer_slack = 4;
#else
inline constexpr int sanitizer_slack = 1;
#endif
#else
inline constexpr int sanitizer_slack = 1;
#endif

// Under the sanitizers resident memory says little (ASan keeps freed memory in quarantine, up
// to 256 MiB; both keep shadow memory): memory bounds are checked in the plain build only.
inline constexpr bool sanitized = sanitizer_slack > 1;

// Resident memory of a process, in KiB (0 when it cannot be read).
inline long rss_kib(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
    }
    return 0;
}

// Open file descriptors of a process.
inline int open_fds(pid_t pid) {
    int n = 0;
    std::error_code ec;
    for (auto it = std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec);
         !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
        ++n;
    }
    return n;
}

// Raises this process's soft limit on descriptors towards `wanted` (children inherit it);
// returns the limit reached.
inline rlim_t raise_fd_limit(rlim_t wanted) {
    rlimit l{};
    ::getrlimit(RLIMIT_NOFILE, &l);
    if (l.rlim_cur < wanted) {
        l.rlim_cur = std::min(wanted, l.rlim_max);
        ::setrlimit(RLIMIT_NOFILE, &l);
        ::getrlimit(RLIMIT_NOFILE, &l);
    }
    return l.rlim_cur;
}

// A client that behaves: on one keep-alive connection it asks locate_service every 50 ms
// while a test misbehaves on other connections, and records what went wrong and the slowest
// answer. SPEC section 2: every hostile client is refused "without harm to other connections".
class bystander {
public:
    explicit bystander(std::uint16_t port) : port_(port), thread_([this] { run(); }) {}
    ~bystander() { stop(); }
    bystander(const bystander&) = delete;
    bystander& operator=(const bystander&) = delete;

    // Stops after at least one request, so that a short test still sees the bystander served.
    void stop() {
        for (int i = 0; i < 500 && requests_.load() == 0; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        stopping_ = true;
        if (thread_.joinable()) thread_.join();
    }

    int requests() const { return requests_.load(); }
    std::chrono::milliseconds slowest() const {
        return std::chrono::milliseconds(slowest_ms_.load());
    }
    std::vector<std::string> failures() const {
        std::lock_guard lock(mutex_);
        return failures_;
    }
    // A one-line account for assertion messages.
    std::string describe() const {
        std::string out = "bystander: " + std::to_string(requests()) + " requests, slowest " +
                          std::to_string(slowest().count()) + " ms";
        for (const auto& f : failures()) out += "\n  " + f;
        return out;
    }

private:
    void run() {
        const std::string request =
            post_request(call_text("locate_service", {"bystander.*"}, "b"), "application/json");
        std::unique_ptr<connection> c;
        while (!stopping_) {
            auto start = std::chrono::steady_clock::now();
            try {
                if (!c) c = std::make_unique<connection>(port_, std::chrono::seconds(10));
                std::optional<http_reply> r;
                if (c->send(request)) r = c->read_reply();
                auto took = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now() - start);
                slowest_ms_ = std::max<long>(slowest_ms_.load(), took.count());
                ++requests_;
                if (!r || r->status != 200 || r->body.find("\"result\":[") == std::string::npos) {
                    fail(r ? r->status_line + " " + r->body.substr(0, 200) : "no reply");
                    c.reset();
                } else if (r->closed) {
                    c.reset();
                }
            } catch (const std::exception& e) {
                fail(e.what());
                c.reset();
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
    }

    void fail(std::string what) {
        std::lock_guard lock(mutex_);
        if (failures_.size() < 20) failures_.push_back(std::move(what));
    }

    std::uint16_t port_;
    std::atomic<bool> stopping_{false};
    std::atomic<int> requests_{0};
    std::atomic<long> slowest_ms_{0};
    mutable std::mutex mutex_;
    std::vector<std::string> failures_;
    std::thread thread_;
};

// A tmpfs of `size` mounted on a fresh directory, unmounted on destruction. Needs root (or
// CAP_SYS_ADMIN); `mount_error()` says why not when it failed.
class tmpfs_mount {
public:
    explicit tmpfs_mount(const std::string& size) : path_(dir_.path() / "mnt") {
        std::filesystem::create_directories(path_);
        const std::string options = "size=" + size + ",mode=0755";
        if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, options.c_str()) == 0) {
            mounted_ = true;
        } else {
            error_ = std::strerror(errno);
        }
    }
    ~tmpfs_mount() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
    }
    tmpfs_mount(const tmpfs_mount&) = delete;
    tmpfs_mount& operator=(const tmpfs_mount&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& mount_error() const { return error_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

    // Remounts read-only or read-write; false (with errno) when the kernel refuses.
    bool remount(bool read_only) {
        const unsigned long flags =
            MS_REMOUNT | (read_only ? static_cast<unsigned long>(MS_RDONLY) : 0UL);
        return ::mount("tmpfs", path_.c_str(), "tmpfs", flags, nullptr) == 0;
    }

private:
    temp_dir dir_;
    std::filesystem::path path_;
    bool mounted_ = false;
    std::string error_;
};

// The "host:port" of every instance list_services reports for `pattern`.
inline std::set<std::string> listed_endpoints(std::uint16_t port, const std::string& pattern) {
    auto x = call(port, "list_services", {pattern});
    std::set<std::string> out;
    if (!x.result().is_array()) {
        ADD_FAILURE() << "list_services failed" << x.describe();
        return out;
    }
    for (const auto& item : x.result()) {
        out.insert(item["host"].get<std::string>() + ":" + std::to_string(item["port"].get<int>()));
    }
    return out;
}

// The error code of a reply, 0 when it succeeded, -1 when it is not JSON-RPC.
inline int error_code(const rpc_exchange& x) {
    if (!x.body.is_object()) return -1;
    if (x.error().is_object()) return x.error().value("code", -1);
    return x.body.contains("result") && !x.result().is_null() ? 0 : -1;
}

}  // namespace servreg::test
