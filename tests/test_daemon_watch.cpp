// Watching against the real binary (SPEC 4.2): watch_service held until the answer changes (a
// ping, an unregister, a drain, an expiry) or its wait runs out, bad parameters refused, a
// batch that never waits, GET /v1/watch as Server-Sent Events with Last-Event-ID, and SIGTERM
// answering the calls that wait.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <sstream>
#include <string>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using steady = std::chrono::steady_clock;

json watch_params(const std::string& pattern, std::uint64_t index, int wait) {
    return {{"name", pattern}, {"index", index}, {"wait", wait}};
}

// A watch_service call made on a thread of its own; the test goes on while it waits.
struct pending_watch : pending_call {
    pending_watch(std::uint16_t port, json params)
        : pending_call(port, "watch_service", std::move(params)) {}
};

// The index and instances of a reply, asserting its shape.
std::uint64_t index_of(const rpc_exchange& x) {
    const json r = x.result();
    EXPECT_TRUE(r.is_object() && r["index"].is_number_unsigned() && r["instances"].is_array())
        << x.describe();
    return r.is_object() && r["index"].is_number_unsigned() ? r["index"].get<std::uint64_t>() : 0;
}

class DaemonWatch : public ::testing::Test {
protected:
    static void SetUpTestSuite() { daemon_ = std::make_unique<registry_daemon>(); }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }

    static void write(std::string_view method, const json& params) {
        auto x = call(port(), method, params);
        ASSERT_TRUE(x.error().is_null()) << x.describe();
    }
    static rpc_exchange current(const std::string& pattern) {
        return call(port(), "watch_service", {{"name", pattern}, {"wait", 0}});
    }

    static inline std::unique_ptr<registry_daemon> daemon_;
};

