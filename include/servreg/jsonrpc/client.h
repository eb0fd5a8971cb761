// The JSON-RPC side of the command-line client: the call a subcommand makes, and what the
// registry's reply means for the user (a table or JSON, and the exit status).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "servreg/config/command_line.h"

namespace servreg::jsonrpc {

// Exit statuses of the client subcommands (SPEC section 8).
namespace client_status {
inline constexpr int ok = 0;
inline constexpr int registry_error = 1;  // the registry answered, with an error
inline constexpr int usage = 2;
inline constexpr int unreachable = 3;
}  // namespace client_status

struct client_output {
    int status = client_status::ok;
    std::string out;  // for stdout
    std::string err;  // for stderr
};

// The request body for `cmd`: one JSON-RPC call with its parameters by name.
std::string client_request(const config::client_command& cmd);

// What the registry's HTTP reply to client_request(cmd) means; `now_ms` turns last-seen times
// into ages.
client_output client_result(const config::client_command& cmd, unsigned http_status,
                            std::string_view body, std::int64_t now_ms);

// servreg watch: the watch_service call that answers once the answer's index differs from
// `index` (0, the first time: at once), or after cmd.wait with the same index.
std::string watch_request(const config::client_command& cmd, std::uint64_t index);

// One round of servreg watch: the answer's index, and when it differs from the `index` asked
// about, the change to print (a line with the time of `now_ms` and the index, then the table
// of servreg locate; or with --json the result as one line). An error (status 1) ends the
// watch.
struct watch_step {
    client_output output;
    std::uint64_t index = 0;
};
watch_step watch_result(const config::client_command& cmd, std::uint64_t index,
                        unsigned http_status, std::string_view body, std::int64_t now_ms);

}  // namespace servreg::jsonrpc
