// The access log's line format and its writer thread.
#include "servreg/http/access_log.h"

#include <ctime>
#include <stdexcept>
#include <utility>

namespace servreg::http {
namespace {

constexpr std::size_t max_queued_lines = 100'000;

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
    if (file_ == nullptr) throw std::runtime_error("cannot open access log " + path_);
    thread_ = std::thread([this] { run(); });
}

access_log::~access_log() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
    if (file_ != nullptr && file_ != stdout) std::fclose(file_);
}

void access_log::open_file() {
    if (path_ == "-") {
        file_ = stdout;
        return;
    }
    std::FILE* f = std::fopen(path_.c_str(), "a");
    if (f == nullptr) return;  // keep writing to the old file, if any
    if (file_ != nullptr && file_ != stdout) std::fclose(file_);
    file_ = f;
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
    for (;;) {
        bool reopen = false;
        bool stopping = false;
        std::size_t dropped = 0;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || reopen_ || !queue_.empty(); });
            batch.swap(queue_);
            reopen = std::exchange(reopen_, false);
            dropped = std::exchange(dropped_, 0);
            stopping = stopping_;
        }
        for (const auto& line : batch) std::fwrite(line.data(), 1, line.size(), file_);
        if (dropped > 0)
            std::fprintf(file_, "# %zu access log lines dropped: the disk was too slow\n", dropped);
        std::fflush(file_);
        batch.clear();
        if (reopen) open_file();
        if (stopping) return;
    }
}

}  // namespace servreg::http
