// The command-line client: one subcommand (ping, locate, list, unregister) against a running
// registry, for scripts and health checks.
#pragma once

#include "servreg/config/command_line.h"

namespace servreg {

// Runs `cmd`, printing to stdout and stderr. Returns the exit status: 0 success, 1 the
// registry answered an error, 2 bad usage, 3 the registry cannot be reached.
int run_client(const config::client_command& cmd);

}  // namespace servreg
