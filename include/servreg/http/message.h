// Plain HTTP request and response values, free of Beast, so that routing is a function that
// tests can call without a socket.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace servreg::registry {
class executor;
}

namespace servreg::http {

// The views point into the connection's buffers: they stay valid while the request is
// routed (the dispatcher parses the body before it returns), not until the reply.
struct request {
    std::string_view method;  // "GET", "POST", ...
    std::string_view target;  // "/api?x=1"
    unsigned version = 11;
    std::string_view content_type;  // empty when absent
    std::optional<std::string_view> api_token;
    std::string body;
    std::string_view remote;  // client address, for logs
    // The connection's event loop, where a write's reply is formatted once it has committed.
    // Null: wherever the write completes (tests without a loop).
    const registry::executor* resume = nullptr;
};

struct response {
    unsigned status = 200;
    std::string_view content_type = "application/json";  // a literal: it outlives the reply
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
    std::string label = "-";  // the JSON-RPC method(s), for the access log
};

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(response)>;

}  // namespace servreg::http
