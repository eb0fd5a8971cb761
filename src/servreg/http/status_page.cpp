// The status page of GET /: one self-contained HTML document, rendered with the current list so
// that it works without JavaScript; its inline script refreshes it through list_services at
// every event of GET /v1/watch.
#include "servreg/http/status_page.h"

#include <ctime>
#include <string_view>

#include "servreg/registry/address.h"
#include "servreg/version.h"

namespace servreg::http {

// The page's stylesheet and script, status_page.css and status_page.js, embedded at build time
// by servreg_embed_text (cmake/embed.cmake). Everything user-controlled is inserted by the
// script with textContent, never as markup, and by this file through html_escape.
namespace assets {
extern const std::string_view status_page_css;
extern const std::string_view status_page_js;
}  // namespace assets

namespace {

void append_utc(std::string& out, std::int64_t ms) {
    std::time_t secs = static_cast<std::time_t>(ms / 1000);
    std::tm tm{};
    gmtime_r(&secs, &tm);
    char buf[40];
    out.append(buf, std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm));
}

std::string plural(std::size_t n, std::string_view word) {
    return std::to_string(n) + " " + std::string(word) + (n == 1 ? "" : "s");
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
                   hex_value(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

void append_row(std::string& out, const registry::listed_instance& item, std::int64_t now_ms) {
    const auto& r = item.row;
    const std::string_view state = item.state();
    out += "<tr class=\"";
    out += state;
    out += "\"><td class=\"ep\">";
    // host:port, unless the URL says more than http://host:port/api (as the script decides).
    if (!r.url.empty() && r.url != registry::url_of(r.host, r.port)) {
        out += html_escape(r.url);
    } else {
        out += html_escape(r.host);
        out += ':';
        out += std::to_string(r.port);
    }
    out += "</td><td class=\"first\" data-label=\"first seen\">";
    append_utc(out, r.first_seen_ms);
    out += "</td><td class=\"last\" data-label=\"last seen\" data-last=\"";
    out += std::to_string(r.last_seen_ms);
    out += "\" title=\"";
    append_utc(out, r.last_seen_ms);
    out += "\">";
    out += format_age(now_ms - r.last_seen_ms);
    out += "</td><td class=\"state\"><span class=\"badge ";
    out += state;
    out += "\">";
    out += state;
    out += "</span></td></tr>\n";
}

void append_services(std::string& out, const std::vector<registry::listed_instance>& items,
                     std::int64_t now_ms) {
    std::size_t shown = 0;
    for (std::size_t begin = 0; begin < items.size() && shown < status_page_row_limit;) {
        std::size_t end = begin;
        std::size_t alive = 0;
        while (end < items.size() && items[end].row.name == items[begin].row.name) {
            alive += items[end].alive ? 1 : 0;
            ++end;
        }
        const std::string name = html_escape(items[begin].row.name);
        out += "<section class=\"service\" data-name=\"";
        out += name;
        out += "\"><h2><span class=\"name\">";
        out += name;
        out += "</span><span class=\"count\">";
        out += std::to_string(alive);
        out += " alive &middot; ";
        out += std::to_string(end - begin - alive);
        out +=
            " dead</span></h2>\n<table><thead><tr><th>instance</th><th>first seen</th>"
            "<th>last seen</th><th>state</th></tr></thead><tbody>\n";
        for (std::size_t i = begin; i < end && shown < status_page_row_limit; ++i, ++shown) {
            append_row(out, items[i], now_ms);
        }
        out += "</tbody></table></section>\n";
        begin = end;
    }
}

}  // namespace

std::string html_escape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (char c : s) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string format_age(std::int64_t age_ms) {
    const std::int64_t s = age_ms > 0 ? age_ms / 1000 : 0;
    if (s < 60) return std::to_string(s) + " s ago";
    if (s < 3600) return std::to_string(s / 60) + " min ago";
    if (s < 86400) return std::to_string(s / 3600) + " h ago";
    return std::to_string(s / 86400) + " d ago";
}

std::optional<std::string> query_parameter(std::string_view query, std::string_view name) {
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        const auto eq = pair.find('=');
        if (percent_decode(pair.substr(0, eq)) != name) continue;
        return eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1));
    }
    return std::nullopt;
}

