// The registry's notion of now, injectable so that liveness can be tested without waiting.
#pragma once

#include <chrono>
#include <cstdint>

namespace servreg::registry {

class clock {
public:
    virtual ~clock() = default;
    // Milliseconds since the Unix epoch.
    virtual std::int64_t now_ms() const noexcept = 0;
};

class system_clock final : public clock {
public:
    std::int64_t now_ms() const noexcept override {
        return std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
            .count();
    }
};

}  // namespace servreg::registry
