// What the listener and its sessions share: settings, the router, counters, and the set of
// open sessions that a graceful shutdown walks.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <unordered_map>

#include "servreg/config/options.h"

namespace servreg::http {

class router;
class access_log;
class session;

struct server_state {
    server_state(const config::server_limits& l, access_log* a) : limits(l), log(a) {}

    const config::server_limits limits;
    const router* routes = nullptr;  // set before the first accept
    access_log* log;                 // may be null

    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint64_t> refused{0};

    std::mutex mutex;
    std::condition_variable all_closed;
    // Every open session; each removes itself in its destructor.
    std::unordered_map<const session*, std::weak_ptr<session>> open;
    bool stopping = false;
};

}  // namespace servreg::http
