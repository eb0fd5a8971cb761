// What the daemon's and the client commands' parsers share: small text helpers and the way
// CLI11 is set up and its leftovers reported. Private to the config layer.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "servreg/config/command_line.h"

namespace servreg::config {

inline constexpr int usage_status = 2;

std::string lower(std::string_view s);

// A decimal number within [min, max], digits only.
std::optional<unsigned long> parse_number(std::string_view s, unsigned long min, unsigned long max);

// Only the scheme: what tells a URL from a host name, and what the client can reach.
bool is_http_url(std::string_view s);

std::string in_quotes(std::string_view s);

// CLI11's help ends in a newline and some of its errors span lines; early_exit messages do not.
std::string trimmed(std::string s);
std::string one_line(std::string s);

// With allow_extras, CLI11 leaves unknown options and stray arguments to us, so that the
// message names the culprit the way the rest of ours do.
std::optional<std::string> unknown_option(const CLI::App& app);
// An unknown option first, else a stray argument.
std::optional<std::string> leftover(const CLI::App& app);

void configure(CLI::App& app);

// The client command that argv[1] names (argv[0] being the program), parsed; nothing when
// argv[1] is no client command.
std::optional<parse_result> parse_client_command(int argc, const char* const* argv,
                                                 const env_lookup& env);

}  // namespace servreg::config
