// GET /v1/watch (SPEC 4.2): watch_service's answer as Server-Sent Events, the current answer
// first and then one event at every change, with a comment line when nothing changed for
// 15 s so that proxies keep the connection.
#pragma once

#include <chrono>
#include <string_view>

#include "servreg/http/message.h"

namespace servreg::registry {
class watch_hub;
}

namespace servreg::http {

// How long the stream may stay silent: a comment line is sent after this.
inline constexpr std::chrono::seconds keep_alive_interval{15};

// The answer to GET /v1/watch with `target` ("/v1/watch?name=billing.*"): 200 with the event
// stream, or 400 with {"error": why} for a bad query. `last_event_id` is the client's
// Last-Event-ID header (empty: none); events run on `resume`, the connection's loop.
response watch_page(registry::watch_hub& hub, std::string_view target,
                    std::string_view last_event_id, const registry::executor* resume);

}  // namespace servreg::http
