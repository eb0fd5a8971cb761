// The method table behind the dispatcher: each method binds its parameters (params.h), calls
// the registry and produces its result as serialized JSON. Both readers of a request, the flat
// one and the document, call the same entries.
#pragma once

#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/jsonrpc/json_text.h"
#include "servreg/jsonrpc/params.h"

namespace servreg::jsonrpc::detail {

// A call's result (serialized JSON text) or its error.
struct outcome {
    int code = 0;             // 0: success
    std::string result_json;  // when code == 0
    std::string message;      // when code != 0
    nlohmann::json data;      // when code != 0; null for none

    static outcome success(std::string json_text) { return {0, std::move(json_text), {}, nullptr}; }
    static outcome failure(int code, std::string message, nlohmann::json data = nullptr) {
        return {code, {}, std::move(message), std::move(data)};
    }
};

using outcome_fn = std::function<void(outcome)>;

struct method_env {
    registry::service& svc;
    const settings& config;
    registry::watch_hub* hub;  // null: no watch_service
};

struct call_info {
    const param_list& params;
    bool write_allowed = true;
    const registry::executor* resume = nullptr;  // where a write's completion runs
    // Nobody can wait for the answer: a call in a batch (the batch's other replies would wait
    // with it) or a notification (it gets none). watch_service then answers at once.
    bool answer_at_once = false;
};

struct method_entry {
    std::string_view name;
    std::string_view description;
    bool writes;  // goes through the database; a later read in the same batch waits for it
    // Calls `done` once. May move from `done` (to finish later); if it throws, `done` is either
    // untouched or empty.
    void (*invoke)(const method_env&, const call_info&, outcome_fn& done);
};

// Every method servreg answers, in a stable order.
std::span<const method_entry> method_table();

// The message of a JSON-RPC error code ("Invalid params").
std::string_view error_message(int code);

using jsonrpc::append_json_string;

}  // namespace servreg::jsonrpc::detail
