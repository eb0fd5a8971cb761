// The event stream of GET /v1/watch: each chunk is the answer of one watch_service call,
// made with the index of the previous event and a wait of keep_alive_interval. A connection
// asks for a chunk only once the previous one has left, so a slow reader never has more than
// one event queued: it gets the latest answer when it reads again, and is closed when a write
// does not complete within the write timeout.
#include "servreg/http/watch_stream.h"

#include <charconv>
#include <memory>
#include <utility>

#include "servreg/http/targets.h"
#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/registry/watch_hub.h"

namespace servreg::http {
namespace {

class watch_stream final : public body_stream, public std::enable_shared_from_this<watch_stream> {
public:
    watch_stream(registry::watch_hub& hub, targets_query query, std::uint64_t last,
                 const registry::executor* resume)
        : hub_(hub),
          pattern_(query.pattern),
          filter_(std::move(query.filter)),
          last_(last),
          resume_(resume) {}

    void next(std::function<void(std::string)> deliver) override {
        ticket_ = hub_.watch(pattern_, filter_, last_, keep_alive_interval, resume_,
                             [self = shared_from_this(),
                              deliver = std::move(deliver)](registry::watch_answer answer) {
                                 self->ticket_ = 0;
                                 deliver(self->chunk_of(answer));
                             });
    }

    void cancel() noexcept override {
        if (ticket_ != 0) hub_.cancel(std::exchange(ticket_, 0));
    }

private:
    std::string chunk_of(const registry::watch_answer& answer) {
        if (answer.index == last_) return ": keep-alive\n\n";
        last_ = answer.index;
        std::string out = "id: ";
        out += std::to_string(answer.index);
        out += "\nevent: instances\ndata: ";
        out += jsonrpc::watch_answer_json(answer);
        out += "\n\n";
        return out;
    }

    registry::watch_hub& hub_;
    registry::glob pattern_;
    registry::metadata filter_;
    std::uint64_t last_;
    const registry::executor* resume_;
    registry::watch_hub::ticket ticket_ = 0;  // of the call waiting, 0 when none
};

// A Last-Event-ID as this server writes them; anything else counts as none.
std::uint64_t event_id_of(std::string_view text) {
    std::uint64_t id = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    return ec == std::errc() && end == text.data() + text.size() ? id : 0;
}

}  // namespace

response watch_page(registry::watch_hub& hub, std::string_view target,
                    std::string_view last_event_id, const registry::executor* resume) {
    const auto at = target.find('?');
    auto q = parse_targets_query(at == std::string_view::npos ? std::string_view()
                                                              : target.substr(at + 1));
    if (!q) return bad_query(q.error());
    response r;
    r.content_type = "text/event-stream";
    r.headers.emplace_back("Cache-Control", "no-store");
    // nginx buffers a proxied answer unless told not to.
    r.headers.emplace_back("X-Accel-Buffering", "no");
    r.stream =
        std::make_shared<watch_stream>(hub, std::move(*q), event_id_of(last_event_id), resume);
    return r;
}

}  // namespace servreg::http
