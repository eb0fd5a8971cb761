// One HTTP connection: reads requests with their timeouts and limits, hands each to the
// router, writes the replies in order. Lives as long as its pending operations.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "servreg/http/message.h"
#include "servreg/http/server_state.h"
#include "servreg/registry/executor.h"

namespace servreg::http {

// A connection lives on one event loop, run by one thread, for its whole life: its handlers
// never run concurrently, so it needs no strand. The concrete executor type (rather than
// Asio's type-erased any_io_executor) saves an executor copy and a virtual call per operation.
using executor_type = boost::asio::io_context::executor_type;
using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, executor_type>;
using timer_type = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, executor_type>;

// A connection's event loop as the registry sees it: a write's completion is posted here, and
// its reply is formatted and written on this loop rather than on the storage writer's thread.
class session;

class loop_executor final : public registry::executor {
public:
    loop_executor(executor_type ex, session& owner) : ex_(std::move(ex)), owner_(owner) {}
    void post(task t) const override;
    const void* queue() const noexcept override { return &ex_.context(); }
    void waiting(std::function<void()> give_up) const override;

private:
    executor_type ex_;
    session& owner_;
};

class session : public std::enable_shared_from_this<session> {
public:
    session(socket_type&& socket, std::shared_ptr<server_state> state);
    ~session();

    void start();
    // Called on the session's loop when the server stops: closes an idle connection now, a
    // busy one after its reply.
    void shutdown();
    executor_type executor() { return socket_.get_executor(); }
    // The call being answered waits: `give_up` is called if the client goes away first.
    void waiting(std::function<void()> give_up);

private:
    using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
    using time_point = std::chrono::steady_clock::time_point;
    // What the connection is doing: this decides its deadline, whether serve() may read on,
    // and whether shutdown() may close it at once. The reading phases come first.
    enum class phase {
        idle,        // waiting for the next request's first byte (idle timeout)
        header,      // reading a request's header (header timeout; the first from the accept)
        body,        // reading its body (body timeout)
        continuing,  // writing "100 Continue" (write timeout)
        routing,     // inside the router: a reply now is written in place and serve() goes on
        answering,   // waiting for the reply, from a write that commits (no deadline)
        writing,     // the rest of the reply waits for the socket (write timeout)
        streaming,   // waiting for an event stream's next chunk (no deadline)
        closed,
    };

    void serve();
    void read();
    void on_read(boost::beast::error_code ec, std::size_t n);
    void wait_for_bytes();
    void on_readable(boost::beast::error_code ec);
    void fail(boost::beast::error_code ec);
    void send_continue();
    void handle();
    void reply(response r);
    void refuse(unsigned status, std::string message);
    void write(response r);
    void send();
    void on_write(boost::beast::error_code ec, std::size_t n);
    void stream_next();
    void on_chunk(std::string chunk);
    void watch_for_close();
    void on_stream_readable(boost::beast::error_code ec);
    void watch_for_hangup();
    void written();
    void log(unsigned status, std::size_t bytes, std::string_view label);
    void close();

    bool reading() const noexcept { return phase_ <= phase::body; }
    void enter(phase next);
    void set_deadline(time_point deadline);
    void on_timer(boost::beast::error_code ec);

    socket_type socket_;
    loop_executor loop_;
    timer_type timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<request_parser> parser_;  // the request being read or answered
    std::size_t header_bytes_ = 0;          // of its header, parsed so far
    std::shared_ptr<server_state> state_;
    std::string head_;  // the reply being written: its status line and fields,
    std::string body_;  // and its body
    std::string remote_;
    time_point started_;
    phase phase_ = phase::idle;
    time_point deadline_ = time_point::max();  // the connection is closed when it passes
    time_point armed_ = time_point::max();     // when timer_'s pending wait ends; max: none
    std::shared_ptr<body_stream> stream_;      // the event stream being written, if any
    bool stream_reading_ = false;              // a read waits for the streaming client's close
    std::function<void()> give_up_;            // of the call that waits, while it waits
    bool waited_ = false;                      // the reply being written answers such a call
    std::uint64_t hangup_watch_ = 0;  // the latest watch_for_hangup(); older ones are stale
    bool keep_alive_ = true;          // the request being answered lets the connection stay open
    bool stopping_ = false;           // the server stops: close after the reply in progress
};

}  // namespace servreg::http