TEST_F(DaemonWatch, AWaitingCallIsAnsweredByEveryChangeOfItsAnswer) {
    write("ping", {"wake.a", "10.1.0.1", 80});
    std::uint64_t index = index_of(current("wake.*"));
    ASSERT_GT(index, 0u);

    struct step {
        const char* what;
        const char* method;
        json params;
        json instances;  // the answer expected after it
    };
    const std::vector<step> steps{
        {"a new instance",
         "ping",
         {"wake.b", "10.1.0.2", 81},
         json::parse(R"([{"host":"10.1.0.1","port":80},{"host":"10.1.0.2","port":81}])")},
        {"a drain", "drain", {"10.1.0.2", 81}, json::parse(R"([{"host":"10.1.0.1","port":80}])")},
        {"an undrain",
         "undrain",
         {"10.1.0.2", 81},
         json::parse(R"([{"host":"10.1.0.1","port":80},{"host":"10.1.0.2","port":81}])")},
        {"a ping by URL",
         "ping",
         {"wake.b", "http://10.1.0.2:81/api"},
         json::parse(R"([{"host":"10.1.0.1","port":80},"http://10.1.0.2:81/api"])")},
        {"an unregister",
         "unregister",
         {"http://10.1.0.2:81/api"},
         json::parse(R"([{"host":"10.1.0.1","port":80}])")},
    };
    for (const auto& s : steps) {
        pending_watch w(port(), watch_params("wake.*", index, 30));
        ASSERT_FALSE(w.answered_within(300ms)) << s.what << ": answered before the change\n"
                                               << w.reply.get().describe();
        write(s.method, s.params);
        // Well before the wait of 30 s runs out: the change answered it.
        ASSERT_TRUE(w.answered_within(10s)) << s.what << ": the waiting call was not answered";
        const auto x = w.reply.get();
        EXPECT_GT(index_of(x), index) << s.what << x.describe();
        EXPECT_EQ(x.result()["instances"], s.instances) << s.what << x.describe();
        index = index_of(x);
    }

    // A heartbeat of an instance of the answer, and a change of another service, answer
    // nothing: the call waits out its wait and gets the same index.
    pending_watch w(port(), watch_params("wake.*", index, 2));
    write("ping", {"wake.a", "10.1.0.1", 80});
    write("ping", {"other.a", "10.1.0.9", 80});
    ASSERT_TRUE(w.answered_within(10s));
    const auto x = w.reply.get();
    const auto took = steady::now() - w.started;
    EXPECT_GE(took, 1900ms) << "answered before its wait ran out" << x.describe();
    EXPECT_EQ(index_of(x), index) << x.describe();
}

// A client that goes away gives its waiting call up at once: its connection, descriptor and
// place among --max-connections are not held until the wait runs out.
TEST_F(DaemonWatch, ACallWhoseClientLeavesIsGivenUpAtOnce) {
    write("ping", {"leave.a", "10.1.1.1", 80});
    const std::uint64_t index = index_of(current("leave.*"));
    const auto gauge = [](const std::string& name) {
        const auto m = get(port(), "/metrics").body;
        const auto at = m.find("\n" + name + " ");
        return at == std::string::npos ? -1 : std::stoi(m.substr(at + name.size() + 2));
    };
    {
        std::vector<std::unique_ptr<connection>> clients;
        for (int i = 0; i < 50; ++i) {
            clients.push_back(std::make_unique<connection>(port()));
            clients.back()->send(
                post_request(call_text("watch_service", watch_params("leave.*", index, 600))));
        }
        ASSERT_TRUE(eventually([&] { return gauge("servreg_watch_waiting") == 50; }))
            << "waiting: " << gauge("servreg_watch_waiting");
    }  // the clients close their connections
    const auto closed = steady::now();
    ASSERT_TRUE(eventually([&] { return gauge("servreg_watch_waiting") == 0; }))
        << "calls still waiting after their clients left: " << gauge("servreg_watch_waiting");
    EXPECT_TRUE(eventually([&] { return gauge("servreg_http_connections_open") == 1; }))
        << "connections still open: " << gauge("servreg_http_connections_open");
    std::printf(
        "50 abandoned calls given up within %lld ms\n",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - closed).count()));
    // A pipelined request behind a waiting call is answered after it, not mistaken for a hang-up.
    connection pipelined(port());
    pipelined.send(post_request(call_text("watch_service", watch_params("leave.*", index, 1), 1)) +
                   post_request(call_text("locate_service", {"leave.*"}, 2)));
    const auto first = pipelined.read_reply();
    const auto second = pipelined.read_reply();
    ASSERT_TRUE(first && second);
    EXPECT_EQ(json::parse(first->body)["result"]["index"], index) << first->body;
    EXPECT_EQ(json::parse(second->body)["id"], 2) << second->body;
    // And one sent while the call waits, after the server had read all there was: its bytes
    // arrive edge-triggered while the call waits, and are still read once it is answered.
    connection later(port(), 10s);
    const std::string watching = call_text("watch_service", watch_params("leave.*", index, 1), 3);
    const std::string locating = call_text("locate_service", {"leave.*"}, 4);
    later.send(post_request(watching));
    std::this_thread::sleep_for(200ms);  // within the wait of 1 s
    later.send(post_request(locating));
    const auto answered = later.read_reply();
    ASSERT_TRUE(answered) << "no reply to " << watching;
    EXPECT_EQ(json::parse(answered->body)["id"], 3) << answered->body;
    const auto behind = later.read_reply();
    ASSERT_TRUE(behind) << "no reply to " << locating << ", sent while " << watching << " waited";
    EXPECT_EQ(json::parse(behind->body)["id"], 4) << behind->body;
}

TEST_F(DaemonWatch, BadParametersAreRefusedNamingTheParameter) {
    struct bad {
        json params;
        const char* names;  // what error.data must mention
    };
    const std::vector<bad> cases{
        {{{"name", "x"}, {"wait", 601}}, "wait"},
        {{{"name", "x"}, {"wait", -1}}, "wait"},
        {{{"name", "x"}, {"wait", "5"}}, "wait"},
        {{{"name", "x"}, {"wait", 1.5}}, "wait"},
        {{{"name", "x"}, {"index", -1}}, "index"},
        {{{"name", "x"}, {"index", 2.5}}, "index"},
        {{{"name", "x"}, {"index", "12"}}, "index"},
        {{{"name", "x"}, {"index", nullptr}}, "index"},
        {{{"name", ""}}, "pattern"},
        {{{"index", 1}}, "name"},
        {{{"name", "x"}, {"meta", {{"k", 1}}}}, "meta"},
        {{{"name", "x"}, {"when", 1}}, "when"},
    };
    for (const auto& c : cases) {
        const auto x = call(port(), "watch_service", c.params);
        EXPECT_EQ(x.error()["code"], -32602) << x.describe();
        EXPECT_NE(x.error()["data"].dump().find(c.names), std::string::npos)
            << "data does not name " << c.names << x.describe();
    }
}

