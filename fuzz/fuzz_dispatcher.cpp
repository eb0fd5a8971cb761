// Fuzzes the JSON-RPC dispatcher: any bytes as an HTTP body, against an in-memory registry.
// Besides crashes, it stops on: no reply or two replies, a reply that is not JSON-RPC 2.0 in
// the configured shape, an internal error (-32603 means a bug), a parse error for valid JSON
// (or none for invalid JSON), a write despite a missing token or a failing store, an index
// that disagrees with the store once the reply is out, and a reply (or a write) that differs
// from the one without the flat path (flat_request.h).
//
// Input: the HTTP body. A first byte below 8 is not part of it but selects the mode:
// bit 0 strict replies, bit 1 no write access (--api-token set, header missing), bit 2 the
// store fails every write.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "registry_stack.h"

namespace {

using nlohmann::json;
using servreg::fuzz::fail;
using servreg::jsonrpc::reply;

servreg::fuzz::registry_stack* stack = nullptr;
// Replies that arrived after their input had been judged: a second call of `done`.
std::atomic<int> late_replies{0};

struct pending_reply {
    std::mutex mutex;
    std::condition_variable arrived;
    int calls = 0;
    reply value;
};

void check_reply_object(const json& r, bool strict, const std::string& text) {
    if (!r.is_object()) fail("a reply is not an object: " + text);
    auto version = r.find("jsonrpc");
    if (version == r.end() || *version != "2.0") fail("a reply lacks \"jsonrpc\":\"2.0\": " + text);
    if (!r.contains("id")) fail("a reply has no id: " + text);
    for (const auto& [key, value] : r.items()) {
        if (key != "jsonrpc" && key != "id" && key != "result" && key != "error") {
            fail("a reply has member " + key + ": " + text);
        }
    }
    const bool has_result = r.contains("result");
    const bool has_error = r.contains("error");
    if (strict) {
        if (has_result == has_error)
            fail("a strict reply needs exactly one of result/error: " + text);
    } else {
        if (!has_result || !has_error) fail("a compatible reply needs result and error: " + text);
        if (r["result"].is_null() == r["error"].is_null()) {
            fail("exactly one of result/error must be null: " + text);
        }
    }
    if (!has_error || r["error"].is_null()) return;
    const json& error = r["error"];
    if (!error.is_object() || !error.contains("code") || !error["code"].is_number_integer() ||
        !error.contains("message") || !error["message"].is_string()) {
        fail("malformed error member: " + text);
    }
    static const std::set<int> codes{-32700, -32600, -32601, -32602, -32000, -32001};
    const int code = error["code"].get<int>();
    if (code == -32603) fail("internal error (a bug by SPEC section 3): " + text);
    if (!codes.contains(code)) fail("unknown error code: " + text);
}

int error_code_of(const json& r) {
    if (!r.is_object() || !r.contains("error") || !r["error"].is_object()) return 0;
    return r["error"].value("code", 0);
}

// The dispatcher's reply to `body` on an emptied registry.
reply answer(servreg::jsonrpc::dispatcher& dispatcher, const std::string& body, bool write_allowed,
             bool failing) {
    stack->reset();
    stack->store.failing = failing;
    auto pending = std::make_shared<pending_reply>();
    dispatcher.handle(body, {write_allowed}, [pending](reply r) {
        std::lock_guard lock(pending->mutex);
        if (++pending->calls > 1) {
            late_replies.fetch_add(1);
            return;
        }
        pending->value = std::move(r);
        pending->arrived.notify_all();
    });
    std::unique_lock lock(pending->mutex);
    if (!pending->arrived.wait_for(lock, std::chrono::seconds(10),
                                   [&] { return pending->calls > 0; })) {
        fail("no reply within 10 s");
    }
    if (pending->calls > 1) fail("done called twice");
    return pending->value;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    servreg::fuzz::silence_logging();
    stack = new servreg::fuzz::registry_stack();  // lives until exit: the writer thread uses it
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (late_replies.load() != 0) fail("the dispatcher called done twice for an earlier input");
    std::uint8_t flags = 0;
    if (size > 0 && data[0] < 8) {
        flags = data[0];
        ++data;
        --size;
    }
    const bool strict = (flags & 1) != 0;
    const bool write_allowed = (flags & 2) == 0;
    const bool failing = (flags & 4) != 0;
    const std::string body(reinterpret_cast<const char*>(data), size);

    const reply r =
        answer(strict ? stack->strict : stack->compatible, body, write_allowed, failing);
    stack->check_index_matches_store();
    if ((failing || !write_allowed) && !stack->store.keys().empty()) {
        fail(std::string("a write went through ") +
             (failing ? "a failing store" : "without write access"));
    }
    if (r.label.empty()) fail("empty access-log label");
    const auto written = stack->store.keys();
    const reply by_document = answer(strict ? stack->strict_documents : stack->compatible_documents,
                                     body, write_allowed, failing);
    if (by_document.body != r.body || by_document.has_body != r.has_body ||
        by_document.label != r.label || stack->store.keys() != written) {
        fail("the flat path answered " + r.body + " (" + r.label + "), the document path " +
             by_document.body + " (" + by_document.label + ")");
    }
    if (!r.has_body) return 0;

    json parsed = json::parse(r.body, nullptr, false);
    if (parsed.is_discarded()) fail("the reply is not JSON: " + r.body);
    if (parsed.is_array()) {
        if (parsed.empty()) fail("an empty batch reply: " + r.body);
        for (const auto& element : parsed) check_reply_object(element, strict, r.body);
        return 0;
    }
    check_reply_object(parsed, strict, r.body);
    const bool valid_json = json::accept(body);
    const int code = error_code_of(parsed);
    if (code == -32700 && valid_json) fail("parse error for valid JSON: " + r.body);
    if (code != -32700 && code != -32600 && !valid_json) {
        fail("invalid JSON was not refused as such: " + r.body);
    }
    return 0;
}
