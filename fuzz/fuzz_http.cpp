// Fuzzes the HTTP request path: raw bytes into a real session (the daemon's session, router,
// dispatcher and access log) over a loopback TCP connection inside this process, against an
// in-memory registry. Besides crashes, it stops when the session does not close and go away
// after the client's end of stream, or answers with something that is not an HTTP/1.x
// response with one of the statuses servreg uses.
//
// Input: the bytes a client sends on one connection, after which it half-closes and reads
// every reply until the server closes.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "registry_stack.h"
#include "servreg/http/access_log.h"
#include "servreg/http/router.h"
#include "servreg/http/server_state.h"
#include "servreg/http/session.h"

namespace {

namespace net = boost::asio;
namespace bhttp = boost::beast::http;
using servreg::fuzz::fail;
using tcp = net::ip::tcp;
using steady = std::chrono::steady_clock;

// Small limits, so that short inputs reach them; the timeouts never fire, since every input
// ends with the client's end of stream.
servreg::config::server_limits fuzz_limits() {
    servreg::config::server_limits l;
    l.body_limit = 4096;
    l.header_limit = 1024;
    l.batch_limit = 16;
    return l;
}

struct world {
    world()
        : log("/dev/null"),
          routes(registry.compatible, registry.service, std::string("fuzz-token")),
          state(std::make_shared<servreg::http::server_state>(fuzz_limits(), &log)),
          work(net::make_work_guard(ioc)),
          acceptor(ioc, tcp::endpoint(net::ip::make_address("127.0.0.1"), 0)),
          io_thread([this] { ioc.run(); }) {
        state->routes = &routes;
    }

