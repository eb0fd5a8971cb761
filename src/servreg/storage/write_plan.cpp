// Write planning (write_plan.h): the lock order of a batch, and the pings it can leave out.
#include "servreg/storage/write_plan.h"

#include <algorithm>
#include <numeric>
#include <optional>

namespace servreg::storage {

const std::vector<write_step>& write_planner::plan(std::span<const write_op> ops) {
    order_.resize(ops.size());
    std::iota(order_.begin(), order_.end(), std::size_t{0});
    std::ranges::stable_sort(order_,
                             [&](std::size_t a, std::size_t b) { return ops[a].url < ops[b].url; });
    steps_.clear();
    const auto add_step = [&](std::size_t i, std::int64_t first_seen_ms) {
        const bool first_of_url = steps_.empty() || ops[steps_.back().index].url != ops[i].url;
        steps_.push_back({i, first_seen_ms, ops[i].stored_same && first_of_url});
    };
    std::optional<std::int64_t> run_start;
    for (std::size_t k = 0; k < order_.size(); ++k) {
        const write_op& op = ops[order_[k]];
        if (op.kind != write_op::kind_t::ping) {
            add_step(order_[k], 0);
            continue;
        }
        if (!run_start) run_start = op.now_ms;
        if (k + 1 < order_.size()) {
            const write_op& next = ops[order_[k + 1]];
            // The next one stores all this one would, unless this one brings metadata and the
            // next keeps what is stored.
            if (next.kind == write_op::kind_t::ping && next.url == op.url && next.name == op.name &&
                (next.meta || !op.meta)) {
                continue;
            }
        }
        add_step(order_[k], *run_start);
        run_start.reset();
    }
    return steps_;
}

}  // namespace servreg::storage
