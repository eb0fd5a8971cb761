// JSON-RPC 2.0 over the registry: request bytes in, reply bytes out (asynchronously, since
// writes complete when their transaction commits). The one place where failures become
// error replies.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace servreg::registry {
class executor;
class service;
class watch_hub;
struct watch_answer;
}  // namespace servreg::registry

namespace servreg::jsonrpc {

// Error codes of SPEC section 3.
namespace error_code {
inline constexpr int parse_error = -32700;
inline constexpr int invalid_request = -32600;
inline constexpr int method_not_found = -32601;
inline constexpr int invalid_params = -32602;
inline constexpr int internal_error = -32603;
inline constexpr int storage_unavailable = -32000;
inline constexpr int access_denied = -32001;
}  // namespace error_code

enum class reply_style {
    compatible,  // both "result" and "error", the unused one null (pymicroservice, gemstone)
    strict,      // exactly one of them (tinyrpc and other strict clients)
};

struct settings {
    reply_style style = reply_style::compatible;
    std::size_t batch_limit = 1000;
    std::size_t max_depth = 64;  // JSON nesting, deeper is refused before parsing
    // A call in the shape every client sends (ping and locate_service above all) is read
    // without a JSON document; off, every body goes through nlohmann/json (the replies are the
    // same either way).
    bool flat_path = true;
    // get_service_specs reports these.
    std::string host;
    std::uint16_t port = 0;
    unsigned max_parallel_blocking_tasks = 1;
};

// Per call: the method ("ping", ... or "other" for unknown names, "-" when the request was
// not a call), the error code (0 on success), and how long the call took.
using call_observer =
    std::function<void(std::string_view method, int code, std::chrono::nanoseconds duration)>;

struct request_context {
    bool write_allowed = true;  // false when --api-token is set and the header is missing or wrong
    // The caller's event loop: a write's completion, and so its reply and the rest of its
    // batch, runs there. Null: on the storage writer's thread.
    const registry::executor* resume = nullptr;
    bool in_batch = false;  // a call in a batch never waits (watch_service)
};

struct reply {
    bool has_body = true;  // false: every call was a notification (HTTP 204)
    std::string body;
    std::string label;  // for the access log: "ping", "batch(3)", or "-"
};

// {"index": N, "instances": [...]}: watch_service's result, and each event of GET /v1/watch.
std::string watch_answer_json(const registry::watch_answer& answer);

class dispatcher {
public:
    using done_fn = std::function<void(reply)>;

    // `hub` answers watch_service (null: watch_service answers -32601).
    dispatcher(registry::service& svc, settings s, call_observer observer = {},
               registry::watch_hub* hub = nullptr);
    ~dispatcher();
    dispatcher(const dispatcher&) = delete;
    dispatcher& operator=(const dispatcher&) = delete;

    // Handles one HTTP body. `done` runs exactly once: on this thread, or once a write has
    // committed, on `ctx.resume` (the storage writer's thread when null). It must not block.
    // Never throws.
    void handle(std::string_view body, const request_context& ctx, done_fn done) noexcept;

    // The reply for a request refused before it reached the dispatcher (wrong content type):
    // -32600 with "id": null and `data`.
    std::string invalid_request_body(std::string_view data) const;

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

}  // namespace servreg::jsonrpc
