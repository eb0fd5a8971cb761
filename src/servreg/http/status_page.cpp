// The status page of GET /: one self-contained HTML document, rendered with the current list so
// that it works without JavaScript; its inline script refreshes it through list_services.
#include "servreg/http/status_page.h"

#include <ctime>
#include <string_view>

#include "servreg/version.h"

namespace servreg::http {
namespace {

// Everything user-controlled is inserted with textContent by the script, never as markup.
constexpr std::string_view style = R"css(
:root{--bg:#f5f6f8;--card:#fff;--text:#1c2128;--muted:#5e6977;--line:#e2e6eb;--head:#fafbfc;
--alive:#1a7f37;--alive-bg:#dcf5e3;--dead:#b42318;--dead-bg:#fde7e6;--accent:#2457c5;
--mono:ui-monospace,"SFMono-Regular","DejaVu Sans Mono",Menlo,Consolas,monospace}
@media (prefers-color-scheme:dark){:root{--bg:#0f1216;--card:#171b21;--text:#e6e9ed;
--muted:#98a2b0;--line:#2a3038;--head:#1b2027;--alive:#56d37a;--alive-bg:#143420;
--dead:#ff8a80;--dead-bg:#3d1a18;--accent:#7aa7ff}}
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%;text-size-adjust:100%}
body{margin:0;background:var(--bg);color:var(--text);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue","DejaVu Sans",Arial,sans-serif}
.wrap{max-width:1000px;margin:0 auto;padding:20px 16px}
header{display:flex;align-items:center;justify-content:space-between;gap:10px;flex-wrap:wrap;
margin-bottom:16px}
h1{font-size:22px;margin:0;letter-spacing:-.01em}
h1 small{font-size:13px;font-weight:400;color:var(--muted);margin-left:8px;letter-spacing:0}
.pill{display:inline-flex;align-items:center;gap:7px;font-size:13px;font-weight:600;
padding:4px 11px;border-radius:999px;background:var(--alive-bg);color:var(--alive);
max-width:100%;overflow-wrap:anywhere}
.pill::before{content:"";flex:none;width:8px;height:8px;border-radius:50%;background:currentColor}
.pill.bad{background:var(--dead-bg);color:var(--dead)}
.summary{display:grid;grid-template-columns:repeat(3,1fr);gap:10px;margin-bottom:16px}
.stat{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:10px 14px}
.stat b{display:block;font-size:26px;line-height:1.2;font-variant-numeric:tabular-nums}
.stat span{color:var(--muted);font-size:13px}
.stat.alive b{color:var(--alive)}
.stat.dead b{color:var(--dead)}
form{display:flex;gap:8px;margin-bottom:8px}
label.q{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}
input{flex:1;min-width:0;font:15px var(--mono);padding:9px 11px;border:1px solid var(--line);
border-radius:8px;background:var(--card);color:var(--text)}
input:focus{outline:2px solid var(--accent);outline-offset:-1px}
button{font:inherit;font-weight:600;padding:9px 16px;border-radius:8px;border:0;
background:var(--accent);color:#fff;cursor:pointer}
.status{color:var(--muted);font-size:13px;margin:0 0 16px;min-height:1.45em}
.status.error,.note.error{color:var(--dead)}
.service{background:var(--card);border:1px solid var(--line);border-radius:10px;
margin-bottom:12px;overflow:hidden}
.service h2{display:flex;justify-content:space-between;align-items:baseline;gap:4px 12px;
flex-wrap:wrap;margin:0;padding:10px 14px;font-size:15px;background:var(--head);
border-bottom:1px solid var(--line)}
.service h2 .name{font-family:var(--mono);overflow-wrap:anywhere}
.service h2 .count{font-size:13px;font-weight:400;color:var(--muted);white-space:nowrap}
table{width:100%;border-collapse:collapse;table-layout:fixed}
th:nth-child(1){width:34%}
th:nth-child(2){width:30%}
th:nth-child(3){width:22%}
th,td{text-align:left;padding:8px 14px;border-bottom:1px solid var(--line);vertical-align:top}
tbody tr:last-child td{border-bottom:0}
th{font-size:12px;font-weight:600;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
td{font-size:14px}
td.ep{font-family:var(--mono);overflow-wrap:anywhere}
td.first,td.last{white-space:nowrap;font-variant-numeric:tabular-nums}
th:last-child,td.state{white-space:nowrap;text-align:right}
tr.dead td.ep,tr.dead td.first,tr.dead td.last{color:var(--muted)}
.badge{display:inline-block;font-size:12px;font-weight:600;padding:2px 9px;border-radius:999px}
.badge.alive{background:var(--alive-bg);color:var(--alive)}
.badge.dead{background:var(--dead-bg);color:var(--dead)}
.note{color:var(--muted);text-align:center;padding:28px 12px;background:var(--card);
border:1px dashed var(--line);border-radius:10px;margin-bottom:12px}
footer{color:var(--muted);font-size:12px;text-align:center;margin-top:20px}
footer a{color:inherit}
[hidden]{display:none!important}
@media (max-width:600px){
.wrap{padding:14px 10px}
.stat{padding:8px 10px}
.stat b{font-size:22px}
thead{display:none}
table,tbody{display:block}
tr{display:grid;grid-template-columns:1fr auto;gap:2px 10px;padding:9px 14px;
border-bottom:1px solid var(--line)}
tbody tr:last-child{border-bottom:0}
td{display:block;padding:0;border:0}
td.ep{grid-column:1;grid-row:1;font-weight:600}
td.state{grid-column:2;grid-row:1}
td.first,td.last{grid-column:1/3;font-size:13px;white-space:normal}
td.first::before,td.last::before{content:attr(data-label) " ";color:var(--muted)}
}
)css";

constexpr std::string_view script = R"js(
"use strict";
(() => {
  const body = document.body;
  const limit = Number(body.dataset.limit);
  const refreshMs = Number(body.dataset.refresh);
  const skew = Number(body.dataset.now) - Date.now();  // the server's clock minus ours
  const $ = (id) => document.getElementById(id);
  const input = $("q"), services = $("services"), status = $("status");
  let updated = null, failure = null, sequence = 0, timer = null;

  const ago = (ms) => {
    const s = Math.max(0, Math.floor(ms / 1000));
    if (s < 60) return s + " s ago";
    if (s < 3600) return Math.floor(s / 60) + " min ago";
    if (s < 86400) return Math.floor(s / 3600) + " h ago";
    return Math.floor(s / 86400) + " d ago";
  };
  const utc = (ms) => new Date(ms).toISOString().slice(0, 19).replace("T", " ") + " UTC";
  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    return e;
  };
  const pattern = () => input.value.trim() || "*";

  function row(item) {
    const tr = el("tr", item.alive ? "alive" : "dead");
    const first = Date.parse(item.first_seen), last = Date.parse(item.last_seen);
    const ep = el("td", "ep", item.host + ":" + item.port);
    const f = el("td", "first", utc(first));
    f.dataset.label = "first seen";
    const l = el("td", "last", ago(Date.now() + skew - last));
    l.dataset.label = "last seen";
    l.dataset.last = String(last);
    l.title = utc(last);
    const st = el("td", "state");
    st.append(el("span", "badge " + (item.alive ? "alive" : "dead"), item.alive ? "alive" : "dead"));
    tr.append(ep, f, l, st);
    return tr;
  }

  function render(items) {
    const groups = new Map();
    let alive = 0;
    for (const item of items) {
      if (!groups.has(item.name)) groups.set(item.name, []);
      groups.get(item.name).push(item);
      if (item.alive) alive++;
    }
    const out = document.createDocumentFragment();
    let shown = 0;
    for (const [name, list] of groups) {
      if (shown >= limit) break;
      const up = list.filter((i) => i.alive).length;
      const section = el("section", "service");
      section.dataset.name = name;
      const h = el("h2");
      h.append(el("span", "name", name),
               el("span", "count", up + " alive \u00b7 " + (list.length - up) + " dead"));
      const table = el("table");
      const head = el("thead"), hr = el("tr");
      for (const t of ["instance", "first seen", "last seen", "state"]) hr.append(el("th", null, t));
      head.append(hr);
      const tbody = el("tbody");
      for (const item of list) {
        if (shown++ >= limit) break;
        tbody.append(row(item));
      }
      table.append(head, tbody);
      section.append(h, table);
      out.append(section);
    }
    services.replaceChildren(out);
    $("n-services").textContent = groups.size;
    $("n-alive").textContent = alive;
    $("n-dead").textContent = items.length - alive;
    $("empty").hidden = items.length > 0;
    const more = $("more");
    more.hidden = items.length <= limit;
    more.textContent = "Showing " + limit + " of " + items.length +
                       " instances: narrow the filter to see the others.";
    document.title = "servreg \u00b7 " + alive + " alive";
  }

  function showStatus() {
    status.classList.toggle("error", failure !== null);
    if (failure !== null) {
      status.textContent = failure;
    } else if (updated !== null) {
      status.textContent = "Live \u00b7 updated " + ago(Date.now() - updated) +
                           " \u00b7 refreshes every " + refreshMs / 1000 + " s";
    }
  }

  function tick() {
    const now = Date.now() + skew;
    for (const td of services.querySelectorAll("td[data-last]")) {
      td.textContent = ago(now - Number(td.dataset.last));
    }
    showStatus();
  }

  async function refresh() {
    const mine = ++sequence;
    const call = {jsonrpc: "2.0", method: "list_services", params: [pattern()], id: mine};
    try {
      const reply = await fetch("api", {
        method: "POST", cache: "no-store",
        headers: {"Content-Type": "application/json"}, body: JSON.stringify(call)
      }).then((r) => r.json());
      if (mine !== sequence) return;  // a newer refresh is under way
      if (reply.error) {
        const why = reply.error.data || reply.error.message;
        failure = "Filter " + JSON.stringify(pattern()) + ": " + why;
        services.replaceChildren();
        $("empty").hidden = true;
        $("more").hidden = true;
      } else {
        failure = null;
        updated = Date.now();
        render(reply.result);
      }
    } catch (e) {
      if (mine !== sequence) return;
      failure = "Cannot reach the registry; retrying every " + refreshMs / 1000 + " s.";
    }
    showStatus();
    try {
      const health = await fetch("health", {cache: "no-store"}).then((r) => r.json());
      const db = $("db");
      const ok = health.status === "ok";
      db.classList.toggle("bad", !ok);
      db.textContent = ok ? "database ok" : "database unavailable: " + (health.reason || "");
    } catch (e) {
      // the registry itself is unreachable: already said
    }
  }

  function schedule() {
    clearInterval(timer);
    timer = setInterval(() => { if (!document.hidden) refresh(); }, refreshMs);
  }

  let typing = null;
  input.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { refresh(); schedule(); }, 250);
  });
  $("filter").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = input.value.trim();
    history.replaceState(null, "", q ? "?q=" + encodeURIComponent(q) : location.pathname);
    refresh();
    schedule();
  });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  setInterval(tick, 1000);
  refresh();
  schedule();
})();
)js";

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
    const char* state = item.alive ? "alive" : "dead";
    out += "<tr class=\"";
    out += state;
    out += "\"><td class=\"ep\">";
    out += html_escape(r.host);
    out += ':';
    out += std::to_string(r.port);
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
    constexpr int refresh_seconds = 5;

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
    out += "\">";
    out += style;
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
    out += "\">";
    out += script;
    out += "</script>\n</body>\n</html>\n";
    return out;
}

}  // namespace servreg::http
