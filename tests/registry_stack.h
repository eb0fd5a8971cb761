// The registry in-process, for the tests of the layers above it: an index, the group-commit
// writer on an in-memory SQLite store, the service and a JSON-RPC dispatcher, on a clock the
// test moves by hand.
#pragma once

#include <chrono>
#include <span>

#include "manual_clock.h"
#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/registry/index.h"
#include "servreg/registry/service.h"
#include "servreg/storage/store.h"
#include "servreg/storage/writer.h"
#include "sqlite_targets.h"

namespace servreg::test {

// The dispatcher settings of the tests: the defaults, an endpoint for get_service_specs to
// report, and two threads for the calls that block.
inline jsonrpc::settings test_settings(
    jsonrpc::reply_style style = jsonrpc::reply_style::compatible) {
    jsonrpc::settings s;
    s.style = style;
    s.host = "127.0.0.1";
    s.port = 5000;
    s.max_parallel_blocking_tasks = 2;
    return s;
}

// Members in the order of their dependencies: the dispatcher goes first, the clock last.
struct sqlite_registry {
    explicit sqlite_registry(const jsonrpc::settings& settings = test_settings())
        : writer(storage::open_store(sqlite_memory()), storage::writer_settings{},
                 [this] { return clock.now_ms(); },
                 {.mark_stored =
                      [this](std::span<storage::write_op> ops) { index.mark_stored(ops); }}),
          service(index, writer, clock, std::chrono::seconds(60)),
          dispatcher(service, settings) {}

    manual_clock clock;
    registry::index index;
    storage::writer writer;
    registry::service service;
    jsonrpc::dispatcher dispatcher;
};

}  // namespace servreg::test
