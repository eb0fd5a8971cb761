// The writes a store applies, written the short way: ping(name, host, port, now) and
// unregister(host, port, now).
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "servreg/storage/store.h"

namespace servreg::test {

inline storage::write_op ping(std::string name, std::string host, std::uint16_t port,
                              std::int64_t now_ms) {
    return {.kind = storage::write_op::kind_t::ping,
            .name = std::move(name),
            .host = std::move(host),
            .port = port,
            .now_ms = now_ms};
}

// `now_ms` is the deletion time the tombstone carries.
inline storage::write_op unregister(std::string host, std::uint16_t port, std::int64_t now_ms = 0) {
    return {.kind = storage::write_op::kind_t::unregister,
            .name = {},
            .host = std::move(host),
            .port = port,
            .now_ms = now_ms};
}

}  // namespace servreg::test
