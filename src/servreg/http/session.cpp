// One HTTP connection, in the style of Beast's async server examples: a do_/on_ pair per
// step, a timeout before every read, a fresh parser per request, errors as error_codes.
#include "servreg/http/session.h"

#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>

#include "servreg/http/access_log.h"
#include "servreg/http/router.h"
#include "servreg/jsonrpc/json_text.h"

namespace servreg::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

// A reply must leave within this time, or the client is not reading and is dropped.
constexpr std::chrono::seconds write_timeout{10};

// What a socket polled for reading has, its bytes peeked at or taken as `flags` say.
enum class arrival { bytes, nothing_yet, end };

arrival poll_client(int fd, int flags) {
    std::array<char, 512> bytes{};
    const auto n = ::recv(fd, bytes.data(), bytes.size(), flags | MSG_DONTWAIT);
    if (n > 0) return arrival::bytes;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        return arrival::nothing_yet;
    }
    return arrival::end;  // closed, or failed
}

std::string remote_of(const socket_type& s) {
    beast::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? std::string("-") : ep.address().to_string();
}

}  // namespace

void loop_executor::post(task t) const {
    net::post(ex_, std::move(t));
}

void loop_executor::waiting(std::function<void()> give_up) const {
    owner_.waiting(std::move(give_up));
}

session::session(socket_type&& socket, std::shared_ptr<server_state> state)
    : socket_(std::move(socket)),
      loop_(socket_.get_executor(), *this),
      timer_(socket_.get_executor()),
      state_(std::move(state)) {
    remote_ = remote_of(socket_);
    // Replies are written in place while the socket takes them; only the rest of one that
    // does not fit waits for the socket in the event loop.
    beast::error_code ignored;
    socket_.non_blocking(true, ignored);
}

session::~session() {
    std::lock_guard lock(state_->mutex);
    state_->open.erase(this);
    if (state_->open.empty()) state_->all_closed.notify_all();
}

void session::start() {
    {
        std::lock_guard lock(state_->mutex);
        state_->open.emplace(this, weak_from_this());
    }
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
        // The first request's headers are timed from the connection's start.
        self->enter(phase::header);
        self->wait_for_bytes();
    });
}

void session::shutdown() {
    stopping_ = true;
    // Between handlers, a reading phase means a read is pending: no request is in flight.
    // An event stream has no end to wait for.
    if (reading() || phase_ == phase::streaming) close();
}

// Reads and answers requests until one waits for its reply, the buffer needs more bytes, or
// the connection ends. A reply written in place lets the loop go on to the next request
// already buffered (pipelining) without recursion.
void session::serve() {
    while (reading()) {
        if (!parser_ || parser_->is_done()) {
            if (stopping_) return close();
            parser_.emplace();
            parser_->header_limit(static_cast<std::uint32_t>(state_->limits.header_limit));
            parser_->body_limit(state_->limits.body_limit);
            header_bytes_ = 0;
        }
        beast::error_code ec;
        std::size_t used = 0;
        const bool had_header = parser_->is_header_done();
        if (buffer_.size() > 0) {
            // Not eager: a put that completes the header stops there, so that its size is known.
            used = parser_->put(buffer_.data(), ec);
            buffer_.consume(used);
        }
        if (ec && ec != bhttp::error::need_more) return fail(ec);
        if (!had_header) {
            // The parser takes complete header lines as they come and checks its limit within
            // one put only: a header sent in pieces is counted here.
            header_bytes_ += used;
            const std::size_t unparsed = parser_->is_header_done() ? 0 : buffer_.size();
            if (header_bytes_ + unparsed > state_->limits.header_limit) {
                return fail(bhttp::error::header_limit);
            }
        }
        if (parser_->is_header_done() && started_ == time_point{}) started_ = steady::now();
        if (parser_->is_done()) {
            handle();
            continue;
        }
        if (used > 0 && buffer_.size() > 0 && !ec) continue;
        // Before the body is read, that is before "100 Continue" went out.
        if (parser_->is_header_done() && phase_ != phase::body &&
            beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
            // curl and others wait for this before sending a larger body.
            return send_continue();
        }
        return read();
    }
}

