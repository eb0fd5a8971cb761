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

    // What runs the tasks: executors with the same queue may be handed one task for the
    // work of all of them (a connection's executor answers its event loop).
    virtual const void* queue() const noexcept { return this; }

    // The call in progress waits (watch_service): `give_up` forgets it, and the executor calls
    // it, on its own thread, if the caller goes away before the answer. Default: never.
    virtual void waiting(std::function<void()> give_up) const { (void)give_up; }

protected:
    ~executor() = default;
};

}  // namespace servreg::registry
