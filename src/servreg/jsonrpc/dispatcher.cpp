// JSON-RPC 2.0 request handling: parsing, the request-object rules, batches, notifications,
// and the two reply shapes. Exceptions from method code become -32603 here and nowhere else.
#include "servreg/jsonrpc/dispatcher.h"

#include <spdlog/spdlog.h>

#include <array>
#include <mutex>
#include <nlohmann/json.hpp>
#include <vector>

#include "servreg/jsonrpc/flat_request.h"
#include "servreg/jsonrpc/methods.h"
#include "servreg/jsonrpc/params.h"

namespace servreg::jsonrpc {
namespace {

using detail::outcome;
using nlohmann::json;
using steady = std::chrono::steady_clock;

// Refuses nesting deeper than `limit` before the parser sees it, so that a hostile body
// cannot make any later step deep.
bool nesting_within(std::string_view body, std::size_t limit) {
    std::size_t depth = 0;
    bool in_string = false;
    for (std::size_t i = 0; i < body.size(); ++i) {
        char c = body[i];
        if (in_string) {
            if (c == '\\') {
                ++i;
            } else if (c == '"') {
                in_string = false;
            }
        } else if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            if (++depth > limit) return false;
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return true;
}

// The "id" member as it goes back out; null when absent or unusable.
std::string id_text(const json* id) {
    return id == nullptr ? "null" : id->dump();
}

// One parsed request object, checked against JSON-RPC 2.0's rules.
struct parsed_call {
    const json* id = nullptr;  // null: notification (only valid when the request is valid)
    bool notification = false;
    std::string_view method;
    const json* params = nullptr;
    std::optional<std::string> invalid;  // why it is not a valid request
};

parsed_call inspect(const json& request) {
    parsed_call call;
    if (!request.is_object()) {
        call.invalid = "a request must be a JSON object, got " + std::string(request.type_name());
        return call;
    }
    auto id = request.find("id");
    if (id != request.end()) {
        if (id->is_string() || id->is_number() || id->is_null()) {
            call.id = &*id;
        } else {
            call.invalid = "\"id\" must be a string, a number or null";
            return call;
        }
    } else {
        call.notification = true;
    }
    auto version = request.find("jsonrpc");
    if (version == request.end() || !version->is_string() || *version != "2.0") {
        call.invalid = "\"jsonrpc\" must be exactly \"2.0\"";
        return call;
    }
    auto method = request.find("method");
    if (method == request.end() || !method->is_string()) {
        call.invalid = "\"method\" must be a string";
        return call;
    }
    call.method = method->get_ref<const std::string&>();
    auto params = request.find("params");
    if (params != request.end()) {
        if (!params->is_object() && !params->is_array()) {
            call.invalid = "\"params\" must be an object or an array";
            return call;
        }
        call.params = &*params;
    }
    for (const auto& [key, value] : request.items()) {
        if (key != "jsonrpc" && key != "method" && key != "params" && key != "id") {
            call.invalid = "unexpected member \"" + key + "\"";
            return call;
        }
    }
    return call;
}

// A document's params as the binders read them (params.h). The views point into the
// document, into texts_ for integers, which are written out as JSON writes them, and into
// members_ for the members of an object (a parameter such as meta).
class json_params {
public:
    explicit json_params(const json* params) {
        if (params == nullptr) return;
        list_.named = params->is_object();
        texts_.reserve(params->size());  // never reallocated: views point into it
        members_.reserve(params->size());
        for (auto it = params->begin(); it != params->end(); ++it) {
            if (list_.named) names_.push_back(it.key());
            values_.push_back(view(*it));
        }
        list_.names = names_;
        list_.values = values_;
    }
    json_params(const json_params&) = delete;
    json_params& operator=(const json_params&) = delete;

    const detail::param_list& list() const noexcept { return list_; }

private:
    detail::param_value view(const json& v) {
        using type = detail::param_value::type;
        if (v.is_string()) return {type::string, v.get_ref<const std::string&>(), {}};
        if (v.is_number_integer()) return {type::integer, texts_.emplace_back(v.dump()), {}};
        if (v.is_number_float()) return {type::other, "a fractional number", {}};
        if (v.is_boolean()) return {type::other, "a boolean", {}};
        if (v.is_null()) return {type::other, "null", {}};
        if (v.is_array()) return {type::other, "an array", {}};
        // An object's members are strings or not; the binders need no more of them.
        auto& members = members_.emplace_back();
        members.reserve(v.size());
        for (auto it = v.begin(); it != v.end(); ++it) {
            const json& m = *it;
            members.push_back(
                {it.key(),
                 m.is_string()
                     ? detail::param_value{type::string, m.get_ref<const std::string&>(), {}}
                     : detail::param_value{type::other, type_name(m), {}}});
        }
        return {type::object, "an object", members};
    }

    static std::string_view type_name(const json& v) {
        if (v.is_number()) return "a number";
        if (v.is_boolean()) return "a boolean";
        if (v.is_null()) return "null";
        if (v.is_array()) return "an array";
        return "an object";
    }

    detail::param_list list_;
    std::vector<std::string_view> names_;
    std::vector<detail::param_value> values_;
    std::vector<std::string> texts_;
    std::vector<std::vector<registry::param_member>> members_;
};

// The flat reader's params as the binders read them.
struct flat_params {
    explicit flat_params(const detail::flat_request& call) {
        using type = detail::param_value::type;
        for (std::size_t i = 0; i < call.param_count; ++i) {
            values[i] = {
                call.params[i].is_string ? type::string : type::integer, call.params[i].text, {}};
        }
        list.named = !call.positional;
        if (list.named) list.names = std::span(call.param_names).first(call.param_count);
        list.values = std::span(values).first(call.param_count);
    }

    std::array<detail::param_value, detail::flat_request::max_params> values{};
    detail::param_list list;
};

}  // namespace

struct dispatcher::impl {
    impl(registry::service& s, settings c, call_observer o, registry::watch_hub* hub)
        : config(std::move(c)), observer(std::move(o)), env{s, config, hub} {}

