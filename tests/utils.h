// Helpers shared by the test files: temporary directories, the real servreg binary started
// on port 0, and a raw-socket HTTP client that can also misbehave on purpose.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

namespace servreg::test {

// A fresh directory under the system temp directory, removed with everything in it.
class temp_dir {
public:
    temp_dir() {
        std::random_device rd;
        path_ = std::filesystem::temp_directory_path() /
                ("servreg-test-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path_);
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::permissions(path_, std::filesystem::perms::owner_all,
                                     std::filesystem::perm_options::add, ec);
        std::filesystem::remove_all(path_, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(const std::string& name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

// How many times `what` occurs in `text` (overlapping occurrences included).
inline std::size_t count_of(const std::string& text, const std::string& what) {
    std::size_t n = 0;
    for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
}

// Calls `probe` every `every` until it returns true: how long that took, or nothing once
// `limit` has passed.
template <class F>
std::optional<std::chrono::milliseconds> wait_until(
    F&& probe, std::chrono::milliseconds limit,
    std::chrono::milliseconds every = std::chrono::milliseconds(10)) {
    const auto start = std::chrono::steady_clock::now();
    const auto since = [&] {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
            std::chrono::steady_clock::now() - start);
    };
    for (;;) {
        if (probe()) return since();
        if (since() > limit) return std::nullopt;
        std::this_thread::sleep_for(every);
    }
}

// Whether `pred` comes true within `limit`, checked every millisecond.
template <class F>
bool eventually(F&& pred, std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    return wait_until(std::forward<F>(pred), limit, std::chrono::milliseconds(1)).has_value();
}

// Starts the servreg binary with `args`, and `env` ("NAME=value") over this process's
// environment; its stdin is /dev/null, its stdout and stderr go to the files named (inherited
// when empty). Everything is prepared before fork(): the tests have threads, and the child may
// only make system calls until it execs.
inline pid_t spawn_servreg(const std::vector<std::string>& args,
                           const std::vector<std::string>& env, const std::string& out_path,
                           const std::string& err_path) {
    std::string bin = SERVREG_BINARY;
    std::vector<std::string> arg_copy = args;
    std::vector<char*> argv{bin.data()};
    for (auto& a : arg_copy) argv.push_back(a.data());
    argv.push_back(nullptr);
    // The given variables first, then the inherited ones they do not replace.
    std::vector<std::string> env_copy = env;
    std::vector<char*> envp;
    for (auto& e : env_copy) envp.push_back(e.data());
    for (char** e = environ; *e != nullptr; ++e) {
        const std::string_view entry(*e);
        const auto name = entry.substr(0, entry.find('=') + 1);
        const bool replaced = std::any_of(env.begin(), env.end(), [&](const std::string& x) {
            return std::string_view(x).substr(0, x.find('=') + 1) == name;
        });
        if (!replaced) envp.push_back(*e);
    }
    envp.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid < 0) throw std::runtime_error("fork failed");
    if (pid == 0) {
        const int in = ::open("/dev/null", O_RDONLY);
        ::dup2(in, 0);
        if (!out_path.empty())
            ::dup2(::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 1);
        if (!err_path.empty())
            ::dup2(::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644), 2);
        ::execve(bin.c_str(), argv.data(), envp.data());
        ::_exit(127);
    }
    return pid;
}

// The real servreg binary, started with `args` (plus --port 0 unless a --port or a
// SERVREG_PORT is given)
// and stopped (SIGKILL) on destruction unless it already exited. Its stderr goes to a file.
class daemon_process {
public:
    explicit daemon_process(std::vector<std::string> args, std::vector<std::string> env = {},
                            bool wait_listening = true)
        : log_path_(dir_.file("stderr.log")) {
        bool has_port = false;
        for (const auto& a : args) has_port |= a.rfind("--port", 0) == 0;
        for (const auto& e : env) has_port |= e.rfind("SERVREG_PORT=", 0) == 0;
        if (!has_port) {
            args.push_back("--port");
            args.push_back("0");
        }
        args_ = args;
        pid_ = spawn_servreg(args, env, "", log_path_);
        if (wait_listening) wait_for_listening();
    }

    ~daemon_process() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    daemon_process(const daemon_process&) = delete;
    daemon_process& operator=(const daemon_process&) = delete;

    // Waits until the daemon logs "listening on http://HOST:PORT/api"; throws with its
    // stderr when it exits or takes longer than `limit`.
    void wait_for_listening(std::chrono::milliseconds limit = std::chrono::seconds(20)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            std::string log = read_file(log_path_);
            auto at = log.find("listening on http://");
            if (at != std::string::npos) {
                auto end = log.find("/api", at);
                auto colon = log.rfind(':', end);
                if (end != std::string::npos && colon != std::string::npos && colon > at) {
                    port_ = static_cast<std::uint16_t>(
                        std::stoi(log.substr(colon + 1, end - colon - 1)));
                    return;
                }
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                status_ = status;
                throw std::runtime_error("servreg exited before listening: " + log);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        throw std::runtime_error("servreg did not start listening: " + read_file(log_path_));
    }

    std::uint16_t port() const { return port_; }
    pid_t pid() const { return pid_; }
    std::string log() const { return read_file(log_path_); }

    void signal(int sig) const { ::kill(pid_, sig); }

    // Waits for the process to exit; returns its exit status, or -1 on timeout, or
    // 128+signal when it was killed.
    int wait(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        if (exited_) return decode(status_);
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                exited_ = true;
                status_ = status;
                return decode(status);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        return -1;
    }

private:
    static int decode(int status) {
        if (WIFEXITED(status)) return WEXITSTATUS(status);
        if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
        return -1;
    }

    temp_dir dir_;
    std::string log_path_;
    std::vector<std::string> args_;
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
    bool exited_ = false;
    int status_ = 0;
};

// Runs servreg with `args` to completion; returns exit status and combined output.
struct run_result {
    int status = -1;
    std::string out;
    std::string err;
};

inline run_result run_servreg(const std::vector<std::string>& args,
                              const std::vector<std::string>& env = {}) {
    temp_dir dir;
    std::string out_path = dir.file("out"), err_path = dir.file("err");
    const pid_t pid = spawn_servreg(args, env, out_path, err_path);
    run_result r;
    int status = 0;
    // Bounded: a daemon that unexpectedly starts is killed after 20 s.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (::waitpid(pid, &status, WNOHANG) != pid) {
        if (std::chrono::steady_clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    r.status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    r.out = read_file(out_path);
    r.err = read_file(err_path);
    return r;
}

// A finished run of servreg for a failure message: the command line, the status and the output.
inline std::string describe(const std::vector<std::string>& args, const run_result& r) {
    std::string cmd = "servreg";
    for (const auto& a : args) cmd += " '" + a + "'";
    return "\n  command: " + cmd + "\n  status: " + std::to_string(r.status) +
           "\n  stdout: " + r.out + "\n  stderr: " + r.err;
}

struct http_reply {
    std::string status_line;  // "HTTP/1.1 200 OK"
    int status = 0;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    bool closed = false;  // the server closed the connection after this reply

    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

// A blocking TCP connection to address:port (an IPv4 or IPv6 literal), with a receive timeout.
class connection {
public:
    explicit connection(std::uint16_t port,
                        std::chrono::milliseconds timeout = std::chrono::seconds(15),
                        const std::string& address = "127.0.0.1") {
        sockaddr_storage addr{};
        socklen_t length = 0;
        auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
        auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
        if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
            v4->sin_family = AF_INET;
            v4->sin_port = htons(port);
            length = sizeof(sockaddr_in);
        } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
            v6->sin6_family = AF_INET6;
            v6->sin6_port = htons(port);
            length = sizeof(sockaddr_in6);
        } else {
            throw std::runtime_error("not an IP address: " + address);
        }
        fd_ = ::socket(addr.ss_family, SOCK_STREAM, 0);
        if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), length) != 0) {
            ::close(fd_);
            fd_ = -1;
            throw std::runtime_error("cannot connect to " + address + " port " +
                                     std::to_string(port));
        }
        int one = 1;
        ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        set_timeout(timeout);
    }
    ~connection() {
        if (fd_ >= 0) ::close(fd_);
    }
    connection(const connection&) = delete;
    connection& operator=(const connection&) = delete;

