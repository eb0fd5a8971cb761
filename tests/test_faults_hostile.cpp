// Hostile clients (SPEC sections 2 and 3): slowloris, a reader that never reads, 10,000 idle
// connections, a 100,000-element batch, 100,000 levels of nesting, invalid UTF-8, NUL bytes,
// a Content-Length that lies either way, chunked bodies that never end. Each gets its clean
// refusal, nothing it sent is written, the daemon's memory stays bounded, and a well-behaved
// client on another connection is served throughout.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

constexpr long mib = 1024;  // in KiB, as rss_kib() counts

// The daemon's peak resident memory while it is alive, sampled every 20 ms.
class memory_watch {
public:
    explicit memory_watch(pid_t pid)
        : pid_(pid), start_(rss_kib(pid)), thread_([this] { run(); }) {}
    ~memory_watch() {
        stopping_ = true;
        thread_.join();
    }
    long start_kib() const { return start_; }
    long peak_growth_kib() const { return peak_.load() - start_; }
    std::string describe() const {
        return "RSS " + std::to_string(start_ / 1024) + " MiB at start, peak " +
               std::to_string(peak_.load() / 1024) + " MiB";
    }

private:
    void run() {
        while (!stopping_) {
            peak_ = std::max(peak_.load(), rss_kib(pid_));
            std::this_thread::sleep_for(20ms);
        }
    }
    pid_t pid_;
    long start_;
    std::atomic<long> peak_{0};
    std::atomic<bool> stopping_{false};
    std::thread thread_;
};

// A daemon with a well-behaved client and a memory watch around it; the checks every test
// ends with are in check_unharmed().
class FaultsHostile : public ::testing::Test {
protected:
    void SetUp() override { start({}); }

    void start(std::vector<std::string> args) {
        watch_.reset();
        others_.reset();
        daemon_ = std::make_unique<registry_daemon>(std::move(args));
        // Something for the bystander to find, so that its replies are not trivially empty.
        ASSERT_EQ(call(port(), "ping", {"bystander.api", "10.0.0.1", 1}).result(), true);
        watch_ = std::make_unique<memory_watch>(pid());
        others_ = std::make_unique<bystander>(port());
    }

    std::uint16_t port() const { return daemon_->port(); }
    pid_t pid() { return daemon_->process().pid(); }

    // The daemon is alive, its memory grew by less than `bound_mib` (scaled under sanitizers),
    // the bystander was never refused nor kept waiting, and nothing but its own instance (and
    // what the test lists in `written`) is in the registry.
    void check_unharmed(long bound_mib, std::set<std::string> written = {}) {
        others_->stop();
        EXPECT_EQ(daemon_->process().wait(0ms), -1) << "servreg died\n" << daemon_->process().log();
        EXPECT_TRUE(others_->failures().empty()) << others_->describe();
        EXPECT_GT(others_->requests(), 0) << others_->describe();
        EXPECT_LT(others_->slowest(), 1000ms * sanitizer_slack) << others_->describe();
        if (!sanitized) {
            EXPECT_LT(watch_->peak_growth_kib(), bound_mib * mib) << watch_->describe();
        }
        std::cout << "[          ] " << watch_->describe() << "; " << others_->describe()
                  << std::endl;
        written.insert("10.0.0.1:1");
        EXPECT_EQ(listed_endpoints(port(), "*"), written) << "what the registry holds";
    }

    std::unique_ptr<registry_daemon> daemon_;
    std::unique_ptr<memory_watch> watch_;
    std::unique_ptr<bystander> others_;
};

const std::string api_head =
    "POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";

std::string ping_text(const std::string& name, int port, const json& id = 1) {
    return call_text("ping", {name, "10.66.0.1", port}, id);
}

// How long the server took to close `c`, reading and discarding whatever it sends; nothing
// when it kept the connection open for `limit`.
std::optional<std::chrono::milliseconds> until_closed(connection& c,
                                                      std::chrono::milliseconds limit) {
    return c.wait_for_close(limit);
}