    settings config;
    call_observer observer;
    detail::method_env env;

    std::string reply_text(const std::string& id, const outcome& result) const {
        const bool compatible = config.style == reply_style::compatible;
        std::string out;
        out.reserve(64 + result.result_json.size());
        out += "{\"jsonrpc\":\"2.0\",";
        if (result.code == 0) {
            out += "\"result\":";
            out += result.result_json;
            if (compatible) out += ",\"error\":null";
        } else {
            if (compatible) out += "\"result\":null,";
            json error = {{"code", result.code}, {"message", result.message}};
            if (!result.data.is_null()) error["data"] = result.data;
            out += "\"error\":";
            out += error.dump(-1, ' ', false, json::error_handler_t::replace);
        }
        out += ",\"id\":";
        out += id;
        out += '}';
        return out;
    }

    std::string error_text(int code, std::string data) const {
        return reply_text("null", outcome::failure(code, std::string(detail::error_message(code)),
                                                   std::move(data)));
    }

    void observe(std::string_view method, int code, steady::time_point start) const noexcept {
        if (!observer) return;
        try {
            observer(method, code, steady::now() - start);
        } catch (...) {
        }
    }

    static outcome internal_failure() {
        return outcome::failure(error_code::internal_error,
                                std::string(detail::error_message(error_code::internal_error)),
                                "an internal error occurred; the server log has the details");
    }

    // The reply to a call of `name` with this id: observed, then handed to `done`.
    detail::outcome_fn finisher(std::string_view name, steady::time_point start, std::string id,
                                dispatcher::done_fn done) const {
        return [this, name, start, id = std::move(id), done = std::move(done)](outcome result) {
            observe(name, result.code, start);
            done(reply{true, reply_text(id, result), std::string(name)});
        };
    }

    // Calls `entry`; `finish` gets its outcome, now or (a write) once it has committed.
    void invoke(const detail::method_entry& entry, const detail::param_list& params,
                const request_context& ctx, detail::outcome_fn finish,
                bool notification = false) const {
        try {
            entry.invoke(env,
                         detail::call_info{params, ctx.write_allowed, ctx.resume,
                                           ctx.in_batch || notification},
                         finish);
        } catch (const std::exception& e) {
            // Out of memory, most likely: the call still gets its reply.
            spdlog::error("{} failed: {}", entry.name, e.what());
            if (!finish) return;  // the method had handed its completion on: it will answer
            finish(internal_failure());
        }
    }

