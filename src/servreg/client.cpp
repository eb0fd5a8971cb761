// Wiring of the command-line client: the URL and the exchange from the http layer, the call
// and its presentation from the jsonrpc layer; for watch, the loop and its signals.
#include "servreg/client.h"

#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <thread>

#include "servreg/http/client.h"
#include "servreg/jsonrpc/client.h"

namespace servreg {
namespace {

std::int64_t now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// The registry holds a watch call up to `wait`; the reply may take that long and then some.
constexpr std::chrono::seconds watch_reply_margin{15};

// SIGINT and SIGTERM end servreg watch with status 0, between prints: they stay blocked while
// a change is printed and flushed, so that a reader never gets half of one. What was printed
// is already flushed, so _exit loses nothing.
extern "C" void end_watch(int) {
    ::_exit(jsonrpc::client_status::ok);
}

class print_guard {
public:
    print_guard() {
        sigemptyset(&set_);
        sigaddset(&set_, SIGINT);
        sigaddset(&set_, SIGTERM);
        ::sigprocmask(SIG_BLOCK, &set_, nullptr);
    }
    ~print_guard() { ::sigprocmask(SIG_UNBLOCK, &set_, nullptr); }
    print_guard(const print_guard&) = delete;
    print_guard& operator=(const print_guard&) = delete;

private:
    sigset_t set_{};
};

// Prints `out` and flushes it; false when standard output is gone (a closed pipe).
bool print(const jsonrpc::client_output& out) {
    std::fputs(out.err.c_str(), stderr);
    if (out.out.empty()) return true;
    std::fputs(out.out.c_str(), stdout);
    return std::fflush(stdout) == 0;
}

// The writing end of a pipe whose reader has gone reports POLLERR, which poll(2) gives even when
// asked for nothing: the watch then ends at once with status 0 (`servreg watch ... | head -n 1`)
// instead of at its next print, which never comes while nothing changes. Files and terminals
// never report it.
void end_when_the_reader_goes() {
    std::thread([] {
        pollfd out{STDOUT_FILENO, 0, 0};
        while (::poll(&out, 1, -1) < 0 && errno == EINTR) {
        }
        if ((out.revents & POLLERR) != 0) ::_exit(jsonrpc::client_status::ok);
    }).detach();
}

int run_watch(const config::client_command& cmd, const http::registry_url& url,
              const std::string& prefix) {
    struct sigaction action {};
    action.sa_handler = end_watch;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGINT, &action, nullptr);
    ::sigaction(SIGTERM, &action, nullptr);
    // A reader gone from the pipe fails the next print with EPIPE, which ends the watch with
    // status 0 (below), instead of killing the process as SIGPIPE does by default.
    ::signal(SIGPIPE, SIG_IGN);
    end_when_the_reader_goes();
    http::post_settings settings;
    settings.reply_timeout = cmd.wait + watch_reply_margin;
    std::uint64_t index = 0;
    for (;;) {
        auto reply =
            http::post_json(url, jsonrpc::watch_request(cmd, index), cmd.api_token, settings);
        print_guard guard;
        if (!reply) {
            std::fprintf(stderr, "%scannot reach the registry: %s\n", prefix.c_str(),
                         reply.error().c_str());
            return jsonrpc::client_status::unreachable;
        }
        auto step = jsonrpc::watch_result(cmd, index, reply->status, reply->body, now_ms());
        if (!print(step.output)) {
            // The reader went away (`servreg watch ... | head -n 5`): nothing left to do.
            if (errno == EPIPE) return jsonrpc::client_status::ok;
            std::fprintf(stderr, "%scannot write to standard output: %s\n", prefix.c_str(),
                         std::strerror(errno));
            return jsonrpc::client_status::registry_error;
        }
        if (step.output.status != jsonrpc::client_status::ok) return step.output.status;
        index = step.index;
    }
}

}  // namespace

int run_client(const config::client_command& cmd) {
    const std::string prefix = "servreg " + cmd.verb + ": ";
    auto url = http::parse_registry_url(cmd.registry);
    if (!url) {
        std::fprintf(stderr, "%s--registry: %s\n", prefix.c_str(), url.error().c_str());
        return jsonrpc::client_status::usage;
    }
    if (cmd.verb == "watch") return run_watch(cmd, *url, prefix);
    auto reply = http::post_json(*url, jsonrpc::client_request(cmd), cmd.api_token);
    if (!reply) {
        std::fprintf(stderr, "%scannot reach the registry: %s\n", prefix.c_str(),
                     reply.error().c_str());
        return jsonrpc::client_status::unreachable;
    }
    auto result = jsonrpc::client_result(cmd, reply->status, reply->body, now_ms());
    std::fputs(result.out.c_str(), stdout);
    std::fputs(result.err.c_str(), stderr);
    return result.status;
}

}  // namespace servreg
