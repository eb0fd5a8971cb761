// Hands a set of continuations to their event loops, one task per loop: a batch of writes that
// committed together, or a change that wakes many watchers, costs each loop one wake-up.
#pragma once

#include <algorithm>
#include <functional>
#include <iterator>
#include <memory>
#include <vector>

#include "servreg/registry/executor.h"

namespace servreg::registry::detail {

// `Item` has a `const executor* resume` (null: run here, now) and an `operator()()` that runs
// it. The items of one queue run in the order given. Empties `items`.
template <class Item>
void post_grouped(std::vector<Item>& items) noexcept {
    const auto queue_of = [](const Item& item) noexcept -> const void* {
        return item.resume == nullptr ? nullptr : item.resume->queue();
    };
    const auto run = [](Item& item) noexcept {
        try {
            item();
        } catch (...) {
            // One call's reply failing (out of memory) leaves the others theirs.
        }
    };
    if (items.size() > 1) {
        std::stable_sort(items.begin(), items.end(), [&](const Item& a, const Item& b) {
            return std::less<const void*>()(queue_of(a), queue_of(b));
        });
    }
    for (std::size_t i = 0; i < items.size();) {
        std::size_t end = i + 1;
        while (end < items.size() && queue_of(items[end]) == queue_of(items[i])) ++end;
        const executor* loop = items[i].resume;
        if (loop == nullptr) {
            for (; i < end; ++i) run(items[i]);
            continue;
        }
        try {
            auto group = std::make_shared<std::vector<Item>>(
                std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(i)),
                std::make_move_iterator(items.begin() + static_cast<std::ptrdiff_t>(end)));
            loop->post([group, run] {
                for (auto& item : *group) run(item);
            });
        } catch (...) {
            // Out of memory for the task: those calls stay unanswered until their connections
            // end, which harms no other caller.
        }
        i = end;
    }
    items.clear();
}

}  // namespace servreg::registry::detail
