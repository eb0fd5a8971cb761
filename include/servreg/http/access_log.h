// The access log: Combined Log Format plus duration and JSON-RPC method, written by its own
// thread so that a slow disk never stalls an I/O thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>

namespace servreg::http {

struct access_entry {
    std::string_view remote;
    std::string_view method;  // empty when the request line was not read
    std::string_view target;
    unsigned version = 11;
    unsigned status = 0;
    std::size_t bytes = 0;  // response body bytes
    std::string_view referer;
    std::string_view user_agent;
    std::int64_t duration_us = 0;
    std::string_view label;  // "ping", "batch(3)", "-"
};

// Formats one line (without the newline), the time being `unix_seconds`.
std::string format_access_line(const access_entry& e, std::int64_t unix_seconds);

class access_log {
public:
    // `path` is a file opened for appending, or "-" for stdout. Throws std::runtime_error
    // naming the path when it cannot be opened.
    explicit access_log(std::string path);
    ~access_log();
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    // Queues a line. Never blocks on the disk; drops lines when far behind.
    void write(const access_entry& e);

    // Reopens the file on the writer thread (SIGHUP, after logrotate renamed it).
    void reopen() noexcept;

private:
    void run();
    void open_file();
    void write_out(std::string_view bytes);

    std::string path_;
    int fd_ = -1;  // stdout's for "-"
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::string> queue_;
    std::size_t dropped_ = 0;
    bool reopen_ = false;
    bool stopping_ = false;
    bool sleeping_ = false;  // the thread waits on wake_: only then does write() notify
    // Set with stopping_; read without the lock by a write stuck on a pipe nobody reads.
    std::atomic<bool> stop_requested_{false};
    std::thread thread_;
};

}  // namespace servreg::http
