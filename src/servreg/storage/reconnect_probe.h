// A server tried on a thread of its own before a store reconnects to it, so that a server that
// hangs holds no caller for a connect timeout (SPEC section 5: deadlines).
#pragma once

#include <chrono>
#include <future>
#include <string>

namespace servreg::storage {

class reconnect_probe {
public:
    reconnect_probe(std::string backend, std::string connect_string);
    ~reconnect_probe();  // waits for an attempt in progress (bounded by the connect timeout)
    reconnect_probe(const reconnect_probe&) = delete;
    reconnect_probe& operator=(const reconnect_probe&) = delete;

    // Starts an attempt to connect unless one runs, and waits for it at most `wait`: true when it
    // connected, false while it is still trying (the next call waits for the same attempt). Throws
    // what connecting threw, and the next call starts again.
    bool succeeded(std::chrono::milliseconds wait);

private:
    std::string backend_;
    std::string connect_string_;
    std::future<void> attempt_;
};

}  // namespace servreg::storage
