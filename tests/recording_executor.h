// An executor for tests: it keeps what is posted to it until the test runs it on its own
// thread, so that a test can tell where a completion runs and what happened before it did.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>

#include "servreg/registry/executor.h"

namespace servreg::test {

class recording_executor final : public servreg::registry::executor {
public:
    void post(task t) const override {
        // Notified under the lock: a test that sees the task may end, and destroy this
        // executor, only once the posting thread is done with it.
        std::lock_guard lock(mutex_);
        tasks_.push_back(std::move(t));
        posted_.notify_all();
    }

    // Waits until `n` tasks were posted in all; false after `timeout`.
    bool wait_for(std::size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
        std::unique_lock lock(mutex_);
        return posted_.wait_for(lock, timeout, [&] { return tasks_.size() >= n; });
    }

    // Tasks posted and not run yet.
    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return tasks_.size();
    }

    // Runs every task posted so far, in order, on the calling thread.
    void run_all() {
        std::deque<task> ready;
        {
            std::lock_guard lock(mutex_);
            ready.swap(tasks_);
        }
        for (auto& t : ready) t();
    }

private:
    mutable std::mutex mutex_;
    mutable std::condition_variable posted_;
    mutable std::deque<task> tasks_;
};

}  // namespace servreg::test
