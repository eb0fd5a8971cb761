// The command-line client's one HTTP exchange: resolve, connect, POST, read, each step under a
// deadline, on an io_context of its own that run() drives to completion.
#include "servreg/http/client.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <charconv>

#include "servreg/version.h"

namespace servreg::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

namespace {

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
    if (s.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i]) return false;
    }
    return true;
}

// One exchange; its handlers capture `this`, and run() returns once the last has run.
class exchange {
public:
    exchange(const registry_url& url, const post_settings& settings)
        : url_(url), settings_(settings), resolver_(ioc_), timer_(ioc_), stream_(ioc_) {}

    std::expected<post_reply, std::string> run(bhttp::request<bhttp::string_body> req) {
        request_ = std::move(req);
        parser_.body_limit(settings_.body_limit);
        // The resolver has no deadline of its own.
        timer_.expires_after(settings_.connect_timeout);
        timer_.async_wait([this](beast::error_code ec) {
            if (ec) return;
            resolve_timed_out_ = true;
            resolver_.cancel();
        });
        resolver_.async_resolve(url_.host, std::to_string(url_.port),
                                [this](beast::error_code ec, tcp::resolver::results_type results) {
                                    on_resolve(ec, std::move(results));
                                });
        ioc_.run();
        if (failure_) return std::unexpected(std::move(*failure_));
        return std::move(reply_);
    }

private:
    std::string where() const { return url_.host_header; }

    void on_resolve(beast::error_code ec, tcp::resolver::results_type results) {
        if (ec) {
            timer_.cancel();
            failure_ = resolve_timed_out_ ? "cannot resolve " + url_.host + ": timed out"
                                          : "cannot resolve " + url_.host + ": " + ec.message();
            return;
        }
        stream_.expires_at(timer_.expiry());
        stream_.async_connect(results, [this](beast::error_code cec, const tcp::endpoint&) {
            timer_.cancel();
            on_connect(cec);
        });
    }

    void on_connect(beast::error_code ec) {
        if (ec) {
            failure_ = "cannot connect to " + where() + ": " +
                       (ec == beast::error::timeout ? std::string("timed out") : ec.message());
            return;
        }
        stream_.expires_after(settings_.reply_timeout);
        bhttp::async_write(stream_, request_, [this](beast::error_code wec, std::size_t) {
            if (wec) {
                failure_ = "cannot send the request to " + where() + ": " + describe(wec);
                return;
            }
            bhttp::async_read(stream_, buffer_, parser_,
                              [this](beast::error_code rec, std::size_t) { on_read(rec); });
        });
    }

    void on_read(beast::error_code ec) {
        if (ec) {
            failure_ = "no reply from " + where() + ": " + describe(ec);
            return;
        }
        auto& msg = parser_.get();
        reply_.status = msg.result_int();
        reply_.content_type = std::string(msg[bhttp::field::content_type]);
        reply_.body = std::move(msg.body());
        beast::error_code ignored;
        stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
    }

    static std::string describe(const beast::error_code& ec) {
        if (ec == beast::error::timeout) return "timed out";
        if (ec == bhttp::error::end_of_stream) return "the connection was closed";
        return ec.message();
    }

    const registry_url& url_;
    const post_settings& settings_;
    net::io_context ioc_;
    tcp::resolver resolver_;
    net::steady_timer timer_;
    beast::tcp_stream stream_;
    beast::flat_buffer buffer_;
    bhttp::request<bhttp::string_body> request_;
    bhttp::response_parser<bhttp::string_body> parser_;
    post_reply reply_;
    std::optional<std::string> failure_;
    bool resolve_timed_out_ = false;
};

}  // namespace

std::expected<registry_url, std::string> parse_registry_url(std::string_view url) {
    if (starts_with_nocase(url, "https://"))
        return std::unexpected(
            "https:// is not supported by this client; use http:// (a TLS-terminating proxy "
            "in front of servreg is the way to encrypt)");
    if (!starts_with_nocase(url, "http://"))
        return std::unexpected(std::string("not an http:// URL"));
    std::string_view rest = url.substr(7);
    const std::size_t path_at = rest.find_first_of("/?#");
    std::string_view authority = rest.substr(0, path_at);
    std::string_view path =
        path_at == std::string_view::npos ? std::string_view() : rest.substr(path_at);
    if (authority.find('@') != std::string_view::npos)
        return std::unexpected(std::string("user information in the URL is not supported"));

    registry_url out;
    std::string_view port_text;
    if (authority.starts_with('[')) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos)
            return std::unexpected(std::string("unclosed [ in the URL's host"));
        out.host = std::string(authority.substr(1, close - 1));
        std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                return std::unexpected(std::string("unexpected text after the URL's host"));
            port_text = after.substr(1);
        }
    } else {
        const std::size_t colon = authority.rfind(':');
        out.host = std::string(authority.substr(0, colon));
        if (colon != std::string_view::npos) port_text = authority.substr(colon + 1);
    }
    if (out.host.empty()) return std::unexpected(std::string("the URL has no host"));
    if (!port_text.empty()) {
        unsigned value = 0;
        auto [end, ec] =
            std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
        if (ec != std::errc{} || end != port_text.data() + port_text.size() || value == 0 ||
            value > 65535)
            return std::unexpected(std::string("the URL's port is not a port number (1-65535)"));
        out.port = static_cast<std::uint16_t>(value);
    }
    // The fragment is the client's own business; the rest is what the server sees.
    path = path.substr(0, path.find('#'));
    out.target = path.empty() || path.front() == '?' ? "/" + std::string(path) : std::string(path);
    const bool v6 = out.host.find(':') != std::string::npos;
    out.host_header = (v6 ? "[" + out.host + "]" : out.host) + ":" + std::to_string(out.port);
    return out;
}

std::expected<post_reply, std::string> post_json(const registry_url& url, std::string_view body,
                                                 const std::optional<std::string>& api_token,
                                                 const post_settings& settings) {
    bhttp::request<bhttp::string_body> req{bhttp::verb::post, url.target, 11};
    req.set(bhttp::field::host, url.host_header);
    req.set(bhttp::field::user_agent, std::string("servreg/") + servreg::version);
    req.set(bhttp::field::content_type, "application/json");
    req.set(bhttp::field::accept, "application/json");
    if (api_token) req.set("X-Api-Token", *api_token);
    req.keep_alive(false);
    req.body() = std::string(body);
    req.prepare_payload();
    try {
        exchange x(url, settings);
        return x.run(std::move(req));
    } catch (const std::exception& e) {
        return std::unexpected("cannot reach " + url.host_header + ": " + e.what());
    }
}

}  // namespace servreg::http
