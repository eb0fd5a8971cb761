// The registry without a database, for the fuzz targets: a store that keeps its rows in a map
// (and fails on request), with the real group-commit writer, index, service and dispatchers.
#pragma once

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "check.h"
#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/registry/clock.h"
#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "servreg/registry/service.h"
#include "servreg/storage/store.h"
#include "servreg/storage/writer.h"

namespace servreg::fuzz {

using instance_key =
    std::tuple<std::string, std::string, std::string, std::uint16_t>;  // name, url, host, port

class memory_store final : public storage::store {
public:
    void scan_all(const row_sink& sink) override {
        std::lock_guard lock(mutex_);
        std::vector<storage::instance_row> out;
        for (const auto& [key, row] : rows_) out.push_back(row);
        sink(out);
    }

    void apply(std::span<const storage::write_op> ops, std::vector<bool>& existed) override {
        std::lock_guard lock(mutex_);
        if (failing.load()) throw storage::storage_error("disk is full (injected by the fuzzer)");
        existed.assign(ops.size(), false);
        for (std::size_t i = 0; i < ops.size(); ++i) {
            const auto& op = ops[i];
            const auto& key = op.url;
            if (op.kind == storage::write_op::kind_t::unregister) {
                existed[i] = rows_.erase(key) > 0;
                continue;
            }
            auto [it, inserted] = rows_.try_emplace(key);
            auto& row = it->second;
            if (inserted || row.name != op.name) {
                row = {.name = op.name,
                       .host = op.host,
                       .port = op.port,
                       .first_seen_ms = op.now_ms,
                       .last_seen_ms = op.now_ms,
                       .url = op.url};
            } else {
                row.last_seen_ms = op.now_ms;
            }
        }
    }

    std::size_t prune(std::int64_t cutoff_ms) override {
        std::lock_guard lock(mutex_);
        return std::erase_if(rows_,
                             [&](const auto& kv) { return kv.second.last_seen_ms < cutoff_ms; });
    }

    void probe() override {
        if (failing.load()) throw storage::storage_error("disk is full (injected by the fuzzer)");
    }

    void clear() {
        std::lock_guard lock(mutex_);
        rows_.clear();
    }

    std::vector<instance_key> keys() const {
        std::lock_guard lock(mutex_);
        std::vector<instance_key> out;
        for (const auto& [key, row] : rows_)
            out.emplace_back(row.name, row.url, row.host, row.port);
        std::sort(out.begin(), out.end());
        return out;
    }

    std::atomic<bool> failing{false};

private:
    mutable std::mutex mutex_;
    std::map<std::string, storage::instance_row> rows_;  // by URL
};

class fixed_clock final : public registry::clock {
public:
    std::int64_t now_ms() const noexcept override { return 1'700'000'000'000; }
};

// One registry for the whole fuzzing run, emptied before each input so that an input's
// outcome does not depend on the ones before it.
struct registry_stack {
    registry_stack()
        : store_owner(std::make_unique<memory_store>()),
          store(*store_owner),
          writer(std::move(store_owner), storage::writer_settings{},
                 [this] { return clock.now_ms(); }),
          service(index, writer, clock, std::chrono::seconds(60)),
          compatible(service, settings_for(jsonrpc::reply_style::compatible)),
          strict(service, settings_for(jsonrpc::reply_style::strict)),
          compatible_documents(service, settings_for(jsonrpc::reply_style::compatible, false)),
          strict_documents(service, settings_for(jsonrpc::reply_style::strict, false)) {}

    static jsonrpc::settings settings_for(jsonrpc::reply_style style, bool flat_path = true) {
        jsonrpc::settings s;
        s.style = style;
        s.flat_path = flat_path;
        s.batch_limit = 16;  // small, so that inputs reach it
        s.host = "127.0.0.1";
        s.port = 5000;
        return s;
    }

    void reset() {
        store.failing = false;
        store.clear();
        index.reset({});
    }

    std::vector<instance_key> indexed() const {
        std::vector<instance_key> out;
        for (auto& row : index.list(registry::glob("*"))) {
            out.emplace_back(row.name, row.url, row.host, row.port);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    // What a write has to leave behind: the index holds exactly what was committed.
    void check_index_matches_store() const {
        if (indexed() != store.keys()) fail("the index and the store disagree after a reply");
    }

    fixed_clock clock;
    std::unique_ptr<memory_store> store_owner;  // moved into the writer
    memory_store& store;
    registry::index index;
    storage::writer writer;
    registry::service service;
    jsonrpc::dispatcher compatible;
    jsonrpc::dispatcher strict;
    // Without the flat path: every reply must be the same as with it.
    jsonrpc::dispatcher compatible_documents;
    jsonrpc::dispatcher strict_documents;
};

// Quiet: the targets produce errors on purpose, and logging them would only slow them down.
inline void silence_logging() {
    spdlog::set_level(spdlog::level::off);
}

}  // namespace servreg::fuzz