TEST_F(DaemonWatch, InABatchItNeverWaits) {
    write("ping", {"batch.a", "10.2.0.1", 80});
    const std::uint64_t index = index_of(current("batch.*"));
    const json batch =
        json::array({json::parse(call_text("watch_service", watch_params("batch.*", index, 30), 1)),
                     json::parse(call_text("locate_service", {"batch.*"}, 2))});
    const auto started = steady::now();
    const auto x = rpc(port(), batch.dump());
    EXPECT_LT(steady::now() - started, 10s) << x.describe();
    ASSERT_TRUE(x.body.is_array() && x.body.size() == 2) << x.describe();
    EXPECT_EQ(x.body[0]["result"]["index"], index) << x.describe();
}

TEST_F(DaemonWatch, AsANotificationItNeverWaits) {
    write("ping", {"note.a", "10.2.0.2", 80});
    const std::uint64_t index = index_of(current("note.*"));
    json notification = json::parse(call_text("watch_service", watch_params("note.*", index, 30)));
    notification.erase("id");
    const auto started = steady::now();
    const auto x = rpc(port(), notification.dump());
    EXPECT_LT(steady::now() - started, 10s)
        << "a notification has no answer to wait for" << x.describe();
    EXPECT_EQ(x.reply.status, 204) << x.describe();
    EXPECT_EQ(x.reply.body, "") << x.describe();
}

// Reads Server-Sent Events from a GET /v1/watch connection.
class event_reader {
public:
    event_reader(std::uint16_t port, const std::string& query, const std::string& headers = "")
        : conn_(port, 10s) {
        conn_.send("GET /v1/watch?" + query +
                   " HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n" + headers + "\r\n");
    }

    // The status line and headers.
    std::string head() {
        fill_until("\r\n\r\n", 10s);
        const auto end = buffer_.find("\r\n\r\n");
        std::string h = end == std::string::npos ? buffer_ : buffer_.substr(0, end);
        buffer_.erase(0, end == std::string::npos ? buffer_.size() : end + 4);
        return h;
    }

    // The next event (comments skipped) as its field lines; empty when none came in `limit`.
    std::string next_event(std::chrono::milliseconds limit) {
        const auto deadline = steady::now() + limit;
        for (;;) {
            const auto end = buffer_.find("\n\n");
            if (end != std::string::npos) {
                std::string block = buffer_.substr(0, end);
                buffer_.erase(0, end + 2);
                if (block.starts_with(":")) continue;  // a keep-alive comment
                return block;
            }
            const auto left =
                std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now());
            if (left <= 0ms || !fill(left)) return {};
        }
    }

    int fd() const { return conn_.fd(); }

    // The data of an event, parsed.
    static json data_of(const std::string& event) {
        const auto at = event.find("data: ");
        if (at == std::string::npos) return nullptr;
        return json::parse(event.substr(at + 6, event.find('\n', at) - at - 6), nullptr, false);
    }

private:
    bool fill(std::chrono::milliseconds limit) {
        pollfd p{conn_.fd(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(limit.count())) <= 0) return false;
        char chunk[8192];
        const auto n = ::recv(conn_.fd(), chunk, sizeof chunk, 0);
        if (n <= 0) return false;
        buffer_.append(chunk, static_cast<std::size_t>(n));
        return true;
    }
    void fill_until(std::string_view what, std::chrono::milliseconds limit) {
        const auto deadline = steady::now() + limit;
        while (buffer_.find(what) == std::string::npos && steady::now() < deadline) {
            fill(std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()));
        }
    }

    connection conn_;
    std::string buffer_;
};

TEST_F(DaemonWatch, TheEventStreamSendsTheAnswerAndThenEveryChange) {
    write("ping", {"sse.a", "10.3.0.1", 80});
    event_reader events(port(), "name=sse.*");
    const std::string head = events.head();
    EXPECT_NE(head.find("200"), std::string::npos) << head;
    EXPECT_NE(head.find("Content-Type: text/event-stream"), std::string::npos) << head;

    const std::string first = events.next_event(5s);
    const json a = event_reader::data_of(first);
    ASSERT_TRUE(a.is_object()) << "first event: " << first;
    EXPECT_NE(first.find("event: instances\n"), std::string::npos) << first;
    EXPECT_TRUE(first.starts_with("id: " + std::to_string(a["index"].get<std::uint64_t>())))
        << first;
    EXPECT_EQ(a["instances"], json::parse(R"([{"host":"10.3.0.1","port":80}])")) << first;

    write("ping", {"sse.b", "10.3.0.2", 80});
    const std::string second = events.next_event(5s);
    const json b = event_reader::data_of(second);
    ASSERT_TRUE(b.is_object()) << "no event after a ping: " << second;
    EXPECT_GT(b["index"].get<std::uint64_t>(), a["index"].get<std::uint64_t>()) << second;
    EXPECT_EQ(b["instances"].size(), 2u) << second;
    EXPECT_EQ(b, current("sse.*").result()) << "the event is watch_service's answer";

    // A reconnecting client that has seen the latest event gets nothing until a change.
    event_reader resumed(
        port(), "name=sse.*",
        "Last-Event-ID: " + std::to_string(b["index"].get<std::uint64_t>()) + "\r\n");
    resumed.head();
    const std::string none = resumed.next_event(700ms);
    EXPECT_TRUE(none.empty()) << "an event with no change after Last-Event-ID: " << none;
    write("unregister", {"10.3.0.1", 80});
    const json c = event_reader::data_of(resumed.next_event(5s));
    ASSERT_TRUE(c.is_object());
    EXPECT_EQ(c["instances"], json::parse(R"([{"host":"10.3.0.2","port":80}])")) << c.dump();
    EXPECT_EQ(event_reader::data_of(events.next_event(5s)), c) << "both streams see the change";
}

