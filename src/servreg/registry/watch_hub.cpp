// Watching: one state per watched (pattern, meta) with its answer and index, the waiting calls
// of each, and two time-ordered heaps, the states' next expiries and the calls' deadlines.
// The index tells the hub which service names changed; the hub's thread compares the answers
// of the states watching those names and wakes the calls whose answer changed.
#include "servreg/registry/watch_hub.h"

#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <limits>
#include <map>
#include <queue>
#include <unordered_map>
#include <unordered_set>
#include <utility>

#include "servreg/registry/post_grouped.h"

namespace servreg::registry {

namespace watch_index {

std::uint64_t hash(const std::vector<endpoint>& instances) noexcept {
    // FNV-1a over every field, with a separator that no field contains.
    std::uint64_t h = 14695981039346656037ull;
    const auto mix = [&h](std::string_view s) {
        for (const char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
        h = (h ^ 0x100u) * 1099511628211ull;
    };
    for (const auto& e : instances) {
        mix(e.host);
        mix(std::to_string(e.port));
        mix(e.url);
    }
    return h ^ (h >> 29) ^ (h >> 47);
}

std::uint64_t digest(const std::vector<endpoint>& instances) noexcept {
    return hash(instances) & digest_mask;
}

}  // namespace watch_index

namespace {

constexpr std::int64_t never = std::numeric_limits<std::int64_t>::max();
// An unwatched state is kept this long after its last call, longer than the longest wait, so
// that a client looping on watch_service keeps its index.
constexpr std::int64_t idle_keep_ms = 15 * 60 * 1000;
// Past this many states, unwatched ones are dropped whatever their age.
constexpr std::size_t max_states = 65536;
// Past this many changed names between two runs, every watched answer is compared.
constexpr std::size_t max_changed_names = 64;

using answer_ptr = std::shared_ptr<const std::vector<endpoint>>;

// An answer to run where its call came from. Deliveries go out by detail::post_grouped: a
// change that wakes 10,000 watchers posts one task per event loop, not 10,000.
struct delivery {
    const executor* resume;
    watch_hub::answer_fn done;
    watch_answer answer;

    void operator()() { done(std::move(answer)); }
};

template <class T>
using min_heap = std::priority_queue<T, std::vector<T>, std::greater<T>>;

}  // namespace

struct watch_hub::impl {
    using key_type = std::pair<std::string, std::string>;  // pattern, encoded meta filter

    struct state {
        state(const glob& p, const metadata& f) : pattern(p), filter(f) {}
        glob pattern;
        metadata filter;
        std::uint64_t index = 0;  // 0 until first computed
        // The answer, kept while calls wait for it; between calls only its hash, so that the
        // states of many patterns (up to max_states) cost little whatever they match.
        answer_ptr answer;
        std::uint64_t hash = 0;
        std::int64_t recheck_ms = never;  // when its oldest instance expires
        std::int64_t used_ms = 0;         // the latest call
        std::unordered_set<ticket> waiters;
    };

    struct waiter {
        state* of = nullptr;
        const executor* resume = nullptr;
        answer_fn done;
        std::int64_t deadline_ms = 0;
    };

    impl(const index& i, const clock& c, std::chrono::milliseconds ttl)
        : idx(i), clk(c), ttl_ms(ttl.count()) {}

    const index& idx;
    const clock& clk;
    const std::int64_t ttl_ms;

    mutable std::mutex mutex;  // everything below up to `pending_mutex`
    std::map<key_type, state> states;
    std::unordered_set<state*> watched;  // states with waiters
    std::unordered_map<ticket, waiter> waiters;
    min_heap<std::pair<std::int64_t, ticket>> deadlines;
    min_heap<std::pair<std::int64_t, state*>> rechecks;
    ticket next_ticket = 1;
    bool stopped = false;
    std::int64_t swept_ms = 0;
    // Waiting calls and calls being set up: while none, the index's changes are not noted.
    std::atomic<std::size_t> interest{0};

    std::mutex pending_mutex;  // what changed since the last run, and the thread's sleep
    std::condition_variable sleeper;
    std::vector<std::string> changed_names;
    bool changed_all = false;
    bool kicked = false;
    bool quit = false;
    std::atomic<std::int64_t> planned_ms{0};  // when the thread wakes next by itself
    std::thread thread;

    static std::uint64_t next_index(std::uint64_t previous, std::int64_t now_ms,
                                    std::uint64_t answer_hash) {
        const auto t = std::max<std::uint64_t>(static_cast<std::uint64_t>(now_ms),
                                               (previous >> watch_index::digest_bits) + 1);
        return (t << watch_index::digest_bits) | (answer_hash & watch_index::digest_mask);
    }

