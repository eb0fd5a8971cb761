// The registry's values as short text for failure messages, in the order the tests compare
// them: "[ h:1 h:2 ]" for endpoints, "{name host:port first last}" for a row.
#pragma once

#include <string>
#include <vector>

#include "servreg/registry/index.h"
#include "servreg/storage/store.h"

namespace servreg::test {

inline std::string show(const std::vector<registry::endpoint>& endpoints) {
    std::string out = "[";
    for (const auto& e : endpoints) {
        out += " " + (e.url.empty() ? e.host + ":" + std::to_string(e.port) : e.url);
    }
    return out + " ]";
}

inline std::string show(const storage::instance_row& r) {
    return "{" + r.name + " " + r.host + ":" + std::to_string(r.port) + " " +
           std::to_string(r.first_seen_ms) + " " + std::to_string(r.last_seen_ms) + "}";
}

inline std::string show(const std::vector<storage::instance_row>& rows) {
    std::string out = "[";
    for (const auto& r : rows) out += " " + show(r);
    return out + " ]";
}

inline std::string show(const storage::changes& c) {
    std::string out = "rows: " + show(c.rows) + " tombstones: [";
    for (const auto& t : c.tombstones) {
        out += " {" + t.url + " " + std::to_string(t.deleted_at_ms) + "}";
    }
    return out + " ]";
}

}  // namespace servreg::test
