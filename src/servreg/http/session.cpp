// One HTTP connection, in the style of Beast's async server examples: a do_/on_ pair per
// step, a timeout before every read, a fresh parser per request, errors as error_codes.
#include "servreg/http/session.h"

#include <spdlog/spdlog.h>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "servreg/http/access_log.h"
#include "servreg/http/router.h"

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
    request req;
    req.method = std::string(msg.method_string());
    req.target = std::string(msg.target());
    req.version = msg.version();
    req.content_type = std::string(msg[bhttp::field::content_type]);
    if (auto token = msg.find("X-Api-Token"); token != msg.end()) {
        req.api_token = std::string(token->value());
    }
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
    r.body = "{\"error\":\"" + message + "\"}";
    write(std::move(r));
}

void session::write(response r) {
    auto res = std::make_shared<beast_response>();
    res->result(r.status);
    unsigned version = parser_ && parser_->is_header_done() ? parser_->get().version() : 11;
    res->version(version);
    if (!r.content_type.empty()) res->set(bhttp::field::content_type, r.content_type);
    for (auto& [name, value] : r.headers) res->set(name, value);
    res->body() = std::move(r.body);
    res->keep_alive(keep_alive_ && !stopping_);
    res->prepare_payload();
    if (r.status == 204) res->erase(bhttp::field::content_length);
    // A reply to HEAD has the GET reply's headers and no body (RFC 9110, 9.3.2): a keep-alive
    // client would read the body as the start of the next reply.
    if (parser_ && parser_->is_header_done() && parser_->get().method() == bhttp::verb::head) {
        res->body().clear();
    }
    log(r.status, res->body().size(), r.label);
    response_ = std::move(res);
    stream_.expires_after(write_timeout);
    bhttp::async_write(stream_, *response_,
                       beast::bind_front_handler(&session::on_write, shared_from_this()));
}

void session::on_write(beast::error_code ec, std::size_t) {
    bool keep = response_->keep_alive();
    response_.reset();
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
    std::string method, target, referer, agent;
    if (parser_ && parser_->is_header_done()) {
        const auto& msg = parser_->get();
        method = std::string(msg.method_string());
        target = std::string(msg.target());
        e.version = msg.version();
        referer = std::string(msg[bhttp::field::referer]);
        agent = std::string(msg[bhttp::field::user_agent]);
    }
    e.method = method;
    e.target = target;
    e.referer = referer;
    e.user_agent = agent;
    state_->log->write(e);
}

void session::close() {
    reading_ = false;
    beast::error_code ignored;
    stream_.socket().close(ignored);
}

}  // namespace servreg::http
