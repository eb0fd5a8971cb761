// JSON text written by hand, for replies built without a JSON document.
#pragma once

#include <string>
#include <string_view>

namespace servreg::jsonrpc {

// Appends `s` as a JSON string literal (quotes included) to `out`: `"` and `\` escaped,
// control characters as \n, \r, \t or \u00XX, every other byte as it is.
void append_json_string(std::string& out, std::string_view s);

}  // namespace servreg::jsonrpc
