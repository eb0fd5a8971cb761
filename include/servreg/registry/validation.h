// Validation of ping and locate parameters (SPEC section 4). Returns the reason, not throws.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace servreg::registry {

// Each returns nothing when the value is acceptable, else why not ("name must be 1 to 255
// characters, got 0").
std::optional<std::string> check_name(std::string_view name);
std::optional<std::string> check_host(std::string_view host);
std::optional<std::string> check_pattern(std::string_view pattern);

}  // namespace servreg::registry