    // Computes the answer of `st` now; whether it changed (a new index then).
    bool refresh(state& st, std::int64_t now_ms) {
        std::int64_t oldest = never;
        auto current = idx.locate(st.pattern, now_ms - ttl_ms, &st.filter, &oldest);
        const std::int64_t before =
            std::exchange(st.recheck_ms, oldest == never ? never : oldest + ttl_ms + 1);
        if (!st.waiters.empty() && st.recheck_ms != never && st.recheck_ms != before) {
            rechecks.emplace(st.recheck_ms, &st);
        }
        const std::uint64_t h = watch_index::hash(current);
        const bool changed = st.index == 0 || h != st.hash;
        if (changed) {
            st.index = next_index(st.index, now_ms, h);
            st.hash = h;
        }
        if (changed || !st.answer) {
            st.answer = std::make_shared<const std::vector<endpoint>>(std::move(current));
        }
        return changed;
    }

    watch_answer answer_of(const state& st) const { return {st.index, st.answer}; }

    // Answers every waiting call of `st`.
    void wake(state& st, std::vector<delivery>& out) {
        for (const ticket t : st.waiters) {
            auto it = waiters.find(t);
            out.push_back({it->second.resume, std::move(it->second.done), answer_of(st)});
            waiters.erase(it);
            interest.fetch_sub(1, std::memory_order_relaxed);
        }
        st.waiters.clear();
        watched.erase(&st);
    }

    // The same, from the hub's thread: the answer is kept only while calls wait for it.
    void wake_and_release(state& st, std::vector<delivery>& out) {
        wake(st, out);
        st.answer.reset();
    }

    void forget_waiter(std::unordered_map<ticket, waiter>::iterator it) {
        state& st = *it->second.of;
        st.waiters.erase(it->first);
        if (st.waiters.empty()) {
            watched.erase(&st);
            st.answer.reset();
        }
        waiters.erase(it);
        interest.fetch_sub(1, std::memory_order_relaxed);
    }

