// GET /v1/targets (SPEC section 7): the alive, undrained instances in Prometheus's HTTP service
// discovery format, so that an http_sd_configs entry scrapes whatever registers.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/http/message.h"
#include "servreg/registry/metadata.h"
#include "servreg/registry/service.h"

namespace servreg::http {

// What a query asks for: the instances whose name matches `pattern` and whose metadata holds
// every entry of `filter`.
struct targets_query {
    std::string pattern = "*";
    registry::metadata filter;  // sorted by key
};

// The query of GET /v1/targets (the text after '?'): `name=PATTERN` (default `*`) and
// `meta.KEY=VALUE` filters, percent-decoded with + as a space; or why it is not one (an
// unknown or repeated parameter, bad percent-encoding, a bad pattern or filter).
std::expected<targets_query, std::string> parse_targets_query(std::string_view query);

// The label Prometheus sees for the metadata key `key`: __meta_servreg_meta_ and the key with
// every character a label name cannot hold ('.' and '-') replaced by '_'.
std::string meta_label_name(std::string_view key);

// The JSON array of target groups, one per instance of `instances` (service::list's answer)
// that is alive, undrained and holds `filter`, in the order given.
std::string render_targets(const std::vector<registry::listed_instance>& instances,
                           const registry::metadata& filter);

// 400 with {"error": why}, every byte of `why` outside printable ASCII as %XX: the answer to a
// bad query of /v1/targets or /v1/watch.
response bad_query(std::string_view why);

// The whole answer to GET /v1/targets with `target` ("/v1/targets?name=x"): 200 with the
// groups, or 400 with {"error": why} for a bad query.
response targets_page(const registry::service& svc, std::string_view target);

}  // namespace servreg::http
