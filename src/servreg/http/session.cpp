// One HTTP connection, in the style of Beast's async server examples: a do_/on_ pair per
// step, a timeout before every read, a fresh parser per request, errors as error_codes.
#include "servreg/http/session.h"

#include <spdlog/spdlog.h>

#include <array>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

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

bool expected_close(const beast::error_code& ec) {
    return ec == bhttp::error::end_of_stream || ec == net::error::eof ||
           ec == net::error::operation_aborted || ec == beast::error::timeout ||
           ec == net::error::connection_reset || ec == net::error::broken_pipe ||
           ec == net::error::bad_descriptor;
}

std::string remote_of(const socket_type& s) {
    beast::error_code ec;
    auto ep = s.remote_endpoint(ec);
    return ec ? std::string("-") : ep.address().to_string();
}

}  // namespace

session::session(socket_type&& socket, std::shared_ptr<server_state> state)
    : stream_(std::move(socket)), state_(std::move(state)) {
    remote_ = remote_of(stream_.socket());
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
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->do_read(); });
}

void session::shutdown() {
    stopping_ = true;
    if (reading_) close();
}

void session::do_read() {
    if (stopping_) return close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(state_->limits.header_limit));
    parser_->body_limit(state_->limits.body_limit);
    reading_ = true;
    if (first_request_ || buffer_.size() > 0) return read_header();
    // Between requests on a keep-alive connection: the idle timeout runs until the next
    // request's first bytes; from then on its headers have their own deadline.
    stream_.expires_after(state_->limits.idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096),
                            beast::bind_front_handler(&session::on_idle_data, shared_from_this()));
}

void session::on_idle_data(beast::error_code ec, std::size_t n) {
    if (ec) return close();
    buffer_.commit(n);
    read_header();
}

void session::read_header() {
    stream_.expires_after(state_->limits.header_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_header(ec); });
}

void session::on_header(beast::error_code ec) {
    reading_ = false;
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
        return refuse(431, "request headers exceed " + std::to_string(state_->limits.header_limit) +
                               " bytes");
    }
    if (ec == bhttp::error::body_limit) {
        return refuse(
            413, "request body exceeds " + std::to_string(state_->limits.body_limit) + " bytes");
    }
    if (ec) {
        if (expected_close(ec)) return close();
        return refuse(400, "malformed HTTP request: " + ec.message());
    }
    started_ = steady::now();
    if (parser_->is_done()) return handle();
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
        // curl and others wait for this before sending a larger body.
        static constexpr std::string_view proceed = "HTTP/1.1 100 Continue\r\n\r\n";
        stream_.expires_after(write_timeout);
        return net::async_write(stream_, net::buffer(proceed.data(), proceed.size()),
                                [self = shared_from_this()](beast::error_code wec, std::size_t) {
                                    if (wec) return self->close();
                                    self->read_body();
                                });
    }
    read_body();
}

void session::read_body() {
    // A request whose body has not arrived is not in flight yet: shutdown may close it.
    reading_ = true;
    stream_.expires_after(state_->limits.body_timeout);
    bhttp::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, std::size_t) { self->on_body(ec); });
}

void session::on_body(beast::error_code ec) {
    reading_ = false;
    if (ec == bhttp::error::body_limit) {
        return refuse(
            413, "request body exceeds " + std::to_string(state_->limits.body_limit) + " bytes");
    }
    if (ec) {
        if (expected_close(ec)) return close();
        return refuse(400, "malformed HTTP request: " + ec.message());
    }
    handle();
}

void session::handle() {
    stream_.expires_never();
    auto& msg = parser_->get();
    keep_alive_ = msg.keep_alive();
    // Views into the parser's message, which lives until the next request is read.
    request req;
    req.method = msg.method_string();
    req.target = msg.target();
    req.version = msg.version();
    req.content_type = msg[bhttp::field::content_type];
    if (auto token = msg.find("X-Api-Token"); token != msg.end()) req.api_token = token->value();
    req.body = std::move(msg.body());
    req.remote = remote_;
    state_->routes->handle(std::move(req), [self = shared_from_this()](response r) {
        // Reads answer at once, on this strand: write inline. Writes answer from the storage
        // writer's thread: the reply is posted back to this connection's strand.
        net::dispatch(self->stream_.get_executor(),
                      [self, r = std::move(r)]() mutable { self->write(std::move(r)); });
    });
}

void session::refuse(unsigned status, std::string message) {
    // After a framing error the rest of the stream cannot be trusted: answer, then close.
    keep_alive_ = false;
    if (started_ == steady::time_point{}) started_ = steady::now();
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
    const bool header_read = parser_ && parser_->is_header_done();
    const unsigned version = header_read ? parser_->get().version() : 11;
    keep_open_ = keep_alive_ && !stopping_;
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
    // 204 has no body and no length (RFC 9110, 8.6).
    if (r.status != 204) field("Content-Length", std::to_string(r.body.size()));
    if (version == 10 && keep_open_) field("Connection", "keep-alive");
    if (version != 10 && !keep_open_) field("Connection", "close");
    head_ += "\r\n";
    body_ = std::move(r.body);
    // A reply to HEAD has the GET reply's headers and no body (RFC 9110, 9.3.2): a keep-alive
    // client would read the body as the start of the next reply.
    if (header_read && parser_->get().method() == bhttp::verb::head) body_.clear();
    log(r.status, body_.size(), r.label);
    stream_.expires_after(write_timeout);
    const std::array<net::const_buffer, 2> buffers{net::buffer(head_), net::buffer(body_)};
    net::async_write(stream_, buffers,
                     beast::bind_front_handler(&session::on_write, shared_from_this()));
}

void session::on_write(beast::error_code ec, std::size_t) {
    const bool keep = keep_open_;
    // A large reply's memory is not kept for the connection's next, small one.
    if (body_.capacity() > 64 * 1024) std::string().swap(body_);
    if (ec) return close();
    if (!keep) {
        beast::error_code ignored;
        stream_.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
        return close();
    }
    first_request_ = false;
    started_ = {};
    do_read();
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
    reading_ = false;
    beast::error_code ignored;
    stream_.socket().close(ignored);
}

}  // namespace servreg::http
