// Routing of HTTP requests to the JSON-RPC dispatcher and the operator endpoints.
#pragma once

#include <optional>
#include <string>

#include "servreg/http/message.h"

namespace servreg::jsonrpc {
class dispatcher;
}
namespace servreg::registry {
class service;
}

namespace servreg::http {

class router {
public:
    // `api_token`: when set, writes need the X-Api-Token header with this value.
    router(jsonrpc::dispatcher& rpc, registry::service& svc, std::optional<std::string> api_token);

    // Answers `req` through `respond`, now or later (writes answer after their commit).
    void handle(request req, respond_fn respond) const;

private:
    bool token_matches(const std::optional<std::string>& presented) const noexcept;

    jsonrpc::dispatcher& rpc_;
    registry::service& svc_;
    std::optional<std::string> api_token_;
};

// True when `content_type` is application/json, parameters (such as charset) allowed.
bool is_json_content_type(std::string_view content_type) noexcept;

}  // namespace servreg::http
