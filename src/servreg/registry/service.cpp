// The registry's methods: writes go through the group-commit writer and reach the index only
// once committed, so the index never shows what the database might not hold.
#include "servreg/registry/service.h"

#include <utility>
#include <vector>

#include "servreg/registry/post_grouped.h"

namespace servreg::registry {

service::service(index& idx, storage::writer& w, const clock& c, std::chrono::seconds ttl)
    : index_(idx), writer_(w), clock_(c), ttl_(ttl) {}

namespace {

// A finished write's continuation, waiting for the end of its batch.
struct finish {
    const executor* resume;
    executor::task run;

    void operator()() { run(); }
};

// The writer thread's finished writes of the batch being completed.
thread_local std::vector<finish> batch_finishes;

// Runs `then` where the caller asked: on `resume`'s event loop, or here, on the writer thread,
// when `resume` is null. A write completed in a batch waits for the batch's tail, so that the
// batch's continuations reach each event loop as one task.
template <class F>
void finish_on(const executor* resume, storage::batch_tail* tail, F then) noexcept {
    try {
        if (resume == nullptr) return then();
        if (tail == nullptr) return resume->post(std::move(then));
        if (batch_finishes.empty()) {
            tail->push_back([] { detail::post_grouped(batch_finishes); });
        }
        batch_finishes.push_back({resume, std::move(then)});
    } catch (...) {
        // Out of memory for the task, or a continuation that threw: the writer thread must
        // survive whatever the caller's side does.
    }
}

}  // namespace

storage::write_op service::make_write(storage::write_op::kind_t kind, std::string url) const {
    storage::write_op op;
    op.kind = kind;
    op.url = std::move(url);
    op.now_ms = clock_.now_ms();
    return op;
}

void service::ping(std::string name, address at, std::optional<metadata> meta, ping_done done,
                   const executor* resume) {
    auto op = make_write(storage::write_op::kind_t::ping, std::move(at.url));
    op.name = std::move(name);
    op.host = std::move(at.host);
    op.port = at.port;
    op.url_form = at.url_form;
    if (meta) op.meta = encode_metadata(*meta);
    // The completion holds the index, not the service, so that a write still queued when the
    // service goes away stays harmless.
    writer_.submit(std::move(op), [idx = &index_, resume, meta = std::move(meta),
                                   done = std::move(done)](
                                      const storage::write_op& committed,
                                      const storage::write_result& result) mutable noexcept {
        if (!result.error) {
            try {
                idx->apply_ping(committed.name,
                                {committed.url, committed.host, committed.port, committed.url_form},
                                meta ? &*meta : nullptr, committed.now_ms);
            } catch (...) {
                // Out of memory. The write is durable, so it is still a success: the
                // instance's next ping puts it back into the index, and reads its row first.
                idx->unconfirm(committed.url);
            }
        }
        finish_on(resume, result.tail, [done = std::move(done), error = result.error]() mutable {
            done(std::move(error));
        });
    });
}

void service::ping(std::string name, std::string host, std::uint16_t port, ping_done done,
                   const executor* resume) {
    ping(std::move(name), address_of(std::move(host), port), std::nullopt, std::move(done), resume);
}

void service::submit_known(storage::write_op op, void (*apply)(index&, const storage::write_op&),
                           unregister_done done, const executor* resume) {
    writer_.submit(std::move(op), [idx = &index_, apply, resume, done = std::move(done)](
                                      const storage::write_op& committed,
                                      const storage::write_result& result) mutable noexcept {
        // The database is the authority on whether the instance existed: another servreg
        // sharing it may have known an instance this index never saw.
        const bool existed = !result.error && result.existed;
        if (!result.error) {
            try {
                apply(*idx, committed);
            } catch (...) {
                // Cannot happen short of a broken mutex; the write itself is durable.
            }
        }
        finish_on(resume, result.tail,
                  [done = std::move(done), error = result.error, existed]() mutable {
                      done(std::move(error), existed);
                  });
    });
}

void service::unregister(std::string url, unregister_done done, const executor* resume) {
    submit_known(
        make_write(storage::write_op::kind_t::unregister, std::move(url)),
        [](index& idx, const storage::write_op& op) { idx.apply_unregister(op.url, op.now_ms); },
        std::move(done), resume);
}

void service::unregister(std::string host, std::uint16_t port, unregister_done done,
                         const executor* resume) {
    unregister(url_of(host, port), std::move(done), resume);
}

void service::drain(std::string url, bool drained, unregister_done done, const executor* resume) {
    using kind = storage::write_op::kind_t;
    submit_known(
        make_write(drained ? kind::drain : kind::undrain, std::move(url)),
        [](index& idx, const storage::write_op& op) {
            idx.apply_drain(op.url, op.kind == kind::drain, op.now_ms);
        },
        std::move(done), resume);
}

std::vector<endpoint> service::locate(const glob& pattern, const metadata* filter) const {
    return index_.locate(pattern, alive_since(), filter);
}

std::vector<listed_instance> service::list(const glob& pattern) const {
    const std::int64_t since = alive_since();
    auto rows = index_.list(pattern);
    std::vector<listed_instance> out;
    out.reserve(rows.size());
    for (auto& row : rows) {
        const bool alive = row.last_seen_ms >= since;
        out.push_back({std::move(row), alive});
    }
    return out;
}

index::counts service::counts() const {
    return index_.count(alive_since());
}

std::int64_t service::alive_since() const noexcept {
    // Alive means now - last_seen <= ttl, that is last_seen >= now - ttl.
    return clock_.now_ms() - std::chrono::duration_cast<std::chrono::milliseconds>(ttl_).count();
}

}  // namespace servreg::registry
