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
#include <memory>
#include <optional>
#include <string>

#include "servreg/http/message.h"
#include "servreg/http/server_state.h"

namespace servreg::http {

// A connection lives on one event loop, run by one thread, for its whole life: its handlers
// never run concurrently, so it needs no strand. The concrete executor type (rather than
// Asio's type-erased any_io_executor) saves an executor copy and a virtual call per operation.
using executor_type = boost::asio::io_context::executor_type;
using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, executor_type>;
using timer_type = boost::asio::basic_waitable_timer<
    std::chrono::steady_clock, boost::asio::wait_traits<std::chrono::steady_clock>, executor_type>;

class session : public std::enable_shared_from_this<session> {
public:
    session(socket_type&& socket, std::shared_ptr<server_state> state);
    ~session();

    void start();
    // Called on the session's loop when the server stops: closes an idle connection now, a
    // busy one after its reply.
    void shutdown();
    executor_type executor() { return socket_.get_executor(); }

private:
    using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;
    using time_point = std::chrono::steady_clock::time_point;
    // What the connection waits for, which decides its deadline.
    enum class waiting { nothing, next_request, header, body, reply_sent };

    void serve();
    void read();
    void on_read(boost::beast::error_code ec, std::size_t n);
    void fail(boost::beast::error_code ec);
    void send_continue();
    void handle();
    void reply(response r);
    void refuse(unsigned status, std::string message);
    void write(response r);
    void on_write(boost::beast::error_code ec, std::size_t n);
    void written();
    void log(unsigned status, std::size_t bytes, std::string_view label);
    void close();

    void wait_for(waiting what);
    void set_deadline(time_point deadline);
    void on_timer(boost::beast::error_code ec);

    socket_type socket_;
    timer_type timer_;
    boost::beast::flat_buffer buffer_;
    std::optional<request_parser> parser_;  // the request being read or answered
    std::size_t header_bytes_ = 0;          // of its header, parsed so far
    std::shared_ptr<server_state> state_;
    std::string head_;       // the reply being written: its status line and fields,
    std::string body_;       // and its body
    bool keep_open_ = true;  // after the reply being written
    std::string remote_;
    time_point started_;
    waiting waiting_ = waiting::nothing;
    time_point deadline_ = time_point::max();  // the connection is closed when it passes
    time_point armed_ = time_point::max();     // when timer_'s pending wait ends; max: none
    bool first_request_ = true;
    bool keep_alive_ = true;
    bool reading_ = false;      // waiting for request bytes: safe to close on shutdown
    bool busy_ = false;         // a request is being answered
    bool dispatching_ = false;  // inside the router: a reply now is written in place
    bool continued_ = false;    // "100 Continue" sent for this request
    bool stopping_ = false;
    bool closed_ = false;
};

}  // namespace servreg::http
