// Parsing of the command line and SERVREG_* environment into options or a client command.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "servreg/config/options.h"

namespace servreg::config {

// One of the command-line client's subcommands (SPEC section 8).
struct client_command {
    std::string verb;  // "ping", "locate", "list", "unregister", "drain", "undrain", "watch"
    // The positional arguments in one of the verb's forms, told apart by their count: ping
    // NAME HOST PORT or NAME URL; unregister, drain and undrain HOST PORT or URL; locate and
    // watch PATTERN; list [PATTERN]. A PORT is checked (1-65535), a URL only for its scheme.
    std::vector<std::string> args;
    std::map<std::string, std::string> meta;  // --meta KEY=VALUE of ping, locate and watch
    // watch: how long the registry may hold each call while nothing changes (--wait).
    std::chrono::seconds wait{30};
    std::string registry = "http://127.0.0.1:5000/api";
    std::optional<std::string> api_token;
    bool json = false;
};

// The process should exit now with this status, having printed `message`
// (help or version on stdout with status 0; a usage error on stderr with status 2).
struct early_exit {
    int status = 0;
    std::string message;
};

using parse_result = std::variant<options, client_command, early_exit>;

// Looks up an environment variable; empty optional when unset.
using env_lookup = std::function<std::optional<std::string>(const std::string&)>;

// Reads the process environment.
std::optional<std::string> process_env(const std::string& name);

// Parses argv. The command line wins over the environment (SERVREG_<OPTION>).
parse_result parse_command_line(int argc, const char* const* argv,
                                const env_lookup& env = process_env);

}  // namespace servreg::config
