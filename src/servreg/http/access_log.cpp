// The access log's line format and its writer thread, which polls before each chunk so that a
// pipe nobody reads (a stuck stdout consumer, a FIFO) cannot hold it past shutdown.
#include "servreg/http/access_log.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <climits>
#include <ctime>
#include <optional>
#include <stdexcept>
#include <utility>

namespace servreg::http {
namespace {

constexpr std::size_t max_queued_lines = 100'000;
// How long the lines still queued at shutdown may take to write before they are given up.
constexpr std::chrono::milliseconds shutdown_grace{1000};

// Request-controlled text goes into a quoted field: escape what would break the line.
void append_escaped(std::string& out, std::string_view s) {
    static constexpr char hex[] = "0123456789abcdef";
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += ch;
        } else if (c < 0x20 || c == 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 0xf];
        } else {
            out += ch;
        }
    }
}

void append_field(std::string& out, std::string_view s) {
    out += '"';
    if (s.empty()) {
        out += '-';
    } else {
        append_escaped(out, s);
    }
    out += '"';
}

}  // namespace

std::string format_access_line(const access_entry& e, std::int64_t unix_seconds) {
    std::string out;
    out.reserve(200);
    out += e.remote.empty() ? std::string_view("-") : e.remote;
    out += " - - [";
    std::time_t t = static_cast<std::time_t>(unix_seconds);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char when[40];
    out.append(when, std::strftime(when, sizeof when, "%d/%b/%Y:%H:%M:%S +0000", &tm));
    out += "] \"";
    if (e.method.empty()) {
        out += '-';
    } else {
        append_escaped(out, e.method);
        out += ' ';
        append_escaped(out, e.target);
        out += e.version == 10 ? " HTTP/1.0" : " HTTP/1.1";
    }
    out += "\" ";
    out += std::to_string(e.status);
    out += ' ';
    out += e.bytes == 0 ? std::string("-") : std::to_string(e.bytes);
    out += ' ';
    append_field(out, e.referer);
    out += ' ';
    append_field(out, e.user_agent);
    out += ' ';
    out += std::to_string(e.duration_us);
    out += ' ';
    out += e.label.empty() ? std::string_view("-") : e.label;
    return out;
}

access_log::access_log(std::string path) : path_(std::move(path)) {
    open_file();
    if (fd_ < 0) throw std::runtime_error("cannot open access log " + path_);
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "servreg-log");
        run();
    });
}

access_log::~access_log() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
        stop_requested_.store(true);
    }
    wake_.notify_one();
    thread_.join();
    if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
}

void access_log::open_file() {
    if (path_ == "-") {
        fd_ = STDOUT_FILENO;
        return;
    }
    // O_NONBLOCK only for the open itself: a FIFO without a reader must not hang it.
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0) return;  // keep writing to the old file, if any
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    if (fd_ >= 0 && fd_ != STDOUT_FILENO) ::close(fd_);
    fd_ = fd;
}

// Writes in chunks no larger than PIPE_BUF once poll() says there is room: a pipe then never
// blocks the write itself, and the thread can notice a shutdown. On a file, poll() is always
// ready and this is a plain write.
void access_log::write_out(std::string_view bytes) {
    using steady = std::chrono::steady_clock;
    std::optional<steady::time_point> give_up;
    while (!bytes.empty()) {
        if (stop_requested_.load() && !give_up) give_up = steady::now() + shutdown_grace;
        if (give_up && steady::now() >= *give_up) return;
        pollfd p{fd_, POLLOUT, 0};
        const int ready = ::poll(&p, 1, 100);
        if (ready < 0 && errno != EINTR) return;
        if (ready <= 0) continue;
        if ((p.revents & (POLLERR | POLLNVAL)) != 0) return;
        const std::size_t chunk = std::min<std::size_t>(bytes.size(), PIPE_BUF);
        const ssize_t n = ::write(fd_, bytes.data(), chunk);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            return;  // disk full, pipe closed: the lines are lost, the server goes on
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

void access_log::write(const access_entry& e) {
    using namespace std::chrono;
    auto now = duration_cast<seconds>(system_clock::now().time_since_epoch()).count();
    std::string line = format_access_line(e, now);
    line += '\n';
    {
        std::lock_guard lock(mutex_);
        if (queue_.size() >= max_queued_lines) {
            ++dropped_;
            return;
        }
        queue_.push_back(std::move(line));
        // While the thread is busy it looks at the queue again by itself.
        if (!std::exchange(sleeping_, false)) return;
    }
    wake_.notify_one();
}

void access_log::reopen() noexcept {
    {
        std::lock_guard lock(mutex_);
        reopen_ = true;
    }
    wake_.notify_one();
}

void access_log::run() {
    std::deque<std::string> batch;
    std::string out;
    for (;;) {
        bool reopen = false;
        bool stopping = false;
        std::size_t dropped = 0;
        {
            std::unique_lock lock(mutex_);
            while (!stopping_ && !reopen_ && queue_.empty()) {
                sleeping_ = true;
                wake_.wait(lock);
                sleeping_ = false;
            }
            batch.swap(queue_);
            reopen = std::exchange(reopen_, false);
            dropped = std::exchange(dropped_, 0);
            stopping = stopping_;
        }
        out.clear();
        for (const auto& line : batch) out += line;
        if (dropped > 0) {
            out += "# " + std::to_string(dropped) +
                   " access log lines dropped: the log could not keep up\n";
        }
        write_out(out);
        batch.clear();
        if (reopen) open_file();
        if (stopping) return;
    }
}

}  // namespace servreg::http
