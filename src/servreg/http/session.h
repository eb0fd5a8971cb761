// One HTTP connection: reads requests with their timeouts and limits, hands each to the
// router, writes the replies in order. Lives as long as its pending operations.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "servreg/http/message.h"
#include "servreg/http/server_state.h"

namespace servreg::http {

// Each connection runs on its own strand. The concrete executor type (rather than Asio's
// type-erased any_io_executor) saves an executor copy and a virtual call per operation.
using strand_type = boost::asio::strand<boost::asio::io_context::executor_type>;
using socket_type = boost::asio::basic_stream_socket<boost::asio::ip::tcp, strand_type>;
using stream_type = boost::beast::basic_stream<boost::asio::ip::tcp, strand_type,
                                               boost::beast::unlimited_rate_policy>;

class session : public std::enable_shared_from_this<session> {
public:
    session(socket_type&& socket, std::shared_ptr<server_state> state);
    ~session();

    void start();
    // Called on the session's strand when the server stops: closes an idle connection now,
    // a busy one after its reply.
    void shutdown();
    boost::asio::any_io_executor executor() { return stream_.get_executor(); }

private:
    using request_parser = boost::beast::http::request_parser<boost::beast::http::string_body>;

    void do_read();
    void on_idle_data(boost::beast::error_code ec, std::size_t n);
    void read_header();
    void on_header(boost::beast::error_code ec);
    void read_body();
    void on_body(boost::beast::error_code ec);
    void handle();
    void refuse(unsigned status, std::string message);
    void write(response r);
    void on_write(boost::beast::error_code ec, std::size_t bytes);
    void log(unsigned status, std::size_t bytes, std::string_view label);
    void close();

    stream_type stream_;
    boost::beast::flat_buffer buffer_;
    std::optional<request_parser> parser_;
    std::shared_ptr<server_state> state_;
    std::string head_;       // the reply being written: its status line and fields,
    std::string body_;       // and its body
    bool keep_open_ = true;  // after the reply being written
    std::string remote_;
    std::chrono::steady_clock::time_point started_;
    bool first_request_ = true;
    bool keep_alive_ = true;
    bool reading_ = false;  // waiting for the next request: safe to close on shutdown
    bool stopping_ = false;
};

}  // namespace servreg::http
