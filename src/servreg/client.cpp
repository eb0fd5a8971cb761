// Wiring of the command-line client: the URL and the exchange from the http layer, the call
// and its presentation from the jsonrpc layer.
#include "servreg/client.h"

#include <chrono>
#include <cstdio>

#include "servreg/http/client.h"
#include "servreg/jsonrpc/client.h"

namespace servreg {

int run_client(const config::client_command& cmd) {
    const std::string prefix = "servreg " + cmd.verb + ": ";
    auto url = http::parse_registry_url(cmd.registry);
    if (!url) {
        std::fprintf(stderr, "%s--registry: %s\n", prefix.c_str(), url.error().c_str());
        return jsonrpc::client_status::usage;
    }
    auto reply = http::post_json(*url, jsonrpc::client_request(cmd), cmd.api_token);
    if (!reply) {
        std::fprintf(stderr, "%scannot reach the registry: %s\n", prefix.c_str(),
                     reply.error().c_str());
        return jsonrpc::client_status::unreachable;
    }
    const auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count();
    auto result = jsonrpc::client_result(cmd, reply->status, reply->body, now_ms);
    std::fputs(result.out.c_str(), stdout);
    std::fputs(result.err.c_str(), stderr);
    return result.status;
}

}  // namespace servreg