    // A call read by read_flat_request() (ping and locate_service above all, in the shape every
    // client sends) goes to the same method entries as a document: only its params are read in
    // place. False, with `done` untouched, leaves the body to the document path.
    bool run_flat(const detail::flat_request& call, const request_context& ctx,
                  dispatcher::done_fn& done) const {
        if (call.id.empty() || call.jsonrpc != "2.0" || !call.has_params) return false;
        const detail::method_entry* entry = find_method(call.method);
        if (entry == nullptr) return false;
        const auto start = steady::now();
        const flat_params params(call);
        invoke(*entry, params.list, ctx,
               finisher(entry->name, start, std::string(call.id), std::move(done)));
        return true;
    }

    // A batch in flight. Writes start at once, one after another (the storage writer keeps
    // their order and may commit them together); any other call waits until every earlier
    // call has completed, so that it sees their effects.
    struct batch_state {
        std::mutex mutex;
        json requests;
        std::vector<std::optional<std::string>> replies;
        std::size_t next = 0;
        std::size_t in_flight = 0;
        std::size_t completed = 0;
        bool pumping = false;
        bool repump = false;
        bool finished = false;
        request_context ctx;
        done_fn done;
        std::string label;
    };

    // The method a request names, when it names one servreg has.
    static const detail::method_entry* find_method(std::string_view name) noexcept {
        for (const auto& entry : detail::method_table()) {
            if (entry.name == name) return &entry;
        }
        return nullptr;
    }

    // The name of the method a request object asks for, when it has a string "method".
    static std::optional<std::string_view> method_name(const json& request) {
        if (!request.is_object()) return std::nullopt;
        auto m = request.find("method");
        if (m == request.end() || !m->is_string()) return std::nullopt;
        return std::string_view(m->get_ref<const std::string&>());
    }

    static bool is_write(const json& request) {
        const auto name = method_name(request);
        const detail::method_entry* entry = name ? find_method(*name) : nullptr;
        return entry != nullptr && entry->writes;
    }

    void pump(const std::shared_ptr<batch_state>& st) const {
        std::unique_lock lock(st->mutex);
        if (st->pumping) {
            st->repump = true;
            return;
        }
        st->pumping = true;
        const std::size_t n = st->replies.size();
        do {
            st->repump = false;
            while (st->next < n) {
                const json& element = st->requests[st->next];
                if (st->in_flight > 0 && !is_write(element)) break;
                std::size_t i = st->next++;
                ++st->in_flight;
                lock.unlock();
                run(element, st->ctx, [this, st, i](std::optional<std::string> text) {
                    {
                        std::lock_guard done_lock(st->mutex);
                        st->replies[i] = std::move(text);
                        --st->in_flight;
                        ++st->completed;
                    }
                    pump(st);
                });
                lock.lock();
            }
        } while (st->repump);
        st->pumping = false;
        if (st->completed < n || st->finished) return;
        st->finished = true;
        lock.unlock();
        std::string out = "[";
        for (auto& r : st->replies) {
            if (!r) continue;
            if (out.size() > 1) out += ',';
            out += *r;
        }
        out += ']';
        if (out.size() == 2) {
            st->done(reply{false, {}, st->label});
        } else {
            st->done(reply{true, std::move(out), st->label});
        }
    }

