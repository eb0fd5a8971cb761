// Plain HTTP request and response values, free of Beast, so that routing is a function that
// tests can call without a socket.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace servreg::http {

struct request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // "/api?x=1"
    unsigned version = 11;
    std::string content_type;  // empty when absent
    std::optional<std::string> api_token;
    std::string body;
    std::string remote;  // client address, for logs
};

struct response {
    unsigned status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra headers
    std::string label = "-";  // the JSON-RPC method(s), for the access log
};

// Called exactly once per request, from any thread.
using respond_fn = std::function<void(response)>;

}  // namespace servreg::http
