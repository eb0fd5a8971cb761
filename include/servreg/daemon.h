// The daemon: wires storage, registry, JSON-RPC and HTTP together and runs until a signal.
#pragma once

#include "servreg/config/options.h"

namespace servreg {

// Runs the registry daemon. Returns the process exit status: 0 after a clean shutdown,
// 1 when the database or the listening address cannot be used.
int run_daemon(const config::options& opts);

}  // namespace servreg