    void set_timeout(std::chrono::milliseconds timeout) {
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    }

    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            auto n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one HTTP/1.x response (Content-Length or close-delimited bodies; 204/1xx have
    // none). Empty optional when the connection closed or timed out before a status line.
    // `to_head`: the request was HEAD, so the reply has headers only.
    std::optional<http_reply> read_reply(bool to_head = false) {
        http_reply r;
        std::size_t header_end;
        while ((header_end = buffer_.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) return std::nullopt;
        }
        std::string head = buffer_.substr(0, header_end);
        buffer_.erase(0, header_end + 4);
        std::istringstream lines(head);
        std::string line;
        std::getline(lines, line);
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (line.size() < 12) return std::nullopt;
        r.status_line = line;
        r.status = std::stoi(line.substr(9, 3));
        while (std::getline(lines, line)) {
            if (!line.empty() && line.back() == '\r') line.pop_back();
            auto colon = line.find(':');
            if (colon == std::string::npos) continue;
            std::string name = line.substr(0, colon);
            for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
            std::string value = line.substr(colon + 1);
            while (!value.empty() && value.front() == ' ') value.erase(0, 1);
            r.headers[name] = value;
        }
        if (r.status == 100) return read_reply(to_head);
        if (to_head || r.status == 204 || r.status == 304) return r;
        if (r.headers.count("content-length")) {
            auto length = std::stoul(r.headers["content-length"]);
            while (buffer_.size() < length) {
                if (!fill()) return std::nullopt;
            }
            r.body = buffer_.substr(0, length);
            buffer_.erase(0, length);
        } else {
            while (fill()) {
            }
            r.body = std::move(buffer_);
            buffer_.clear();
            r.closed = true;
        }
        if (r.header("connection") == "close") r.closed = true;
        return r;
    }

    // True when the server closed the connection (EOF) within the receive timeout.
    bool closed_by_peer() {
        char c;
        auto n = ::recv(fd_, &c, 1, 0);
        if (n > 0) buffer_.push_back(c);
        return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
    }

    // Waits up to `limit` for the server to close the connection (whatever it sends first);
    // returns how long that took, or nothing when it stayed open.
    std::optional<std::chrono::milliseconds> wait_for_close(std::chrono::milliseconds limit) {
        auto start = std::chrono::steady_clock::now();
        auto deadline = start + limit;
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return std::nullopt;
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
            char chunk[4096];
            auto n = ::recv(fd_, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n > 0) {
                buffer_.append(chunk, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
            return std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - start);
        }
    }

    int fd() const { return fd_; }

private:
    bool fill() {
        char chunk[16384];
        // A signal to the test process (one comes while std::system runs a command, as the
        // database tests do) interrupts a receive with a timeout even under SA_RESTART.
        ssize_t n = 0;
        do {
            n = ::recv(fd_, chunk, sizeof chunk, 0);
        } while (n < 0 && errno == EINTR);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }

    int fd_ = -1;
    std::string buffer_;
};

// A loopback TCP socket on a port of its own that never answers, closed on destruction:
// bound only, so that connections are refused, or listening, so that they wait in the backlog.
class idle_socket {
public:
    explicit idle_socket(bool listening) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        listening_ = listening && bound_ && ::listen(fd_, 8) == 0;
        socklen_t length = sizeof addr;
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &length);
        port_ = ntohs(addr.sin_port);
    }
    ~idle_socket() {
        if (fd_ >= 0) ::close(fd_);
    }
    idle_socket(const idle_socket&) = delete;
    idle_socket& operator=(const idle_socket&) = delete;

