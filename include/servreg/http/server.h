// The HTTP/1.1 server: listener, sessions, limits and graceful shutdown, on Boost.Beast.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "servreg/config/options.h"

namespace servreg::http {

class router;
class access_log;

struct server_settings {
    std::string host = "127.0.0.1";
    std::uint16_t port = 5000;  // 0 picks a free port
    unsigned threads = 1;
    config::server_limits limits;
};

// Connection counts, for /metrics.
struct connection_stats {
    std::uint64_t open = 0;
    std::uint64_t accepted = 0;
    std::uint64_t refused = 0;  // over --max-connections or out of file descriptors
};

class server {
public:
    // Binds and listens. Throws std::runtime_error naming the address when it cannot.
    // `log` may be null.
    server(server_settings settings, access_log* log);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // The address actually bound, as "http://HOST:PORT/api".
    std::string url() const;
    std::uint16_t port() const;

    // Serves `routes` on the I/O threads until SIGTERM, SIGINT or stop(); then stops
    // accepting, finishes the requests in flight (for at most 4 s), and returns. SIGHUP calls
    // `on_hangup` on an I/O thread. `on_stop`, once accepting has stopped and every connection
    // was told to finish, answers what would otherwise wait (watch_service's calls).
    void run(const router& routes, std::function<void()> on_hangup,
             std::function<void()> on_stop = {});

    // Asks run() to return, as SIGTERM does. Thread-safe.
    void stop() noexcept;

    connection_stats stats() const noexcept;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace servreg::http