    servreg::fuzz::registry_stack registry;
    servreg::http::access_log log;
    servreg::http::router routes;
    std::shared_ptr<servreg::http::server_state> state;
    net::io_context ioc;
    net::executor_work_guard<net::io_context::executor_type> work;
    tcp::acceptor acceptor;
    std::thread io_thread;
};

world* w = nullptr;

int connect_client(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) fail("socket() failed");
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    // No free local port is the machine's state, not servreg's (other tests' connections in
    // TIME_WAIT): wait for one rather than report it as a finding.
    const auto deadline = steady::now() + std::chrono::seconds(30);
    while (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        const int error = errno;
        if ((error != EADDRNOTAVAIL && error != EINTR) || steady::now() > deadline) {
            fail(std::string("connect() failed: ") + std::strerror(error));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

// Sends `input`, half-closes, and reads until the server closes; fails after `limit`.
std::string exchange(int fd, std::string_view input, std::chrono::seconds limit) {
    const auto deadline = steady::now() + limit;
    std::string received;
    bool sending = true;
    if (input.empty()) {
        ::shutdown(fd, SHUT_WR);
        sending = false;
    }
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
        if (left.count() <= 0) fail("the session did not close after the client's end of stream");
        pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        if (p.revents & POLLIN) {
            char chunk[16384];
            auto n = ::recv(fd, chunk, sizeof chunk, MSG_DONTWAIT);
            if (n == 0) return received;
            if (n < 0 && errno != EAGAIN && errno != EINTR) return received;  // reset
            if (n > 0) received.append(chunk, static_cast<std::size_t>(n));
        }
        if (sending && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            auto n = ::send(fd, input.data(), input.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0) input.remove_prefix(static_cast<std::size_t>(n));
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || input.empty()) {
                ::shutdown(fd, SHUT_WR);
                sending = false;
            }
        }
    }
}

// Feeds `parser` from `buffer` until it has a whole message, needs more than there is, or
// fails; returns the error (need_more when the bytes ran out).
template <class Parser>
boost::beast::error_code parse_one(Parser& parser, boost::beast::flat_buffer& buffer) {
    boost::beast::error_code ec;
    while (!parser.is_done()) {
        if (buffer.size() == 0) return bhttp::error::need_more;
        auto used = parser.put(buffer.data(), ec);
        buffer.consume(used);
        if (ec == bhttp::error::need_more) {
            if (buffer.size() == 0) return ec;
            ec = {};
            if (used == 0) return bhttp::error::need_more;
            continue;
        }
        if (ec) return ec;
    }
    return ec;
}

boost::beast::flat_buffer buffer_of(std::string_view bytes) {
    boost::beast::flat_buffer buffer;
    if (bytes.empty()) return buffer;
    auto space = buffer.prepare(bytes.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    buffer.commit(bytes.size());
    return buffer;
}

// Which of the requests in `input` are HEAD requests, as the server's parser reads them with
// the same limits: their replies carry no body.
std::vector<bool> head_requests(std::string_view input) {
    std::vector<bool> out;
    auto buffer = buffer_of(input);
    const auto limits = fuzz_limits();
    for (;;) {
        bhttp::request_parser<bhttp::string_body> parser;
        parser.eager(true);
        parser.header_limit(static_cast<std::uint32_t>(limits.header_limit));
        parser.body_limit(limits.body_limit);
        if (parse_one(parser, buffer)) {
            // The server answers a request whose headers it read, even when its body fails.
            if (parser.is_header_done()) out.push_back(parser.get().method() == bhttp::verb::head);
            return out;
        }
        out.push_back(parser.get().method() == bhttp::verb::head);
    }
}

// The replies, in order: each an HTTP/1.x response with a status servreg uses.
void check_replies(std::string_view input, const std::string& received) {
    const auto heads = head_requests(input);
    std::size_t request = 0;
    static const std::set<unsigned> statuses{100, 200, 204, 400, 404, 405, 413, 415, 431, 503};
    auto buffer = buffer_of(received);
    while (buffer.size() > 0) {
        bhttp::response_parser<bhttp::string_body> parser;
        parser.eager(true);
        parser.body_limit(16 * 1024 * 1024);
        parser.skip(request < heads.size() && heads[request]);
        auto ec = parse_one(parser, buffer);
        if (ec == bhttp::error::need_more && parser.is_header_done()) {
            ec = {};
            parser.put_eof(ec);  // a body delimited by the end of the connection
        }
        if (ec || !parser.is_done()) {
            fail("the server sent something that is not an HTTP response (" + ec.message() +
                 "): " + received.substr(0, 300));
        }
        const auto& res = parser.get();
        if (res.result_int() != 100) ++request;  // an interim reply precedes the real one
        if (!statuses.contains(res.result_int())) {
            fail("unexpected status " + std::to_string(res.result_int()) + ": " +
                 received.substr(0, 300));
        }
        // Every body says what it is (the status page is HTML, /metrics text), and what says
        // JSON is JSON.
        const auto type = res[bhttp::field::content_type];
        if (!res.body().empty() && type.empty()) {
            fail("a body without a Content-Type: " + received.substr(0, 300));
        }
        if (type == "application/json" && !res.body().empty() &&
            !nlohmann::json::accept(res.body())) {
            fail("a JSON reply that is not JSON: " + received.substr(0, 300));
        }
    }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    servreg::fuzz::silence_logging();
    w = new world();  // lives until exit: its threads use it
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    w->registry.reset();
    const int fd = connect_client(w->acceptor.local_endpoint().port());
    {
        servreg::http::socket_type socket(w->ioc.get_executor());
        boost::system::error_code ec;
        w->acceptor.accept(socket, ec);
        if (ec) fail("accept failed: " + ec.message());
        std::make_shared<servreg::http::session>(std::move(socket), w->state)->start();
    }
    const std::string received = exchange(
        fd, std::string_view(reinterpret_cast<const char*>(data), size), std::chrono::seconds(5));
    ::close(fd);

    // The session must go away once its connection is closed: nothing may keep it alive.
    const auto deadline = steady::now() + std::chrono::seconds(5);
    for (;;) {
        {
            std::lock_guard lock(w->state->mutex);
            if (w->state->open.empty()) break;
        }
        if (steady::now() > deadline) fail("the session outlived its connection");
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    check_replies(std::string_view(reinterpret_cast<const char*>(data), size), received);
    w->registry.check_index_matches_store();
    return 0;
}
