// A registry clock that moves only when the test moves it.
#pragma once

#include <atomic>
#include <cstdint>

#include "servreg/registry/clock.h"

namespace servreg::test {

class manual_clock final : public registry::clock {
public:
    explicit manual_clock(std::int64_t now_ms = 1'700'000'000'000) : now_(now_ms) {}
    std::int64_t now_ms() const noexcept override { return now_.load(); }
    void set(std::int64_t now_ms) { now_ = now_ms; }
    void advance(std::int64_t ms) { now_ += ms; }

private:
    std::atomic<std::int64_t> now_;
};

}  // namespace servreg::test
