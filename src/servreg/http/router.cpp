// Routing: /api to the JSON-RPC dispatcher (after the content-type and token checks), /health
// from the storage writer's last probe, everything else 404.
#include "servreg/http/router.h"

#include <cctype>
#include <string_view>

#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/registry/service.h"

namespace servreg::http {
namespace {

bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    }
    return true;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

// Minimal JSON string escaping for the few hand-built bodies here.
std::string quoted(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (static_cast<unsigned char>(c) < 0x20) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out + '"';
}

response json_response(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

}  // namespace

bool is_json_content_type(std::string_view content_type) noexcept {
    auto media = trim(content_type.substr(0, content_type.find(';')));
    return iequals(media, "application/json");
}

router::router(jsonrpc::dispatcher& rpc, registry::service& svc,
               std::optional<std::string> api_token)
    : rpc_(rpc), svc_(svc), api_token_(std::move(api_token)) {}

bool router::token_matches(const std::optional<std::string>& presented) const noexcept {
    if (!api_token_) return true;
    if (!presented) return false;
    // Constant time in the token's content: every byte is compared whatever the first
    // difference, so response timing does not reveal a matching prefix.
    const std::string& expected = *api_token_;
    unsigned char diff = presented->size() == expected.size() ? 0 : 1;
    for (std::size_t i = 0; i < expected.size(); ++i) {
        unsigned char p = i < presented->size() ? static_cast<unsigned char>((*presented)[i]) : 0;
        diff |= static_cast<unsigned char>(p ^ static_cast<unsigned char>(expected[i]));
    }
    return diff == 0;
}

void router::handle(request req, respond_fn respond) const {
    std::string_view path = req.target;
    path = path.substr(0, path.find('?'));

    if (path == "/api") {
        if (req.method != "POST") {
            auto r = json_response(405, R"({"error":"use POST for JSON-RPC requests"})");
            r.headers.emplace_back("Allow", "POST");
            return respond(std::move(r));
        }
        if (!is_json_content_type(req.content_type)) {
            return respond(json_response(
                415,
                rpc_.invalid_request_body("Content-Type must be application/json, got " +
                                          (req.content_type.empty()
                                               ? std::string("none")
                                               : "'" + req.content_type.substr(0, 100) + "'"))));
        }
        jsonrpc::request_context ctx{token_matches(req.api_token)};
        // The dispatcher parses the body before it returns: a view of it is enough.
        return rpc_.handle(req.body, ctx, [respond](jsonrpc::reply reply) {
            response r;
            r.label = std::move(reply.label);
            if (reply.has_body) {
                r.body = std::move(reply.body);
            } else {
                r.status = 204;
                r.content_type.clear();
            }
            respond(std::move(r));
        });
    }

    if (path == "/health") {
        if (req.method != "GET" && req.method != "HEAD") {
            auto r = json_response(405, R"({"error":"use GET"})");
            r.headers.emplace_back("Allow", "GET, HEAD");
            return respond(std::move(r));
        }
        auto h = svc_.health();
        if (h.ok) return respond(json_response(200, R"({"status":"ok"})"));
        return respond(
            json_response(503, "{\"status\":\"unavailable\",\"reason\":" + quoted(h.reason) + "}"));
    }

    respond(json_response(404, R"({"error":"not found"})"));
}

}  // namespace servreg::http
