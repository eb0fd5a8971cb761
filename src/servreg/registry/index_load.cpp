// The index's start-up load: rows taken a chunk at a time into a content of their own, which
// reset() then trades for the index's under its lock.
#include <algorithm>
#include <functional>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/registry/index.h"
#include "servreg/registry/index_impl.h"

namespace servreg::registry {

using detail::url_hash;

struct index::loader::state {
    impl content;
    // Each instance's name, in the order taken: sorted once at the end, which costs less than
    // an ordered insertion a row (most names have one instance, so there are about as many
    // names as rows).
    struct named {
        detail::compact_string name;
        slot_id slot;
    };
    std::vector<named> names;
    std::int64_t newest_ms = 0;

    void take(const storage::instance_row& row) {
        std::string derived;
        std::string_view url = row.url;
        if (url.empty()) url = derived = url_of(row.host, row.port);
        names.push_back({detail::compact_string(row.name), no_slot});
        const slot_id s = content.place(url, row.host, row.port, row.url_form, url_hash(url),
                                        row.first_seen_ms, row.last_seen_ms);
        names.back().slot = s;
        content.take_row(s, row);
        newest_ms = std::max(newest_ms, row.last_seen_ms);
    }

    // Fills the endpoint table, sized once, and puts the names in order and every name's
    // members in endpoint order.
    void finish() {
        content.table.reserve(content, content.live_count);
        for (slot_id s = 0; s < content.slot_count; ++s) {
            // The database keys rows by URL; should one repeat, the later row wins.
            const slot_id earlier = content.table.insert_or_replace(
                content, s,
                [this](slot_id a, slot_id b) { return content.slot(a).same_url(content.slot(b)); });
            if (earlier != no_slot) {
                --content.live_count;
                content.release(earlier);
            }
        }
        std::erase_if(names, [this](const named& n) {
            return n.slot == no_slot || !content.slot(n.slot).live;  // a take that threw
        });
        std::sort(names.begin(), names.end(), [this](const named& a, const named& b) {
            const int c = a.name.compare(b.name.view());
            return c < 0 || (c == 0 && content.endpoint_less(a.slot, b.slot));
        });
        name_id owner = no_name;
        for (named& n : names) {
            if (owner == no_name || content.names[owner].name != n.name) {
                owner = content.names.append(std::move(n.name));
            }
            content.slot(n.slot).owner = owner;
            member_list& members = content.names[owner].members;
            members.reserve_one();
            members.insert(members.end(), n.slot);
        }
        std::vector<named>().swap(names);
    }
};

index::loader::loader() : state_(std::make_unique<state>()) {}

index::loader::~loader() = default;

void index::loader::take(std::span<const storage::instance_row> rows) {
    for (const auto& row : rows) state_->take(row);
}

void index::loader::take_all(storage::store& db) {
    db.scan_all([this](std::span<const storage::instance_row> rows) { take(rows); });
}

std::int64_t index::loader::newest_seen_ms() const noexcept {
    return state_->newest_ms;
}

std::size_t index::loader::size() const noexcept {
    return state_->content.live_count;
}

std::size_t index::loader::raise_last_seen(std::int64_t since_ms, std::int64_t to_ms) noexcept {
    impl& c = state_->content;
    std::size_t raised = 0;
    for (slot_id s = 0; s < c.slot_count; ++s) {
        auto& inst = c.slot(s);
        const std::int64_t seen = inst.last_seen();
        if (!inst.live || seen < since_ms || seen >= to_ms) continue;
        inst.seen(to_ms);
        ++raised;
    }
    return raised;
}

void index::reset(loader& content) {
    loader::state& st = *content.state_;
    st.finish();
    impl& d = *impl_;
    {
        std::unique_lock lock(d.mutex);
        d.swap_content(st.content);
        d.deletions.clear();
        ++d.names_generation;
        d.bump({});
    }
    // The old content goes outside the lock.
    st.content.clear();
    st.newest_ms = 0;
}

void index::reset(const std::vector<storage::instance_row>& rows) {
    loader content;
    content.take(rows);
    reset(content);
}

}  // namespace servreg::registry