// The daemon closes a connection at its deadline: not long before, and not much after.
void expect_closed_at(std::optional<std::chrono::milliseconds> took,
                      std::chrono::milliseconds deadline, const std::string& what) {
    ASSERT_TRUE(took.has_value()) << what << ": still open";
    EXPECT_GE(*took, deadline - 1500ms) << what << ": closed too early";
    EXPECT_LE(*took, deadline + 2500ms * sanitizer_slack) << what << ": closed too late";
}

TEST_F(FaultsHostile, SlowlorisHalfSentHeadersAreAllClosedAtTheHeaderDeadline) {
    constexpr int clients = 500;
    std::vector<std::unique_ptr<connection>> slow;
    for (int i = 0; i < clients; ++i) {
        slow.push_back(std::make_unique<connection>(port()));
        ASSERT_TRUE(slow.back()->send("POST /api HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: "));
    }
    const auto start = steady::now();
    // One more byte of the endless header on every connection each half second.
    std::atomic<bool> stop{false};
    std::thread trickle([&] {
        while (!stop) {
            for (auto& c : slow) {
                ::send(c->fd(), "a", 1, MSG_NOSIGNAL | MSG_DONTWAIT);
            }
            std::this_thread::sleep_for(500ms);
        }
    });
    int closed = 0;
    for (auto& c : slow) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            start + 10s + 3s * sanitizer_slack - steady::now());
        if (until_closed(*c, std::max(left, 1ms))) ++closed;
    }
    const auto took = steady::now() - start;
    stop = true;
    trickle.join();
    EXPECT_EQ(closed, clients) << "every half-sent request must be closed by its header deadline";
    EXPECT_GE(took, 9s) << "the header deadline is 10 s";
    check_unharmed(8);
}

