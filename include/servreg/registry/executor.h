// Where a write's completion continues. The writer thread only commits and updates the index;
// it hands each finished write to the event loop of the connection that asked for it, where
// the reply is formatted, so that the one serial thread spends nothing on replies.
#pragma once

#include <functional>

namespace servreg::registry {

class executor {
public:
    using task = std::function<void()>;

    // Runs `t` later on the executor's thread. Throws only when out of memory.
    virtual void post(task t) const = 0;

protected:
    ~executor() = default;
};

}  // namespace servreg::registry