    // Drops states nobody watched lately, and more when there are too many.
    void sweep(std::int64_t now_ms) {
        if (now_ms - swept_ms < 60'000 && states.size() <= max_states) return;
        swept_ms = now_ms;
        for (auto it = states.begin(); it != states.end();) {
            const state& st = it->second;
            const bool idle = st.waiters.empty();
            if (idle && (now_ms - st.used_ms > idle_keep_ms || states.size() > max_states)) {
                it = states.erase(it);
            } else {
                ++it;
            }
        }
        // States dropped may still be in `rechecks`: a valid entry is one of a watched state.
    }

    // The heaps keep entries of calls answered and states re-armed until their time comes:
    // rebuilt from what is live when those are most of them.
    void compact() {
        if (deadlines.size() > 2 * waiters.size() + 1024) {
            min_heap<std::pair<std::int64_t, ticket>> live;
            for (const auto& [t, w] : waiters) live.emplace(w.deadline_ms, t);
            deadlines.swap(live);
        }
        if (rechecks.size() > 2 * watched.size() + 1024) {
            min_heap<std::pair<std::int64_t, state*>> live;
            for (state* st : watched) {
                if (st->recheck_ms != never) live.emplace(st->recheck_ms, st);
            }
            rechecks.swap(live);
        }
    }

    void kick_if_before(std::int64_t at_ms) {
        if (at_ms >= planned_ms.load(std::memory_order_relaxed)) return;
        std::lock_guard lock(pending_mutex);
        kicked = true;
        sleeper.notify_one();
    }

    void run(watch_hub& hub) {
        std::unique_lock lock(pending_mutex);
        while (!quit) {
            lock.unlock();
            const std::int64_t next = hub.run_due();
            lock.lock();
            if (quit) break;
            if (changed_all || !changed_names.empty()) continue;
            // At most a second, so that a step of the wall clock is noticed.
            const std::int64_t now = clk.now_ms();
            const std::int64_t delay = std::clamp<std::int64_t>(next - now, 0, 1000);
            planned_ms.store(now + delay, std::memory_order_relaxed);
            kicked = false;
            sleeper.wait_for(lock, std::chrono::milliseconds(delay), [this] {
                return quit || kicked || changed_all || !changed_names.empty();
            });
        }
    }
};

watch_hub::watch_hub(const index& idx, const clock& c, std::chrono::milliseconds ttl)
    : impl_(std::make_unique<impl>(idx, c, ttl)) {}

watch_hub::~watch_hub() {
    stop();
}

void watch_hub::start() {
    impl_->thread = std::thread([this] {
        pthread_setname_np(pthread_self(), "servreg-notify");  // for top -H and ps -L
        impl_->run(*this);
    });
}

watch_hub::ticket watch_hub::watch(const glob& pattern, const metadata& filter, std::uint64_t known,
                                   std::chrono::milliseconds wait, const executor* resume,
                                   answer_fn done) {
    impl& d = *impl_;
    std::vector<delivery> out;
    ticket t = 0;
    std::int64_t due = never;
    // Noted before the answer is computed: a change committed after it wakes this call.
    d.interest.fetch_add(1, std::memory_order_relaxed);
    try {
        std::lock_guard lock(d.mutex);
        const std::int64_t now = d.clk.now_ms();
        auto [it, created] =
            d.states.try_emplace({pattern.text(), encode_metadata(filter)}, pattern, filter);
        impl::state& st = it->second;
        st.used_ms = now;
        const bool changed = d.refresh(st, now);
        const bool same_digest =
            (known & watch_index::digest_mask) == (st.index & watch_index::digest_mask);
        if (created) {
            // The client's index from before this state existed, for the same answer: kept.
            if (known > 0 && same_digest) st.index = known;
        } else if (changed) {
            d.wake(st, out);
        } else if (known > st.index && same_digest) {
            // Another process's (or a previous run's) index for the same answer, and later.
            st.index = known;
        }
        if (known == st.index && wait.count() > 0 && !d.stopped) {
            t = d.next_ticket++;
            const std::int64_t deadline = now + wait.count();
            d.waiters.emplace(t, impl::waiter{&st, resume, std::move(done), deadline});
            st.waiters.insert(t);
            if (d.watched.insert(&st).second && st.recheck_ms != never) {
                d.rechecks.emplace(st.recheck_ms, &st);
            }
            d.deadlines.emplace(deadline, t);
            d.compact();
            due = std::min(deadline, st.recheck_ms);
        } else {
            out.push_back({resume, std::move(done), d.answer_of(st)});
            if (st.waiters.empty()) st.answer.reset();
        }
    } catch (...) {
        if (t == 0) d.interest.fetch_sub(1, std::memory_order_relaxed);
        throw;
    }
    if (t == 0) d.interest.fetch_sub(1, std::memory_order_relaxed);
    detail::post_grouped(out);
    if (t != 0) d.kick_if_before(due);
    return t;
}

void watch_hub::cancel(ticket t) noexcept {
    impl& d = *impl_;
    answer_fn dropped;  // destroyed outside the lock: it may hold the last of a connection
    std::lock_guard lock(d.mutex);
    auto it = d.waiters.find(t);
    if (it == d.waiters.end()) return;
    dropped = std::move(it->second.done);
    d.forget_waiter(it);
}

void watch_hub::stop() {
    impl& d = *impl_;
    std::vector<delivery> out;
    {
        std::lock_guard lock(d.mutex);
        d.stopped = true;
        const std::int64_t now = d.clk.now_ms();
        const std::vector<impl::state*> watched(d.watched.begin(), d.watched.end());
        for (impl::state* st : watched) {
            d.refresh(*st, now);
            d.wake(*st, out);
        }
    }
    detail::post_grouped(out);
    {
        std::lock_guard lock(d.pending_mutex);
        d.quit = true;
        d.sleeper.notify_one();
    }
    if (d.thread.joinable()) d.thread.join();
}

std::int64_t watch_hub::run_due() {
    impl& d = *impl_;
    std::vector<std::string> names;
    bool all = false;
    {
        std::lock_guard lock(d.pending_mutex);
        names.swap(d.changed_names);
        all = std::exchange(d.changed_all, false);
    }
    std::vector<delivery> out;
    std::int64_t next = never;
    {
        std::lock_guard lock(d.mutex);
        const std::int64_t now = d.clk.now_ms();
        if (all || !names.empty()) {
            const std::vector<impl::state*> watched(d.watched.begin(), d.watched.end());
            for (impl::state* st : watched) {
                const bool concerned =
                    all || std::ranges::any_of(names, [st](const std::string& name) {
                        return st->pattern.matches(name);
                    });
                if (concerned && d.refresh(*st, now)) d.wake_and_release(*st, out);
            }
        }
        while (!d.rechecks.empty() && d.rechecks.top().first <= now) {
            const auto [at, st] = d.rechecks.top();
            d.rechecks.pop();
            // Stale entries (answered, re-armed, dropped) are skipped.
            if (!d.watched.contains(st) || st->recheck_ms != at) continue;
            if (d.refresh(*st, now)) d.wake_and_release(*st, out);
        }
        while (!d.deadlines.empty() && d.deadlines.top().first <= now) {
            const ticket t = d.deadlines.top().second;
            d.deadlines.pop();
            auto it = d.waiters.find(t);
            if (it == d.waiters.end()) continue;
            out.push_back(
                {it->second.resume, std::move(it->second.done), d.answer_of(*it->second.of)});
            d.forget_waiter(it);
        }
        d.sweep(now);
        if (!d.rechecks.empty()) next = d.rechecks.top().first;
        if (!d.deadlines.empty()) next = std::min(next, d.deadlines.top().first);
    }
    detail::post_grouped(out);
    return next;
}

std::size_t watch_hub::waiting() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->waiters.size();
}

void watch_hub::changed(std::string_view name) noexcept {
    impl& d = *impl_;
    if (d.interest.load(std::memory_order_relaxed) == 0) return;
    std::lock_guard lock(d.pending_mutex);
    const bool idle = !d.changed_all && d.changed_names.empty();
    if (name.empty() || d.changed_names.size() >= max_changed_names) {
        d.changed_all = true;
        d.changed_names.clear();
    } else if (!d.changed_all) {
        try {
            d.changed_names.emplace_back(name);
        } catch (...) {
            d.changed_all = true;
        }
    }
    if (idle) d.sleeper.notify_one();
}

}  // namespace servreg::registry
