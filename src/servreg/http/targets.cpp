// GET /v1/targets: the query read strictly (a typo in an http_sd_configs URL is a 400, not an
// empty target list that silently stops the scrapes), and the registry's alive, undrained
// instances written as Prometheus HTTP service discovery target groups.
#include "servreg/http/targets.h"

#include <algorithm>
#include <optional>
#include <tuple>
#include <vector>

#include "servreg/jsonrpc/json_text.h"
#include "servreg/registry/address.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/validation.h"

namespace servreg::http {
namespace {

constexpr std::string_view meta_label_prefix = "__meta_servreg_meta_";
// How much of a parameter an error message repeats.
constexpr std::size_t shown_length = 64;

int hex_digit(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// `s` percent-decoded, + as a space (as HTML forms and most query parsers read it); nothing
// when a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] != '%') {
            out += s[i];
        } else if (i + 2 < s.size() && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            out += static_cast<char>(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            return std::nullopt;
        }
    }
    return out;
}

// An error message as the 400 answer carries it: every byte outside printable ASCII written as
// %XX, so that the parameters it repeats cannot make the JSON text invalid UTF-8.
std::string printable(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c >= 0x20 && c < 0x7F) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xF];
        }
    }
    return out;
}

// Appends the metadata's labels, ordered by name, one per distinct name. Two keys may give the
// same name ("a.b" and "a_b"): the key that is the name itself wins, else the first in order.
void append_meta_labels(std::string& out, const registry::metadata& meta) {
    struct label {
        std::string name;
        bool renamed;
        const std::string* value;
    };
    std::vector<label> labels;
    labels.reserve(meta.size());
    for (const auto& [key, value] : meta) {
        labels.push_back(
            {meta_label_name(key), key.find_first_of(".-") != std::string::npos, &value});
    }
    // Stable: among equal names and the same renaming, key order stays.
    std::ranges::stable_sort(labels, [](const label& a, const label& b) {
        return std::tie(a.name, a.renamed) < std::tie(b.name, b.renamed);
    });
    for (std::size_t i = 0; i < labels.size(); ++i) {
        if (i > 0 && labels[i].name == labels[i - 1].name) continue;
        out += ',';
        jsonrpc::append_json_string(out, labels[i].name);
        out += ':';
        jsonrpc::append_json_string(out, *labels[i].value);
    }
}

}  // namespace

std::expected<targets_query, std::string> parse_targets_query(std::string_view query) {
    targets_query q;
    bool named = false;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const std::string_view pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
        if (pair.empty()) continue;  // "a=1&&b=2", a trailing '&'
        const auto eq = pair.find('=');
        auto name = percent_decode(pair.substr(0, eq));
        auto value = percent_decode(eq == std::string_view::npos ? "" : pair.substr(eq + 1));
        if (!name || !value) {
            return std::unexpected("bad percent-encoding in \"" +
                                   std::string(pair.substr(0, shown_length)) +
                                   "\": '%' must be followed by two hex digits");
        }
        if (*name == "name") {
            if (named) return std::unexpected(std::string("parameter \"name\" is given twice"));
            named = true;
            if (auto bad = registry::check_pattern(*value)) return std::unexpected("name: " + *bad);
            q.pattern = std::move(*value);
        } else if (name->starts_with("meta.")) {
            const std::string_view key = std::string_view(*name).substr(5);
            if (auto bad = registry::check_meta_key(key)) {
                return std::unexpected("meta filter: " + *bad);
            }
            if (std::ranges::find(q.filter, key, &registry::metadata::value_type::first) !=
                q.filter.end()) {
                return std::unexpected("parameter \"" + *name + "\" is given twice");
            }
            // Refused at once, so that the duplicate check above never scans more than 32.
            if (q.filter.size() == registry::max_meta_keys) {
                return std::unexpected(std::string("meta filter must have at most 32 keys"));
            }
            q.filter.emplace_back(key, std::move(*value));
        } else {
            return std::unexpected("unknown parameter \"" + name->substr(0, shown_length) +
                                   "\": use name=PATTERN and meta.KEY=VALUE");
        }
    }
    if (auto bad = registry::normalize_metadata(q.filter, "meta filter")) {
        return std::unexpected(std::move(*bad));
    }
    return q;
}

std::string meta_label_name(std::string_view key) {
    std::string out(meta_label_prefix);
    for (const char c : key) out += (c == '.' || c == '-') ? '_' : c;
    return out;
}

std::string render_targets(const std::vector<registry::listed_instance>& instances,
                           const registry::metadata& filter) {
    std::string out = "[";
    for (const auto& item : instances) {
        const auto& row = item.row;
        if (item.state() != "alive") continue;  // dead or draining
        const auto meta = registry::decode_metadata(row.meta).value_or(registry::metadata{});
        if (!registry::matches(meta, filter)) continue;
        if (out.size() > 1) out += ',';
        out += R"({"targets":[)";
        jsonrpc::append_json_string(out, registry::host_port_of(row.host, row.port));
        out += R"(],"labels":{"__meta_servreg_service":)";
        jsonrpc::append_json_string(out, row.name);
        out += R"(,"__meta_servreg_url":)";
        jsonrpc::append_json_string(
            out, row.url.empty() ? registry::url_of(row.host, row.port) : row.url);
        append_meta_labels(out, meta);
        out += "}}";
    }
    out += ']';
    return out;
}

response bad_query(std::string_view why) {
    response r;
    r.status = 400;
    r.headers.emplace_back("Cache-Control", "no-store");
    r.body = R"({"error":)";
    jsonrpc::append_json_string(r.body, printable(why));
    r.body += '}';
    return r;
}

response targets_page(const registry::service& svc, std::string_view target) {
    const auto at = target.find('?');
    auto q = parse_targets_query(at == std::string_view::npos ? std::string_view()
                                                              : target.substr(at + 1));
    if (!q) return bad_query(q.error());
    response r;
    r.headers.emplace_back("Cache-Control", "no-store");
    // service::list rather than locate: a target group needs the name and the metadata too.
    r.body = render_targets(svc.list(registry::glob(q->pattern)), q->filter);
    return r;
}

}  // namespace servreg::http