TEST_F(FaultsHostile, SlowReaderIsDroppedAtTheWriteDeadlineHoldingOneReplyAtATime) {
    // 2000 instances, so that each locate_service("*") reply is about 70 KB.
    for (int batch = 0; batch < 2; ++batch) {
        json calls = json::array();
        for (int i = 0; i < 1000; ++i) {
            calls.push_back(
                {{"jsonrpc", "2.0"},
                 {"method", "ping"},
                 {"params", {"slow.reader", "10.77.0." + std::to_string(batch), 1 + i}}});
        }
        auto x = rpc(port(), calls.dump());
        ASSERT_EQ(x.reply.status, 204) << x.describe();
    }
    // The seeding connections close on the daemon's side a moment after their replies: count
    // once that is done, or the count falls under the reader's feet.
    int fds_before = open_fds(pid());
    for (int i = 0; i < 50 * sanitizer_slack; ++i) {
        std::this_thread::sleep_for(100ms);
        const int now = open_fds(pid());
        if (now == fds_before) break;
        fds_before = now;
    }
    connection reader(port());
    int small = 4096;
    ::setsockopt(reader.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    std::string requests;
    constexpr int pipelined = 300;  // about 21 MB of replies, far beyond the socket buffers
    for (int i = 0; i < pipelined; ++i) {
        requests += post_request(call_text("locate_service", {"*"}, i));
    }
    ASSERT_TRUE(reader.send(requests));
    // Until the daemon has accepted it: the deadline is timed from there.
    for (int i = 0; i < 500 * sanitizer_slack && open_fds(pid()) < fds_before + 1; ++i) {
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_GE(open_fds(pid()), fds_before + 1)
        << "the daemon did not accept the slow reader's connection within " << 5 * sanitizer_slack
        << " s";
    // It never reads. The daemon's write stalls once the buffers are full, and after the
    // 10 s write deadline it drops the connection: its descriptor count goes back down.
    const auto start = steady::now();
    std::optional<std::chrono::milliseconds> dropped;
    while (steady::now() - start < 10s + 5s * sanitizer_slack) {
        if (open_fds(pid()) < fds_before + 1) {
            dropped = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - start);
            break;
        }
        std::this_thread::sleep_for(100ms);
    }
    ASSERT_TRUE(dropped) << "a client that does not read its replies must be dropped";
    EXPECT_GE(*dropped, 9s) << "the write deadline is 10 s";
    // What the client gets when it finally reads: some replies, then the end.
    int replies = 0;
    reader.set_timeout(5s);
    while (auto r = reader.read_reply()) ++replies;
    EXPECT_LT(replies, pipelined) << "the connection was closed before all replies went out";
    std::set<std::string> written;
    for (int batch = 0; batch < 2; ++batch) {
        for (int i = 0; i < 1000; ++i) {
            written.insert("10.77.0." + std::to_string(batch) + ":" + std::to_string(1 + i));
        }
    }
    check_unharmed(8, written);
}

TEST_F(FaultsHostile, TenThousandIdleConnectionsAreHeldInBoundedMemoryThenClosed) {
    constexpr int idle_count = 10'000;
    // Both processes need a descriptor per connection and some to spare.
    if (raise_fd_limit(idle_count + 1000) < idle_count + 1000) {
        GTEST_SKIP() << "the hard limit on descriptors (ulimit -Hn) is below " << idle_count + 1000;
    }
    start({"--max-connections", std::to_string(idle_count + 100)});  // inherits the new limit
    const int fds_before = open_fds(pid());
    std::vector<std::unique_ptr<connection>> idle;
    idle.reserve(idle_count);
    const auto start_time = steady::now();
    for (int i = 0; i < idle_count; ++i) idle.push_back(std::make_unique<connection>(port()));
    // Wait until the daemon has accepted them all.
    while (open_fds(pid()) < fds_before + idle_count && steady::now() - start_time < 8s) {
        std::this_thread::sleep_for(50ms);
    }
    const int held = open_fds(pid()) - fds_before;
    EXPECT_GE(held, idle_count) << "the daemon accepts 10,000 connections";
    const long per_connection = watch_->peak_growth_kib() * 1024 / idle_count;
    std::cout << "[          ] " << per_connection << " bytes per idle connection" << std::endl;
    // A connection takes its read buffer (4 KiB) only when bytes arrive.
    if (!sanitized) {
        EXPECT_LT(per_connection, 3 * 1024) << watch_->describe();
    }
    auto x = call(port(), "get_service_specs");
    EXPECT_TRUE(x.result().is_object()) << "a new client is served next to 10,000 idle ones";

    // Nothing arrives on them: the header deadline (10 s from connecting) closes them all.
    const auto deadline = start_time + 10s + 5s * sanitizer_slack;
    while (open_fds(pid()) > fds_before + 10 && steady::now() < deadline) {
        std::this_thread::sleep_for(200ms);
    }
    EXPECT_LE(open_fds(pid()), fds_before + 10) << "idle connections must be closed by deadline";
    idle.clear();
    check_unharmed(8 * idle_count / 1024);
}

// Waiting watch_service calls, one a connection as long-polling clients hold them, cost little
// more than their connections (SPEC 9: 10,000 under 64 MiB more than none): a waiting call
// keeps no read buffer, and an answered one takes none until its client calls again. (That
// the calls are answered again on the same connections is
// FaultsConnections.TenThousandWaitingWatchers...)
TEST_F(FaultsHostile, TenThousandWatchCallsWaitingAndAnsweredAreHeldInBoundedMemory) {
    constexpr int watchers = 10'000;
    if (raise_fd_limit(watchers + 1000) < watchers + 1000) {
        GTEST_SKIP() << "the hard limit on descriptors (ulimit -Hn) is below " << watchers + 1000;
    }
    start({"--max-connections", std::to_string(watchers + 100)});
    ASSERT_EQ(call(port(), "ping", {"hostile.watched", "10.0.9.1", 1}).result(), true);
    const auto now = call(port(), "watch_service", {{"name", "hostile.*"}, {"wait", 0}});
    ASSERT_TRUE(now.result().is_object() && now.result()["index"].is_number_unsigned())
        << now.describe();
    const std::string watching = call_text(
        "watch_service", {{"name", "hostile.*"}, {"index", now.result()["index"]}, {"wait", 600}});
    std::vector<std::unique_ptr<connection>> held;
    held.reserve(watchers);
    for (int i = 0; i < watchers; ++i) {
        held.push_back(std::make_unique<connection>(port()));
        ASSERT_TRUE(held.back()->send(post_request(watching))) << "watcher " << i;
    }
    const auto waiting = [this] {
        const auto m = get(port(), "/metrics").body;
        const auto at = m.find("\nservreg_watch_waiting ");
        return at == std::string::npos ? -1 : std::stoi(m.substr(at + 23));
    };
    ASSERT_TRUE(eventually([&] { return waiting() == watchers; }, 30s * sanitizer_slack))
        << waiting() << " calls waiting of " << watchers << " sent: " << watching;
    const long per_call = watch_->peak_growth_kib() * 1024 / watchers;
    std::cout << "[          ] " << per_call << " bytes per waiting call" << std::endl;
    if (!sanitized) {
        EXPECT_LT(per_call, 3 * 1024) << watch_->describe();
    }

    // One change answers them all. The clients read their answers and call no more: each
    // connection then holds neither a read buffer nor the text of its answer, so that
    // answering takes little more than the waiting calls gave back.
    const long before_answers_kib = rss_kib(pid());
    ASSERT_EQ(call(port(), "ping", {"hostile.changed", "10.0.9.2", 1}).result(), true);
    int answered = 0;
    std::string odd;
    for (auto& c : held) {
        const auto r = c->read_reply();
        if (r && r->status == 200 && r->body.find("\"10.0.9.2\"") != std::string::npos) {
            ++answered;
        } else if (odd.empty()) {
            odd = r ? r->status_line + "\n" + r->body : "no reply";
        }
    }
    EXPECT_EQ(answered, watchers) << "the change answers every waiting call: " << watching
                                  << "\nfirst other reply: " << odd;
    std::this_thread::sleep_for(200ms);  // the memory watch samples every 20 ms
    const long per_answered = watch_->peak_growth_kib() * 1024 / watchers;
    const long answering = (rss_kib(pid()) - before_answers_kib) * 1024 / watchers;
    std::cout << "[          ] " << per_answered << " bytes per answered call, " << answering
              << " of them added by its answer" << std::endl;
    if (!sanitized) {
        EXPECT_LT(per_answered, 3 * 1024) << watch_->describe();
        EXPECT_LT(answering, 128) << "resident " << before_answers_kib << " KiB before the answers";
    }
    held.clear();
    check_unharmed(64, {"10.0.9.1:1", "10.0.9.2:1"});
}

TEST_F(FaultsHostile, HundredThousandElementBatchIsOneInvalidRequestAndRunsNothing) {
    // Ten real pings first, then 99,990 cheap elements: about 200 KB, within the body limit.
    std::string body = "[";
    for (int i = 0; i < 10; ++i) body += ping_text("batch.big", 1 + i, i) + ",";
    for (int i = 10; i < 100'000; ++i) body += i + 1 < 100'000 ? "0," : "0";
    body += "]";
    auto x = rpc(port(), body);
    EXPECT_EQ(x.reply.status, 200) << x.describe();
    EXPECT_EQ(error_code(x), -32600) << x.describe();
    EXPECT_TRUE(x.body.is_object() && x.body["id"].is_null())
        << "one reply, id null" << x.describe();

    // 100,000 real pings are 6 MB: the body limit refuses them before they are read.
    std::string pings = "[";
    for (int i = 0; i < 100'000; ++i) {
        if (i > 0) pings += ",";
        pings += ping_text("batch.huge", 1 + i % 60000, i);
    }
    pings += "]";
    connection c(port());
    const auto start = steady::now();
    ASSERT_TRUE(c.send(post_request(pings).substr(0, 300)));  // headers and a little body
    auto r = c.read_reply();
    ASSERT_TRUE(r) << "no reply to a 6 MB batch";
    EXPECT_EQ(r->status, 413) << r->body;
    EXPECT_LT(steady::now() - start, 2s * sanitizer_slack) << "refused from its Content-Length";
    check_unharmed(16);
}

TEST_F(FaultsHostile, HundredThousandLevelsOfNestingAreRefusedBeforeParsing) {
    constexpr int depth = 100'000;
    const std::vector<std::pair<std::string, std::string>> bodies = {
        {"arrays", std::string(depth, '[') + std::string(depth, ']')},
        {"objects",
         [] {
             std::string s;
             for (int i = 0; i < depth; ++i) s += "{\"a\":";
             return s + "0" + std::string(depth, '}');
         }()},
        {"unterminated", std::string(depth, '[')},
        {"in params", "{\"jsonrpc\":\"2.0\",\"method\":\"locate_service\",\"params\":" +
                          std::string(depth, '[') + "\"*\"" + std::string(depth, ']') +
                          ",\"id\":1}"},
        {"in a batch element", "[" + ping_text("nest.a", 1) + "," + std::string(depth, '[') +
                                   std::string(depth, ']') + "]"},
    };
    for (const auto& [what, body] : bodies) {
        const auto start = steady::now();
        auto x = rpc(port(), body);
        EXPECT_EQ(error_code(x), -32600) << what << x.describe();
        EXPECT_LT(steady::now() - start, 1s * sanitizer_slack) << what;
    }
    // Brackets inside a string are not nesting: this is an over-long pattern, -32602.
    auto x = call(port(), "locate_service", {std::string(depth, '[')});
    EXPECT_EQ(error_code(x), -32602) << x.describe();
    check_unharmed(8);
}

TEST_F(FaultsHostile, InvalidUtf8AnywhereIsAParseErrorAndWritesNothing) {
    const std::vector<std::string> bad = {
        "caf\xc3",           // truncated sequence
        "\xff\xfe",          // never valid
        "\xc0\xaf",          // overlong '/'
        "\xed\xa0\x80",      // a surrogate, encoded
        "\xf4\x90\x80\x80",  // beyond U+10FFFF
        "ok\x80",            // a lone continuation byte
    };
    for (const auto& b : bad) {
        for (const auto& body :
             {R"({"jsonrpc":"2.0","method":"ping","params":[")" + b + R"(","h",1],"id":1})",
              R"({"jsonrpc":"2.0","method":"ping","params":["n",")" + b + R"(",1],"id":1})",
              R"({"jsonrpc":"2.0","method":"locate_service","params":[")" + b + R"("],"id":1})",
              R"({"jsonrpc":"2.0","method":")" + b + R"(","id":1})",
              R"({"jsonrpc":"2.0","method":"get_service_specs","id":")" + b + R"("})"}) {
            auto x = rpc(port(), body);
            EXPECT_EQ(error_code(x), -32700) << x.describe();
        }
    }
    // Escapes that name no character: lone surrogates.
    for (const auto* escape : {R"(\ud800)", R"(\udc00)", R"(\ud800\u0041)"}) {
        auto x = rpc(port(), std::string(R"({"jsonrpc":"2.0","method":"ping","params":["a)") +
                                 escape + R"(","h",1],"id":1})");
        EXPECT_EQ(error_code(x), -32700) << x.describe();
    }
    // Valid UTF-8 is an ordinary name.
    auto ok = call(port(), "ping", {"caf\xc3\xa9.api", "10.66.0.9", 9});
    EXPECT_EQ(ok.result(), true) << ok.describe();
    auto found = call(port(), "locate_service", {"caf\xc3\xa9.*"});
    EXPECT_EQ(found.result().size(), 1u) << found.describe();
    check_unharmed(8, {"10.66.0.9:9"});
}