void session::read() {
    if (stopping_) return close();  // a request whose bytes have not all arrived is not in flight
    // With no byte of a request yet, the phase stays: idle, or header for the first request.
    if (parser_->is_header_done()) {
        enter(phase::body);
    } else if (parser_->got_some()) {
        enter(phase::header);
    }
    // A connection that gave its buffer back while a call waited takes one, as a new one does,
    // only when bytes arrive: an answered watcher holds none until its client calls again.
    if (buffer_.capacity() == 0) return wait_for_bytes();
    const std::size_t room = buffer_.capacity() - buffer_.size();
    socket_.async_read_some(buffer_.prepare(std::clamp<std::size_t>(room, 4096, 65536)),
                            beast::bind_front_handler(&session::on_read, shared_from_this()));
}

// A new connection takes its buffer (4 KiB) when bytes arrive: one that sends nothing holds
// none. Later reads go straight to the buffer, which a keep-alive connection keeps between
// requests (waiting for readiness first cost a ping 2-5 us of CPU, 5-16 % of its rate).
void session::wait_for_bytes() {
    socket_.async_wait(net::socket_base::wait_read,
                       beast::bind_front_handler(&session::on_readable, shared_from_this()));
}

void session::on_readable(beast::error_code ec) {
    if (phase_ == phase::closed) return;
    if (ec) return close();
    const std::size_t n = socket_.read_some(buffer_.prepare(4096), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
        buffer_.shrink_to_fit();  // a wake-up without bytes: wait again, holding nothing
        return wait_for_bytes();
    }
    on_read(ec, n);
}

void session::on_read(beast::error_code ec, std::size_t n) {
    if (phase_ == phase::closed) return;
    if (ec == net::error::eof && parser_ && parser_->got_some()) {
        // The client ended its side within a request.
        parser_->put_eof(ec);
        if (!ec) return serve();
        return fail(ec);
    }
    if (ec) return close();
    buffer_.commit(n);
    serve();
}

void session::fail(beast::error_code ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        return refuse(431, "request headers exceed " + std::to_string(state_->limits.header_limit) +
                               " bytes");
    }
    if (ec == bhttp::error::body_limit) {
        return refuse(
            413, "request body exceeds " + std::to_string(state_->limits.body_limit) + " bytes");
    }
    refuse(400, "malformed HTTP request: " + ec.message());
}

void session::send_continue() {
    static constexpr std::string_view proceed = "HTTP/1.1 100 Continue\r\n\r\n";
    enter(phase::continuing);
    net::async_write(socket_, net::buffer(proceed.data(), proceed.size()),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->close();
                         self->read();
                     });
}

void session::handle() {
    enter(phase::routing);
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    // Views into the parser's message, which lives until the next request is read.
    request req;
    req.method = msg.method_string();
    req.target = msg.target();
    req.version = msg.version();
    req.content_type = msg[bhttp::field::content_type];
    if (auto token = msg.find("X-Api-Token"); token != msg.end()) req.api_token = token->value();
    req.last_event_id = msg["Last-Event-ID"];
    req.body = std::move(msg.body());
    req.remote = remote_;
    req.resume = &loop_;
    state_->routes->handle(std::move(req),
                           [self = shared_from_this()](response r) { self->reply(std::move(r)); });
    if (phase_ == phase::routing) enter(phase::answering);
}

// Reads answer at once, inside handle(); writes answer once committed, on this connection's
// loop (request::resume). A reply from any other thread is posted here.
void session::reply(response r) {
    auto ex = socket_.get_executor();
    if (ex.running_in_this_thread()) return write(std::move(r));
    net::post(
        ex, [self = shared_from_this(), r = std::move(r)]() mutable { self->write(std::move(r)); });
}

// A call may wait for minutes, and thousands may wait at once: meanwhile its connection keeps
// no read buffer (4 KiB from its first read, most of what a waiting call costs) unless a
// pipelined request is in it, nor the text of its previous reply; nor, once it is answered,
// the text of its answer (written()).
void session::waiting(std::function<void()> give_up) {
    give_up_ = std::move(give_up);
    waited_ = true;
    if (buffer_.size() == 0) buffer_.shrink_to_fit();
    std::string().swap(head_);
    std::string().swap(body_);
    watch_for_hangup();
}