std::string render_status_page(const status_snapshot& s) {
    std::size_t alive = 0;
    std::size_t names = 0;
    for (std::size_t i = 0; i < s.instances.size(); ++i) {
        alive += s.instances[i].alive ? 1 : 0;
        if (i == 0 || s.instances[i].row.name != s.instances[i - 1].row.name) ++names;
    }
    const std::size_t dead = s.instances.size() - alive;
    const std::string nonce = html_escape(s.nonce);
    const std::string shown_pattern = s.pattern == "*" ? std::string() : html_escape(s.pattern);
    // The script's periodic refresh: for the last-seen times, which no event of the stream
    // carries, and in place of the stream where there is none.
    constexpr int refresh_seconds = 30;

    std::string out;
    out.reserve(16 * 1024 + s.instances.size() * 400);
    out +=
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        "<meta name=\"color-scheme\" content=\"light dark\">\n"
        "<link rel=\"icon\" href=\"data:,\">\n<title>servreg &middot; ";
    out += std::to_string(alive);
    out += " alive</title>\n";
    // Without JavaScript the page reloads itself instead.
    out += "<noscript><meta http-equiv=\"refresh\" content=\"10\"></noscript>\n<style nonce=\"";
    out += nonce;
    out += "\">\n";
    out += assets::status_page_css;
    out += "</style>\n</head>\n<body data-now=\"";
    out += std::to_string(s.now_ms);
    out += "\" data-ttl=\"";
    out += std::to_string(s.ttl.count());
    out += "\" data-limit=\"";
    out += std::to_string(status_page_row_limit);
    out += "\" data-refresh=\"";
    out += std::to_string(refresh_seconds * 1000);
    out += "\">\n<div class=\"wrap\">\n<header><h1>servreg<small>service registry</small></h1>";
    out += s.database_ok ? "<span id=\"db\" class=\"pill\">database ok</span>"
                         : "<span id=\"db\" class=\"pill bad\">database unavailable: " +
                               html_escape(s.database_reason) + "</span>";
    out +=
        "</header>\n<main>\n<section class=\"summary\" aria-label=\"counts\">"
        "<div class=\"stat\"><b id=\"n-services\">";
    out += std::to_string(names);
    out += "</b><span>services</span></div><div class=\"stat alive\"><b id=\"n-alive\">";
    out += std::to_string(alive);
    out += "</b><span>alive</span></div><div class=\"stat dead\"><b id=\"n-dead\">";
    out += std::to_string(dead);
    out +=
        "</b><span>dead</span></div></section>\n"
        "<form id=\"filter\" method=\"get\" action=\"\" role=\"search\">"
        "<label class=\"q\" for=\"q\">Filter by service name (glob pattern)</label>"
        "<input id=\"q\" name=\"q\" type=\"search\" value=\"";
    out += shown_pattern;
    out +=
        "\" placeholder=\"filter: billing.*  *api*\" autocomplete=\"off\" "
        "autocapitalize=\"off\" spellcheck=\"false\"><button type=\"submit\">Filter</button>"
        "</form>\n<p id=\"status\" class=\"status";
    if (s.pattern_error) {
        out += " error\">Filter &quot;";
        out += html_escape(s.pattern);
        out += "&quot;: ";
        out += html_escape(*s.pattern_error);
    } else {
        out += "\">As of ";
        append_utc(out, s.now_ms);
        out += "; reload to refresh.";
    }
    out += "</p>\n<div id=\"services\">\n";
    append_services(out, s.instances, s.now_ms);
    out += "</div>\n<p id=\"empty\" class=\"note\"";
    if (!s.instances.empty() || s.pattern_error) out += " hidden";
    out += ">No instance matches this filter.</p>\n<p id=\"more\" class=\"note\"";
    if (s.instances.size() <= status_page_row_limit) out += " hidden";
    out += ">Showing " + std::to_string(status_page_row_limit) + " of " +
           std::to_string(s.instances.size()) +
           " instances: narrow the filter to see the others.</p>\n";
    out += "</main>\n<footer>servreg ";
    out += html_escape(servreg::version);
    out += " &middot; alive means pinged within the last ";
    out += plural(static_cast<std::size_t>(s.ttl.count()), "second");
    out +=
        " &middot; <a href=\"metrics\">metrics</a> &middot; <a href=\"health\">health</a>"
        "</footer>\n</div>\n<script nonce=\"";
    out += nonce;
    out += "\">\n";
    out += assets::status_page_js;
    out += "</script>\n</body>\n</html>\n";
    return out;
}

}  // namespace servreg::http