TEST_F(FaultsHostile, NulBytesAreRefusedCleanlyWhereverTheyAre) {
    using namespace std::string_literals;
    // In the JSON text, raw: not JSON.
    auto raw = rpc(port(), R"({"jsonrpc":"2.0","method":"ping","params":["a)"s + '\0' +
                               R"(b","h",1],"id":1})");
    EXPECT_EQ(error_code(raw), -32700) << raw.describe();
    // Escaped: JSON, but a control character that names and hosts may not hold.
    for (const auto& params : {json{"a\0b"s, "h", 1}, json{"a", "h\0"s, 1}}) {
        auto x = call(port(), "ping", params);
        EXPECT_EQ(error_code(x), -32602) << x.describe();
    }
    auto pattern = call(port(), "locate_service", {"\0"s});
    EXPECT_EQ(pattern.reply.status, 200) << pattern.describe();
    EXPECT_TRUE(pattern.result().is_array() || error_code(pattern) == -32602) << pattern.describe();
    // In the HTTP head: 400, and the connection is closed.
    const std::vector<std::string> heads = {
        "POST /api\0 HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"s,
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\0\r\nContent-Length: 2\r\n\r\n{}"s,
        "POST /api HTTP/1.1\r\nHo\0st: x\r\nContent-Length: 2\r\n\r\n{}"s,
        "\0POST /api HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"s,
    };
    for (const auto& head : heads) {
        connection c(port());
        ASSERT_TRUE(c.send(head));
        auto r = c.read_reply();
        ASSERT_TRUE(r) << "no reply to a NUL in the head";
        EXPECT_EQ(r->status, 400) << r->status_line << " " << r->body;
        EXPECT_TRUE(c.wait_for_close(2s)) << "closed after a malformed head";
    }
    check_unharmed(8);
}

