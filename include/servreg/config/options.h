// The daemon's settings: one value type built from the command line and the environment.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "servreg/config/db_url.h"

namespace servreg::config {

// Limits and timeouts of the HTTP server, in one place (SPEC section 2).
struct server_limits {
    std::size_t body_limit = 1024 * 1024;              // 413 above
    std::size_t header_limit = 8 * 1024;               // 431 above
    std::size_t batch_limit = 1000;                    // -32600 above
    std::chrono::milliseconds header_timeout{10'000};  // headers must be complete within
    std::chrono::milliseconds body_timeout{10'000};  // body must be complete within, after headers
    std::chrono::milliseconds idle_timeout{60'000};  // idle keep-alive connection
    std::size_t max_connections = 10'000;
};

enum class log_level { trace, debug, info, warn, error };

struct options {
    std::string host = "127.0.0.1";
    std::uint16_t port = 5000;
    std::string dburl = "sqlite:///servreg.db";
    database_target database;              // dburl, translated
    std::optional<std::string> accesslog;  // "-" is stdout
    std::chrono::seconds ttl{60};
    unsigned threads = 1;  // defaults to the hardware threads
    log_level level = log_level::info;
    bool strict_jsonrpc = false;
    std::optional<std::string> api_token;
    server_limits limits;
    // The deadline of every database round trip (SPEC section 5).
    std::chrono::milliseconds db_timeout{2000};
    // Instances alive when the registry went down stay alive one TTL after a start (section 5).
    bool restart_grace = true;
};

}  // namespace servreg::config
