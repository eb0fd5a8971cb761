// A TCP relay on loopback between servreg and a database server, which can stop forwarding
// without closing anything: a network path that silently drops packets, as far as either end
// can tell (connections stay open, nothing arrives, new connections get no answer).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace servreg::test {

class tcp_relay {
public:
    // Forwards connections on 127.0.0.1:port() to 127.0.0.1:upstream_port.
    explicit tcp_relay(std::uint16_t upstream_port) : upstream_port_(upstream_port) {
        listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof addr;
        if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
            ::listen(listen_fd_, 64) != 0 ||
            ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
            throw std::runtime_error("tcp_relay: cannot listen");
        }
        port_ = ntohs(addr.sin_port);
        thread_ = std::thread([this] { run(); });
    }
    ~tcp_relay() {
        stopping_ = true;
        thread_.join();
        for (const auto& p : pairs_) {
            ::close(p.client);
            ::close(p.server);
        }
        ::close(listen_fd_);
    }
    tcp_relay(const tcp_relay&) = delete;
    tcp_relay& operator=(const tcp_relay&) = delete;

    std::uint16_t port() const { return port_; }
    // Stops forwarding and accepting; what is sent meanwhile waits in the kernel's buffers.
    void pause() { paused_ = true; }
    void resume() { paused_ = false; }

private:
    struct pair {
        int client;
        int server;
    };

    void run() {
        while (!stopping_) {
            if (paused_) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
            for (const auto& p : pairs_) {
                fds.push_back({p.client, POLLIN, 0});
                fds.push_back({p.server, POLLIN, 0});
            }
            if (::poll(fds.data(), fds.size(), 20) <= 0 || paused_) continue;
            // The pairs polled; one accepted below joins the next round.
            const std::size_t polled = pairs_.size();
            if (fds[0].revents & POLLIN) accept_one();
            std::vector<std::size_t> closed;
            for (std::size_t i = 0; i < polled; ++i) {
                const auto& p = pairs_[i];
                const bool ok = forward(fds[1 + 2 * i], p.client, p.server) &&
                                forward(fds[2 + 2 * i], p.server, p.client);
                if (!ok) closed.push_back(i);
            }
            for (auto it = closed.rbegin(); it != closed.rend(); ++it) {
                ::close(pairs_[*it].client);
                ::close(pairs_[*it].server);
                pairs_.erase(pairs_.begin() + static_cast<std::ptrdiff_t>(*it));
            }
        }
    }

    void accept_one() {
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) return;
        const int server = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(upstream_port_);
        if (server < 0 || ::connect(server, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            ::close(client);
            if (server >= 0) ::close(server);
            return;
        }
        pairs_.push_back({client, server});
    }

    // Copies what `from` has to `to`; false when either end is gone.
    static bool forward(const pollfd& polled, int from, int to) {
        if ((polled.revents & (POLLIN | POLLHUP | POLLERR)) == 0) return true;
        char buffer[65536];
        const ssize_t n = ::recv(from, buffer, sizeof buffer, MSG_DONTWAIT);
        if (n == 0) return false;
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        for (ssize_t sent = 0; sent < n;) {
            const ssize_t m =
                ::send(to, buffer + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
            if (m <= 0) return false;
            sent += m;
        }
        return true;
    }

    std::uint16_t upstream_port_;
    int listen_fd_ = -1;
    std::uint16_t port_ = 0;
    std::atomic<bool> paused_{false};
    std::atomic<bool> stopping_{false};
    std::vector<pair> pairs_;  // the relay's thread only
    std::thread thread_;
};

}  // namespace servreg::test
