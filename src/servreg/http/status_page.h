// The HTML status page of GET /: what it shows, rendered on the server so that it works
// without JavaScript; its script then keeps it fresh through list_services.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/registry/service.h"

namespace servreg::http {

struct status_snapshot {
    std::vector<registry::listed_instance> instances;  // ordered by name, host, port
    std::int64_t now_ms = 0;
    std::chrono::seconds ttl{60};
    std::string pattern = "*";                 // the filter, as the user typed it
    std::optional<std::string> pattern_error;  // the filter is not a valid pattern
    bool database_ok = true;
    std::string database_reason;
    std::string nonce;  // of the page's inline style and script (Content-Security-Policy)
};

// At most this many instances are rendered; the page says how many more matched.
inline constexpr std::size_t status_page_row_limit = 2000;

std::string render_status_page(const status_snapshot& s);

// The text for a last-seen age: "12 s ago", "3 min ago", "5 h ago", "2 d ago".
std::string format_age(std::int64_t age_ms);

// `s` with & < > " ' replaced by character references, safe in text and quoted attributes.
std::string html_escape(std::string_view s);

// The value of `name` in a URL query ("q=billing.%2A&x=1"), percent-decoded with + as space.
std::optional<std::string> query_parameter(std::string_view query, std::string_view name);

}  // namespace servreg::http
