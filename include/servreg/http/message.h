// Plain HTTP request and response values, free of Beast, so that routing is a function that
// tests can call without a socket.
#pragma once

#include <functional>
#include <memory>
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
    std::string_view last_event_id;  // a reconnecting event-stream client's, empty when absent
    std::string body;
    std::string_view remote;  // client address, for logs
    // The connection's event loop, where a write's reply is formatted once it has committed.
    // Null: wherever the write completes (tests without a loop).
    const registry::executor* resume = nullptr;
};

// A body without an end (Server-Sent Events), written chunk by chunk: the connection asks for
// the next chunk once the previous one has left, and cancels when it closes.
class body_stream {
public:
    virtual ~body_stream() = default;
    // Calls `deliver` once with the next chunk, on the connection's event loop (the request's
    // `resume`), unless cancel() comes first.
    virtual void next(std::function<void(std::string)> deliver) = 0;
    virtual void cancel() noexcept = 0;
};

struct response {
    unsigned status = 200;
    std::string_view content_type = "application/json";  // a literal: it outlives the reply
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
    std::string label = "-";  // the JSON-RPC method(s), for the access log
    // Set: `body` is empty, the connection writes the stream's chunks until either side ends
    // it, and then closes.
    std::shared_ptr<body_stream> stream;
};

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(response)>;

}  // namespace servreg::http