TEST_F(DaemonWatch, ABadEventStreamQueryIsA400) {
    for (const std::string target : {"/v1/watch?nme=x", "/v1/watch?name=", "/v1/watch?name=%zz",
                                     "/v1/watch?name=a&name=b", "/v1/watch?meta.b%20d=1"}) {
        const auto r = get(port(), target);
        EXPECT_EQ(r.status, 400) << target << "\n" << r.body;
        EXPECT_EQ(r.header("content-type"), "application/json") << target;
        EXPECT_TRUE(json::parse(r.body, nullptr, false).contains("error")) << target << r.body;
    }
    connection c(port());
    c.send("POST /v1/watch?name=x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    const auto r = c.read_reply();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 405) << r->body;
    EXPECT_EQ(r->header("allow"), "GET");
}

// A reader that stops reading holds one event at most in servreg: once the socket's buffers are
// full and a write has not completed for 10 s, its connection is closed, while a reader that
// keeps up goes on getting every change.
TEST_F(DaemonWatch, AReaderThatStopsReadingIsClosedAndDelaysNobody) {
    // Large events: 2000 instances with 200-byte host names, some 450 KB per event.
    const std::string padding(190, 'h');
    for (int batch = 0; batch < 2; ++batch) {
        json calls = json::array();
        for (int i = 0; i < 1000; ++i) {
            calls.push_back(json::parse(call_text(
                "ping", {"slow.svc", padding + std::to_string(batch * 1000 + i), 80}, i)));
        }
        const auto x = rpc(port(), calls.dump());
        ASSERT_TRUE(x.body.is_array() && x.body.size() == 1000) << x.reply.body.substr(0, 300);
    }
    // Pings and scrapes on one keep-alive connection, so that the count of open connections
    // is exactly this one and the two streams until the stalled one is closed.
    connection mine(port());
    const auto exchange = [&mine](const std::string& request) {
        EXPECT_TRUE(mine.send(request));
        auto r = mine.read_reply();
        return r ? r->body : std::string();
    };
    const auto open_connections = [&] {
        const auto m = exchange("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
        const auto at = m.find("\nservreg_http_connections_open ");
        return at == std::string::npos ? -1 : std::stoi(m.substr(at + 31));
    };

    event_reader stalled(port(), "name=slow.*");
    const int small = 4096;
    ::setsockopt(stalled.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    event_reader keeping_up(port(), "name=slow.*");
    keeping_up.head();
    ASSERT_FALSE(keeping_up.next_event(5s).empty());
    // Earlier tests' connections may take a moment to be closed.
    ASSERT_TRUE(eventually([&] { return open_connections() == 3; }))
        << "open connections: " << open_connections();

    const auto started = steady::now();
    int changes = 0;
    bool closed = false;
    while (steady::now() - started < 40s && !closed) {
        const auto reply = exchange(
            post_request(call_text("ping", {"slow.x", "10.9.0.1", 1000 + changes}, changes)));
        ASSERT_NE(reply.find("\"result\":true"), std::string::npos) << reply;
        ++changes;
        // Every change reaches the reader that keeps up.
        const json event = event_reader::data_of(keeping_up.next_event(5s));
        ASSERT_TRUE(event.is_object()) << "the reader that keeps up missed change " << changes;
        ASSERT_EQ(event["instances"].size(), 2000u + changes) << "not the latest answer";
        closed = open_connections() == 2;
    }
    EXPECT_TRUE(closed) << "the stalled reader's connection is still open after " << changes
                        << " changes";
    std::printf(
        "stalled event-stream reader closed after %lld ms and %d changes\n",
        static_cast<long long>(
            std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started).count()),
        changes);
}

TEST(DaemonWatchExpiry, AnExpiryAnswersWithoutAnyoneCallingAnything) {
    registry_daemon daemon({"--ttl", "1"});
    const auto p = daemon.port();
    ASSERT_EQ(call(p, "ping", {"exp.a", "10.4.0.1", 80}).result(), true);
    const auto before = call(p, "watch_service", {{"name", "exp.*"}, {"wait", 0}});
    ASSERT_EQ(before.result()["instances"].size(), 1u) << before.describe();
    pending_watch w(p, watch_params("exp.*", index_of(before), 30));
    ASSERT_TRUE(w.answered_within(10s)) << "the expiry did not answer the waiting call";
    const auto x = w.reply.get();
    EXPECT_EQ(x.result()["instances"], json::array()) << x.describe();
    EXPECT_GT(index_of(x), index_of(before)) << x.describe();
    // Within 1 s of last_seen + ttl (the ping was at most a few ms before `before`).
    EXPECT_LT(steady::now() - w.started, 2500ms) << x.describe();

    // Coming back is a change too.
    pending_watch back(p, watch_params("exp.*", index_of(x), 30));
    ASSERT_FALSE(back.answered_within(200ms));
    ASSERT_EQ(call(p, "ping", {"exp.a", "10.4.0.1", 80}).result(), true);
    ASSERT_TRUE(back.answered_within(10s));
    EXPECT_EQ(back.reply.get().result()["instances"].size(), 1u);
}

TEST(DaemonWatchShutdown, SigtermAnswersWaitingCallsAtOnce) {
    registry_daemon daemon;
    const auto p = daemon.port();
    ASSERT_EQ(call(p, "ping", {"term.a", "10.5.0.1", 80}).result(), true);
    const auto now = call(p, "watch_service", {{"name", "term.*"}, {"wait", 0}});
    std::vector<std::unique_ptr<pending_watch>> calls;
    for (int i = 0; i < 5; ++i) {
        calls.push_back(
            std::make_unique<pending_watch>(p, watch_params("term.*", index_of(now), 600)));
    }
    event_reader stream(p, "name=term.*");
    stream.head();
    ASSERT_FALSE(stream.next_event(5s).empty());
    ASSERT_FALSE(calls.back()->answered_within(500ms));
    const auto metrics = get(p, "/metrics").body;
    EXPECT_NE(metrics.find("\nservreg_watch_waiting 6\n"), std::string::npos)
        << "five calls and a stream wait:\n"
        << metrics;
    const auto signalled = steady::now();
    daemon.process().signal(SIGTERM);
    for (auto& c : calls) {
        ASSERT_TRUE(c->answered_within(5s)) << "a waiting call was not answered on SIGTERM";
        const auto x = c->reply.get();
        EXPECT_EQ(x.result(), now.result()) << x.describe();
    }
    EXPECT_EQ(daemon.process().wait(5s), 0) << daemon.process().log();
    EXPECT_LT(steady::now() - signalled, 5s);
}

// Every waiting call is a descriptor: a daemon started with the shells' usual soft limit of 1024
// raises it towards --max-connections, as far as the hard limit allows.
TEST(DaemonDescriptors, TheSoftLimitIsRaisedForMaxConnections) {
    rlimit mine{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &mine), 0);
    if (mine.rlim_max != RLIM_INFINITY && mine.rlim_max < 10'064) {
        GTEST_SKIP() << "the hard limit (" << mine.rlim_max << ") is below what is asked";
    }
    rlimit low = mine;
    low.rlim_cur = 1024;
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &low), 0);
    std::unique_ptr<registry_daemon> daemon;
    try {
        daemon = std::make_unique<registry_daemon>(
            std::vector<std::string>{"--max-connections", "10000"});
    } catch (...) {
        ::setrlimit(RLIMIT_NOFILE, &mine);
        throw;
    }
    ::setrlimit(RLIMIT_NOFILE, &mine);
    const std::string limits =
        read_file("/proc/" + std::to_string(daemon->process().pid()) + "/limits");
    const auto at = limits.find("Max open files");
    ASSERT_NE(at, std::string::npos) << limits;
    std::istringstream line(limits.substr(at + 14));
    unsigned long soft = 0;
    line >> soft;
    EXPECT_EQ(soft, 10'064u) << limits;
}

}  // namespace
}  // namespace servreg::test