// While a call waits, a client that closes its connection gives it up at once, rather than
// holding its descriptor and its place among --max-connections until the wait runs out. The
// socket is only polled: a request sent meanwhile stays in it for after the reply.
void session::watch_for_hangup() {
    socket_.async_wait(net::socket_base::wait_read,
                       [self = shared_from_this(), watch = ++hangup_watch_](beast::error_code ec) {
                           if (ec || watch != self->hangup_watch_ || !self->give_up_ ||
                               self->phase_ != phase::answering) {
                               return;
                           }
                           switch (poll_client(self->socket_.native_handle(), MSG_PEEK)) {
                               case arrival::bytes:
                                   return;  // a pipelined request: the client is still there
                               case arrival::nothing_yet:
                                   return self->watch_for_hangup();
                               case arrival::end:
                                   break;
                           }
                           std::exchange(self->give_up_, nullptr)();
                           self->close();
                       });
}

void session::refuse(unsigned status, std::string message) {
    // After a framing error the rest of the stream cannot be trusted: answer, then close.
    keep_alive_ = false;
    if (started_ == steady::time_point{}) started_ = steady::now();
    enter(phase::answering);
    response r;
    r.status = status;
    r.body = "{\"error\":";
    jsonrpc::append_json_string(r.body, message);
    r.body += '}';
    write(std::move(r));
}

// The reply's head is written by hand into a buffer the connection keeps: servreg's replies
// have a handful of fields, and Beast's serializer (a field list allocated per reply, a
// buffer sequence walked per write) cost more than the rest of a ping's HTTP path.
void session::write(response r) {
    give_up_ = nullptr;
    const bool header_read = parser_ && parser_->is_header_done();
    const unsigned version = header_read ? parser_->get().version() : 11;
    // An event stream ends when the connection does.
    if (r.stream) keep_alive_ = false;
    const bool keep_open = keep_alive_ && !stopping_;
    head_.clear();
    head_ += version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    head_ += std::to_string(r.status);
    head_ += ' ';
    head_ += bhttp::obsolete_reason(bhttp::int_to_status(r.status));
    head_ += "\r\n";
    const auto field = [this](std::string_view name, std::string_view value) {
        head_ += name;
        head_ += ": ";
        head_ += value;
        head_ += "\r\n";
    };
    if (!r.content_type.empty()) field("Content-Type", r.content_type);
    for (const auto& [name, value] : r.headers) field(name, value);
    // 204 has no body and no length (RFC 9110, 8.6); a stream's body ends at the close.
    if (r.status != 204 && !r.stream) field("Content-Length", std::to_string(r.body.size()));
    if (version == 10 && keep_open) field("Connection", "keep-alive");
    if (version != 10 && !keep_open) field("Connection", "close");
    head_ += "\r\n";
    body_ = std::move(r.body);
    // A reply to HEAD has the GET reply's headers and no body (RFC 9110, 9.3.2): a keep-alive
    // client would read the body as the start of the next reply.
    if (header_read && parser_->get().method() == bhttp::verb::head) body_.clear();
    log(r.status, body_.size(), r.label);
    stream_ = std::move(r.stream);
    if (phase_ == phase::closed) return;
    send();
}

// Writes head_ and body_. Most replies fit in the socket's buffer: written now, with no
// deadline to arm and no handler to queue.
void session::send() {
    std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(body_)};
    beast::error_code ec;
    const std::size_t sent = socket_.write_some(buffers, ec);
    if (ec && ec != net::error::would_block && ec != net::error::try_again) return close();
    if (sent == head_.size() + body_.size()) return written();
    // The rest waits for the socket.
    enter(phase::writing);
    const std::size_t from_head = std::min(sent, head_.size());
    buffers[0] += from_head;
    buffers[1] += sent - from_head;
    net::async_write(socket_, buffers,
                     beast::bind_front_handler(&session::on_write, shared_from_this()));
}

void session::on_write(beast::error_code ec, std::size_t) {
    if (ec) return close();
    written();
}