TEST_F(FaultsHostile, ContentLengthThatLiesIsRefusedAndNothingRuns) {
    const std::string ping = ping_text("lie.short", 1);
    // Shorter than the body: the first bytes are not JSON, and what follows is no request.
    {
        connection c(port());
        ASSERT_TRUE(c.send(api_head + "Content-Length: 20\r\n\r\n" + ping));
        auto first = c.read_reply();
        ASSERT_TRUE(first);
        EXPECT_EQ(first->status, 200);
        EXPECT_NE(first->body.find("-32700"), std::string::npos) << first->body;
        auto second = c.read_reply();
        EXPECT_TRUE(!second || second->status == 400)
            << "the rest of the body is not a request: " << second->status_line;
        EXPECT_TRUE(c.wait_for_close(2s)) << "closed after the garbage";
    }
    // Malformed or contradictory lengths: 400, and nothing is read as a body.
    for (const auto& lengths :
         {"Content-Length: 5\r\nContent-Length: 90\r\n", "Content-Length: -1\r\n",
          "Content-Length: 1e3\r\n", "Content-Length: 0x5a\r\n",
          "Content-Length: 184467440737095516160\r\n",
          "Content-Length: 90\r\nTransfer-Encoding: chunked\r\n"}) {
        connection c(port());
        ASSERT_TRUE(c.send(api_head + lengths + "\r\n" + ping));
        auto r = c.read_reply();
        ASSERT_TRUE(r) << lengths;
        EXPECT_TRUE(r->status == 400 || r->status == 413) << lengths << " -> " << r->status_line;
    }
    // Longer than the body: the request never completes, so it never runs, and the body
    // deadline (10 s from the end of the headers) closes the connection.
    connection c(port());
    const std::string ping_long = ping_text("lie.long", 2);
    ASSERT_TRUE(c.send(api_head + "Content-Length: 500\r\n\r\n" + ping_long));
    expect_closed_at(until_closed(c, 20s), 10s, "body shorter than its Content-Length");
    check_unharmed(8);
}

