// Routing: /api to the JSON-RPC dispatcher (after the content-type and token checks), /health
// from the storage writer's last probe, / the status page, /metrics, /v1/targets, /v1/watch,
// everything else 404.
#include "servreg/http/router.h"

#include <cctype>
#include <random>
#include <string_view>

#include "servreg/http/metrics.h"
#include "servreg/http/status_page.h"
#include "servreg/http/targets.h"
#include "servreg/http/watch_stream.h"
#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/jsonrpc/json_text.h"
#include "servreg/registry/service.h"
#include "servreg/registry/validation.h"
#include "servreg/registry/watch_hub.h"

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

std::string quoted(std::string_view s) {
    std::string out;
    jsonrpc::append_json_string(out, s);
    return out;
}

response json_response(unsigned status, std::string body) {
    response r;
    r.status = status;
    r.body = std::move(body);
    return r;
}

response get_only(std::string_view allow) {
    auto r = json_response(405, R"({"error":"use GET"})");
    r.headers.emplace_back("Allow", std::string(allow));
    return r;
}

// A fresh nonce per page, so that markup slipped into the page could not run a script.
std::string make_nonce() {
    static constexpr char hex[] = "0123456789abcdef";
    std::random_device rd;
    std::string out;
    for (int i = 0; i < 4; ++i) {
        auto v = rd();
        for (int j = 0; j < 8; ++j, v >>= 4) out += hex[v & 0xf];
    }
    return out;
}

}  // namespace

bool is_json_content_type(std::string_view content_type) noexcept {
    auto media = trim(content_type.substr(0, content_type.find(';')));
    return iequals(media, "application/json");
}

router::router(jsonrpc::dispatcher& rpc, registry::service& svc,
               std::optional<std::string> api_token, const metrics* stats,
               std::function<connection_stats()> connections, registry::watch_hub* hub)
    : rpc_(rpc),
      svc_(svc),
      api_token_(std::move(api_token)),
      metrics_(stats),
      connections_(std::move(connections)),
      hub_(hub) {}

bool router::token_matches(const std::optional<std::string_view>& presented) const noexcept {
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
                415, rpc_.invalid_request_body(
                         "Content-Type must be application/json, got " +
                         (req.content_type.empty()
                              ? std::string("none")
                              : "'" + std::string(req.content_type.substr(0, 100)) + "'"))));
        }
        const jsonrpc::request_context ctx{token_matches(req.api_token), req.resume};
        // The dispatcher parses the body before it returns: a view of it is enough.
        return rpc_.handle(req.body, ctx, [respond = std::move(respond)](jsonrpc::reply reply) {
            response r;
            r.label = std::move(reply.label);
            if (reply.has_body) {
                r.body = std::move(reply.body);
            } else {
                r.status = 204;
                r.content_type = {};
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

    if (path == "/") {
        if (req.method != "GET" && req.method != "HEAD") return respond(get_only("GET, HEAD"));
        return respond(status_page(req));
    }

    if (path == "/metrics" && metrics_ != nullptr) {
        if (req.method != "GET" && req.method != "HEAD") return respond(get_only("GET, HEAD"));
        return respond(metrics_page());
    }

    if (path == "/v1/targets") {
        if (req.method != "GET" && req.method != "HEAD") return respond(get_only("GET, HEAD"));
        return respond(targets_page(svc_, req.target));
    }

    if (path == "/v1/watch" && hub_ != nullptr) {
        if (req.method != "GET") return respond(get_only("GET"));
        return respond(watch_page(*hub_, req.target, req.last_event_id, req.resume));
    }

    respond(json_response(404, R"({"error":"not found"})"));
}

response router::status_page(const request& req) const {
    status_snapshot s;
    const auto query_at = req.target.find('?');
    if (query_at != std::string_view::npos) {
        auto q = query_parameter(req.target.substr(query_at + 1), "q");
        if (q && !trim(*q).empty()) s.pattern = std::string(trim(*q));
    }
    s.pattern_error = registry::check_pattern(s.pattern);
    if (!s.pattern_error) s.instances = svc_.list(registry::glob(s.pattern));
    s.now_ms = svc_.time().now_ms();
    s.ttl = svc_.ttl();
    auto h = svc_.health();
    s.database_ok = h.ok;
    s.database_reason = std::move(h.reason);
    s.nonce = make_nonce();

    response r;
    r.content_type = "text/html; charset=utf-8";
    r.body = render_status_page(s);
    r.headers.emplace_back("Content-Security-Policy",
                           "default-src 'none'; script-src 'nonce-" + s.nonce +
                               "'; style-src 'nonce-" + s.nonce +
                               "'; connect-src 'self'; img-src data:; form-action 'self'; "
                               "base-uri 'none'; frame-ancestors 'none'");
    r.headers.emplace_back("X-Content-Type-Options", "nosniff");
    r.headers.emplace_back("Referrer-Policy", "no-referrer");
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

response router::metrics_page() const {
    live_values live;
    // One pass over the list gives both the totals and the per-service counts, at one moment.
    for (const auto& item : svc_.list(registry::glob("*"))) {
        if (live.services.empty() || live.services.back().name != item.row.name) {
            live.services.push_back({item.row.name, 0});
        }
        if (item.alive) {
            ++live.alive;
            ++live.services.back().alive;
        } else {
            ++live.dead;
        }
    }
    live.database_up = svc_.health().ok;
    if (connections_) live.connections = connections_();
    if (hub_ != nullptr) live.watching = hub_->waiting();
    response r;
    r.content_type = metrics::content_type;
    r.body = metrics_->render(live);
    r.headers.emplace_back("Cache-Control", "no-store");
    return r;
}

}  // namespace servreg::http