void session::written() {
    // A large reply's memory is not kept for the connection's next, small one.
    if (body_.capacity() > 64 * 1024) std::string().swap(body_);
    // Nor an answer's to a call that waited: a change answers thousands at once, and their
    // clients may take their time to call again.
    if (std::exchange(waited_, false)) {
        std::string().swap(head_);
        std::string().swap(body_);
    }
    if (stream_ && !stopping_) {
        buffer_.shrink_to_fit();  // the stream reads no more (a no-op once done)
        return stream_next();
    }
    if (!keep_alive_ || stopping_) {
        beast::error_code ignored;
        socket_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);
        return close();
    }
    const bool in_router = phase_ == phase::routing;
    started_ = {};
    enter(phase::idle);
    // Inside handle(), serve()'s loop goes on by itself.
    if (!in_router) serve();
}

// The next chunk of the event stream: asked for only once the previous one has left, so that
// a client that does not read holds one chunk at most, and is closed at the write timeout.
void session::stream_next() {
    enter(phase::streaming);
    watch_for_close();
    stream_->next(
        [self = shared_from_this()](std::string chunk) { self->on_chunk(std::move(chunk)); });
}

void session::on_chunk(std::string chunk) {
    if (phase_ == phase::closed) return;
    head_.clear();
    body_ = std::move(chunk);
    send();
}

// A streaming client sends nothing more: a read that ends tells that it went away, which
// frees its waiting call at once rather than at its next chunk. The socket is polled and what
// it sent dropped, so that a stream holds no read buffer.
void session::watch_for_close() {
    if (stream_reading_) return;
    stream_reading_ = true;
    socket_.async_wait(net::socket_base::wait_read,
                       beast::bind_front_handler(&session::on_stream_readable, shared_from_this()));
}

void session::on_stream_readable(beast::error_code ec) {
    stream_reading_ = false;
    if (phase_ == phase::closed) return;
    if (!ec && poll_client(socket_.native_handle(), 0) != arrival::end) return watch_for_close();
    close();
}

void session::log(unsigned status, std::size_t bytes, std::string_view label) {
    if (state_->log == nullptr) return;
    access_entry e;
    e.remote = remote_;
    e.status = status;
    e.bytes = bytes;
    e.label = label;
    e.duration_us =
        std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started_).count();
    if (parser_ && parser_->is_header_done()) {
        const auto& msg = parser_->get();
        e.method = msg.method_string();
        e.target = msg.target();
        e.version = msg.version();
        e.referer = msg[bhttp::field::referer];
        e.user_agent = msg[bhttp::field::user_agent];
    }
    state_->log->write(e);
}

void session::close() {
    if (phase_ == phase::closed) return;
    phase_ = phase::closed;
    timer_.cancel();
    if (give_up_) std::exchange(give_up_, nullptr)();
    if (stream_) std::exchange(stream_, nullptr)->cancel();
    beast::error_code ignored;
    socket_.close(ignored);
}

// Deadlines are kept lazily: moving one later (the common case, once per request) only
// stores it; the timer is armed again when it fires early, or when a deadline moves earlier.
void session::enter(phase next) {
    if (next == phase_ || phase_ == phase::closed) return;
    phase_ = next;
    const auto now = steady::now();
    switch (next) {
        case phase::idle:
            return set_deadline(now + state_->limits.idle_timeout);
        case phase::header:
            return set_deadline(now + state_->limits.header_timeout);
        case phase::body:
            return set_deadline(now + state_->limits.body_timeout);
        case phase::continuing:
        case phase::writing:
            return set_deadline(now + write_timeout);
        case phase::routing:
        case phase::answering:
        case phase::streaming:
            deadline_ = time_point::max();
            return;
        case phase::closed:
            return;
    }
}

void session::set_deadline(time_point deadline) {
    deadline_ = deadline;
    if (phase_ == phase::closed || deadline >= armed_) return;
    armed_ = deadline;
    timer_.expires_at(deadline);  // a pending wait ends with operation_aborted
    timer_.async_wait(beast::bind_front_handler(&session::on_timer, shared_from_this()));
}

void session::on_timer(beast::error_code ec) {
    if (ec == net::error::operation_aborted || phase_ == phase::closed) return;
    const auto now = steady::now();
    if (timer_.expiry() > now) return;  // armed again after this wait had ended
    armed_ = time_point::max();
    if (deadline_ <= now) return close();
    if (deadline_ != time_point::max()) set_deadline(deadline_);
}

}  // namespace servreg::http