    bool bound() const { return bound_; }
    bool listening() const { return listening_; }
    int fd() const { return fd_; }
    std::uint16_t port() const { return port_; }

private:
    int fd_;
    bool bound_ = false;
    bool listening_ = false;
    std::uint16_t port_ = 0;
};

// One POST /api on a new connection. `content_type` empty: no Content-Type header.
inline std::string post_request(std::string_view body,
                                std::string_view content_type = "application/json",
                                std::string_view extra_headers = "", bool keep_alive = true) {
    std::string req = "POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\n";
    if (!content_type.empty()) req += "Content-Type: " + std::string(content_type) + "\r\n";
    req += extra_headers;
    if (!keep_alive) req += "Connection: close\r\n";
    req += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
    req += body;
    return req;
}

inline http_reply post(std::uint16_t port, std::string_view body,
                       std::string_view content_type = "application/json",
                       std::string_view extra_headers = "") {
    connection c(port);
    if (!c.send(post_request(body, content_type, extra_headers, false))) {
        throw std::runtime_error("send failed");
    }
    auto r = c.read_reply();
    if (!r) throw std::runtime_error("no reply to: " + std::string(body));
    return *r;
}

inline http_reply get(std::uint16_t port, std::string_view target) {
    connection c(port);
    c.send("GET " + std::string(target) +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    auto r = c.read_reply();
    if (!r) throw std::runtime_error("no reply to GET " + std::string(target));
    return *r;
}

// One JSON-RPC exchange over HTTP, kept whole so that a failing assertion can print both sides.
struct rpc_exchange {
    std::string request;  // the HTTP body sent
    http_reply reply;
    nlohmann::json body;  // the reply body parsed; discarded (null) when it is not JSON

    // The reply's "result" / "error" member; null when absent or the reply is not an object.
    nlohmann::json result() const { return member("result"); }
    nlohmann::json error() const { return member("error"); }
    nlohmann::json member(const std::string& name) const {
        if (!body.is_object() || !body.contains(name)) return nullptr;
        return body.at(name);
    }

    std::string describe() const {
        std::string out =
            "\n  request: " + request.substr(0, 2000) + "\n  reply: " + reply.status_line +
            " Content-Type: " + reply.header("content-type") + "\n  " + reply.body.substr(0, 2000);
        return out;
    }
};

// POSTs `body` to /api on a new connection and parses the reply.
inline rpc_exchange rpc(std::uint16_t port, std::string body, std::string_view extra_headers = "",
                        std::string_view content_type = "application/json") {
    rpc_exchange x;
    x.request = std::move(body);
    x.reply = post(port, x.request, content_type, extra_headers);
    x.body = nlohmann::json::parse(x.reply.body, nullptr, false);
    return x;
}

// The text of a call `{"jsonrpc": "2.0", "method": ..., "params": ..., "id": ...}`; a null
// `params` leaves the member out.
inline std::string call_text(std::string_view method, const nlohmann::json& params,
                             const nlohmann::json& id = 1) {
    nlohmann::json call = {{"jsonrpc", "2.0"}, {"method", method}, {"id", id}};
    if (!params.is_null()) call["params"] = params;
    return call.dump();
}

inline rpc_exchange call(std::uint16_t port, std::string_view method,
                         const nlohmann::json& params = nullptr,
                         std::string_view extra_headers = "") {
    return rpc(port, call_text(method, params), extra_headers);
}

// A call made on a thread of its own, for one that waits (watch_service): the test goes on
// meanwhile, and asks whether it was answered.
struct pending_call {
    std::future<rpc_exchange> reply;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

    pending_call(std::uint16_t port, std::string method, nlohmann::json params)
        : reply(std::async(std::launch::async,
                           [port, method, params] { return call(port, method, params); })) {}

    bool answered_within(std::chrono::milliseconds limit) {
        return reply.wait_for(limit) == std::future_status::ready;
    }
};

// The --dburl of a SQLite database file in `dir`.
inline std::string sqlite_url(const temp_dir& dir) {
    return "sqlite:///" + dir.file("reg.db");
}

// A daemon with its own temporary directory and SQLite database there (never the default
// servreg.db in the working directory). One per test suite where tests do not interfere.
class registry_daemon {
public:
    explicit registry_daemon(std::vector<std::string> args = {}, std::vector<std::string> env = {})
        : process_(with_database(std::move(args)), std::move(env)) {}

    std::uint16_t port() const { return process_.port(); }
    daemon_process& process() { return process_; }
    const temp_dir& dir() const { return dir_; }
    std::string dburl() const { return sqlite_url(dir_); }

private:
    std::vector<std::string> with_database(std::vector<std::string> args) const {
        args.insert(args.begin(), {"--dburl", dburl()});
        return args;
    }

    temp_dir dir_;
    daemon_process process_;
};

}  // namespace servreg::test
