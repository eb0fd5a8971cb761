// Routing of HTTP requests to the JSON-RPC dispatcher and the operator endpoints.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "servreg/http/message.h"
#include "servreg/http/server.h"

namespace servreg::jsonrpc {
class dispatcher;
}
namespace servreg::registry {
class service;
class watch_hub;
}  // namespace servreg::registry

namespace servreg::http {

class metrics;

class router {
public:
    // `api_token`: when set, writes need the X-Api-Token header with this value.
    // `stats` (may be null) serves GET /metrics, with the connection counts from `connections`;
    // `hub` (may be null) serves GET /v1/watch.
    router(jsonrpc::dispatcher& rpc, registry::service& svc, std::optional<std::string> api_token,
           const metrics* stats = nullptr, std::function<connection_stats()> connections = {},
           registry::watch_hub* hub = nullptr);

    // Answers `req` through `respond`, now or later (writes answer after their commit).
    void handle(request req, respond_fn respond) const;

private:
    bool token_matches(const std::optional<std::string_view>& presented) const noexcept;
    response status_page(const request& req) const;
    response metrics_page() const;

    jsonrpc::dispatcher& rpc_;
    registry::service& svc_;
    std::optional<std::string> api_token_;
    const metrics* metrics_;
    std::function<connection_stats()> connections_;
    registry::watch_hub* hub_;
};

// True when `content_type` is application/json, parameters (such as charset) allowed.
bool is_json_content_type(std::string_view content_type) noexcept;

}  // namespace servreg::http