    // Runs one request object; `done` gets the reply text, or nothing for a notification.
    void run(const json& request, const request_context& ctx,
             std::function<void(std::optional<std::string>)> done) const {
        auto start = steady::now();
        parsed_call call = inspect(request);
        if (call.invalid) {
            observe("-", error_code::invalid_request, start);
            // With the id when it can be read, so that a batch caller learns which of its
            // calls was refused (SPEC 3); "null" when it cannot.
            const auto code = error_code::invalid_request;
            return done(reply_text(id_text(call.id),
                                   outcome::failure(code, std::string(detail::error_message(code)),
                                                    std::move(*call.invalid))));
        }
        const detail::method_entry* entry = find_method(call.method);
        std::string id = call.notification ? std::string() : id_text(call.id);
        if (entry == nullptr) {
            observe("other", error_code::method_not_found, start);
            if (call.notification) return done(std::nullopt);
            std::string data =
                "no method named \"" + std::string(call.method.substr(0, 100)) + "\"";
            return done(reply_text(
                id,
                outcome::failure(error_code::method_not_found,
                                 std::string(detail::error_message(error_code::method_not_found)),
                                 std::move(data))));
        }
        std::string_view name = entry->name;
        bool notification = call.notification;
        detail::outcome_fn finish = [this, name, notification, start, id = std::move(id),
                                     done = std::move(done)](outcome result) {
            observe(name, result.code, start);
            if (notification) return done(std::nullopt);
            done(reply_text(id, result));
        };
        const json_params params(call.params);
        invoke(*entry, params.list(), ctx, std::move(finish), notification);
    }
};

dispatcher::dispatcher(registry::service& svc, settings s, call_observer observer,
                       registry::watch_hub* hub)
    : impl_(std::make_unique<impl>(svc, std::move(s), std::move(observer), hub)) {}

dispatcher::~dispatcher() = default;

std::string dispatcher::invalid_request_body(std::string_view data) const {
    return impl_->error_text(error_code::invalid_request, std::string(data));
}

void dispatcher::handle(std::string_view body, const request_context& ctx, done_fn done) noexcept {
    const impl& self = *impl_;
    auto fail = [&](int code, std::string data) {
        if (!done) return;  // handed on before the throw: whoever holds it answers
        self.observe("-", code, steady::now());
        done(reply{true, self.error_text(code, std::move(data)), "-"});
    };
    try {
        if (self.config.flat_path && self.config.max_depth >= 2) {
            if (auto call = detail::read_flat_request(body)) {
                if (self.run_flat(*call, ctx, done)) return;
            }
        }
        if (!nesting_within(body, self.config.max_depth)) {
            return fail(
                error_code::invalid_request,
                "JSON nested deeper than " + std::to_string(self.config.max_depth) + " levels");
        }
        json request;
        try {
            request = json::parse(body);
        } catch (const json::exception& e) {
            // parse_error, and out_of_range for a number beyond a double ("1e400"): either
            // way the body is not JSON that servreg can read.
            std::string what = e.what();
            auto pos = what.find("] ");
            return fail(error_code::parse_error,
                        pos == std::string::npos ? what : what.substr(pos + 2));
        }

        if (!request.is_array()) {
            // run() uses the request only before it returns: no need to keep it alive.
            std::string_view label = "-";
            if (const auto name = impl::method_name(request)) {
                const detail::method_entry* entry = impl::find_method(*name);
                label = entry != nullptr ? entry->name : "other";
            }
            return self.run(request, ctx,
                            [label, done = std::move(done)](std::optional<std::string> text) {
                                if (text) {
                                    done(reply{true, std::move(*text), std::string(label)});
                                } else {
                                    done(reply{false, {}, std::string(label)});
                                }
                            });
        }

        const std::size_t n = request.size();
        if (n == 0) return fail(error_code::invalid_request, "empty batch");
        if (n > self.config.batch_limit) {
            return fail(error_code::invalid_request, "batch of " + std::to_string(n) +
                                                         " elements exceeds the limit of " +
                                                         std::to_string(self.config.batch_limit));
        }
        auto state = std::make_shared<impl::batch_state>();
        state->requests = std::move(request);
        state->replies.resize(n);
        state->done = std::move(done);
        state->ctx = ctx;
        state->ctx.in_batch = true;
        state->label = "batch(" + std::to_string(n) + ")";
        self.pump(state);
    } catch (const std::exception& e) {
        spdlog::error("request handling failed: {}", e.what());
        fail(error_code::internal_error,
             "an internal error occurred; the server log has the details");
    }
}

}  // namespace servreg::jsonrpc