TEST_F(FaultsHostile, ChunkedBodyThatNeverEndsIsClosedAtTheBodyDeadline) {
    // A complete ping in the first chunk, then a chunk of whitespace every half second, forever.
    const std::string ping = ping_text("chunked.endless", 1);
    connection c(port());
    std::ostringstream first;
    first << std::hex << ping.size();
    ASSERT_TRUE(c.send(api_head + "Transfer-Encoding: chunked\r\n\r\n" + first.str() + "\r\n" +
                       ping + "\r\n"));
    std::atomic<bool> stop{false};
    std::thread drip([&] {
        while (!stop) {
            ::send(c.fd(), "1\r\n \r\n", 6, MSG_NOSIGNAL | MSG_DONTWAIT);
            std::this_thread::sleep_for(500ms);
        }
    });
    const auto took = until_closed(c, 20s);
    stop = true;
    drip.join();
    expect_closed_at(took, 10s, "a chunked body that never ends");

    // Chunk sizes that overflow, or exceed the body limit, are refused at once.
    for (const auto* size : {"ffffffffffffffffffff", "200000"}) {
        connection d(port());
        ASSERT_TRUE(d.send(api_head + "Transfer-Encoding: chunked\r\n\r\n" + size + "\r\n{"));
        auto r = d.read_reply();
        ASSERT_TRUE(r) << "chunk size " << size;
        EXPECT_TRUE(r->status == 400 || r->status == 413) << size << " -> " << r->status_line;
    }
    check_unharmed(8);
}

