// The order in which a batch of writes reaches the database, and which of them can be left out:
// pure logic, with no database in sight.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "servreg/storage/store.h"

namespace servreg::storage {

// One write to execute: the op, and the first_seen it carries when it inserts or moves.
struct write_step {
    std::size_t index;  // into the batch
    std::int64_t first_seen_ms;
    // The op's write_op::stored_same, where no earlier step of the batch writes its URL: the
    // caller judged it against the rows as they were before the batch.
    bool stored_same = false;
};

// Plans batch after batch, reusing its buffers: the writer plans every group commit.
class write_planner {
public:
    // Orders the ops by URL (stable, so each instance keeps its own order), which gives every
    // servreg process sharing a database the same lock order. A ping followed by a ping of the
    // same name for the same URL is left out (unless it brings metadata the next one does not);
    // the one that stays carries the first one's time as first_seen, so the result is that of
    // running every op in turn. Other writes carry a first_seen of 0. A ping's stored_same is
    // kept for the first step of its URL only. Valid until the next call.
    const std::vector<write_step>& plan(std::span<const write_op> ops);

private:
    std::vector<std::size_t> order_;
    std::vector<write_step> steps_;
};

}  // namespace servreg::storage
