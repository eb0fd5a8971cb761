// The writes a store applies, written the short way: ping(name, host, port, now),
// unregister(host, port, now), drain(host, port, now), each of the instance at
// http://host:port/api.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "servreg/storage/store.h"

namespace servreg::test {

// The URL servreg gives the instance at host:port.
inline std::string url_at(std::string_view host, std::uint16_t port) {
    return "http://" + std::string(host) + ":" + std::to_string(port) + "/api";
}

inline storage::write_op ping(std::string name, std::string host, std::uint16_t port,
                              std::int64_t now_ms) {
    std::string url = url_at(host, port);
    return {.kind = storage::write_op::kind_t::ping,
            .name = std::move(name),
            .host = std::move(host),
            .port = port,
            .now_ms = now_ms,
            .url = std::move(url)};
}

// `now_ms` is the deletion time the tombstone carries.
inline storage::write_op unregister(std::string host, std::uint16_t port, std::int64_t now_ms = 0) {
    return {
        .kind = storage::write_op::kind_t::unregister, .now_ms = now_ms, .url = url_at(host, port)};
}

inline storage::write_op drain(std::string host, std::uint16_t port, std::int64_t now_ms,
                               bool drained = true) {
    return {.kind = drained ? storage::write_op::kind_t::drain : storage::write_op::kind_t::undrain,
            .now_ms = now_ms,
            .url = url_at(host, port)};
}

}  // namespace servreg::test