// Found by fuzz_dispatcher: a number beyond a double made the JSON parser throw an exception
// other than its parse error, which was answered -32603, an internal error.
TEST_F(FaultsHostile, NumberBeyondADoubleIsAParseErrorNotAnInternalError) {
    for (
        const std::string body :
        {"1e400", "-1e400", "[1e400]",
         R"({"jsonrpc":"2.0","method":"get_service_specs","id":1e400})",
         R"({"jsonrpc":"2.0","method":"ping","params":["big.number","10.66.0.1",1e400],"id":1})"}) {
        auto x = rpc(port(), body);
        EXPECT_EQ(x.reply.status, 200) << x.describe();
        EXPECT_EQ(error_code(x), -32700) << x.describe();
    }
    check_unharmed(8);
}

// Found by fuzz_http: replies to HEAD carried a body, which a keep-alive client reads as the
// start of its next reply.
TEST_F(FaultsHostile, HeadGetsHeadersWithoutABodySoTheNextReplyStaysInStep) {
    connection c(port());
    ASSERT_TRUE(
        c.send("HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n"
               "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
    std::string received;
    char chunk[4096];
    for (ssize_t n; (n = ::recv(c.fd(), chunk, sizeof chunk, 0)) > 0;) {
        received.append(chunk, static_cast<std::size_t>(n));
    }
    const auto head_end = received.find("\r\n\r\n");
    ASSERT_NE(head_end, std::string::npos) << received;
    EXPECT_NE(received.substr(0, head_end).find("Content-Length: 15"), std::string::npos)
        << "HEAD reports the length of the GET reply: " << received;
    EXPECT_EQ(received.substr(head_end + 4, 12), "HTTP/1.1 200")
        << "the GET reply must follow the HEAD reply's head at once: " << received;
    ASSERT_NE(received.find("{\"status\":\"ok\"}"), std::string::npos) << received;
    EXPECT_EQ(received.find("{\"status\":\"ok\"}"), received.rfind("{\"status\":\"ok\"}"))
        << "one body, the GET's: " << received;
    check_unharmed(8);
}

}  // namespace
}  // namespace servreg::test
