// Black-box tests of the daemon's HTTP layer (SPEC section 2): routing, content types,
// keep-alive, pipelining, HTTP/1.0, size limits and timeouts, over raw sockets.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class DaemonHttp : public ::testing::Test {
protected:
    static void SetUpTestSuite() { daemon_ = std::make_unique<registry_daemon>(); }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::uint16_t port() { return daemon_->port(); }

    // The alive endpoints of `pattern`, as the daemon reports them.
    static json locate(const std::string& pattern) {
        auto x = call(port(), "locate_service", {pattern});
        EXPECT_TRUE(x.result().is_array()) << x.describe();
        return x.result();
    }

    static inline std::unique_ptr<registry_daemon> daemon_;
};

std::string raw_request(std::string_view method, std::string_view target,
                        std::string_view body = "", std::string_view extra = "") {
    std::string req = std::string(method) + " " + std::string(target) +
                      " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + std::string(extra);
    if (!body.empty()) {
        req += "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\n";
    }
    return req + "\r\n" + std::string(body);
}

http_reply exchange(std::uint16_t port, const std::string& request) {
    connection c(port);
    EXPECT_TRUE(c.send(request)) << request;
    auto r = c.read_reply(request.rfind("HEAD ", 0) == 0);
    if (!r) {
        ADD_FAILURE() << "no reply to:\n" << request;
        return {};
    }
    return *r;
}

// A member of the JSON object in the reply's body; null when there is none.
json field(const http_reply& r, const std::string& name) {
    auto body = json::parse(r.body, nullptr, false);
    return body.is_object() && body.contains(name) ? body[name] : json();
}

std::string describe(const std::string& request, const http_reply& r) {
    return "\n  request: " + request.substr(0, 400) + "\n  reply: " + r.status_line +
           " Content-Type: " + r.header("content-type") + " Allow: " + r.header("allow") + "\n  " +
           r.body.substr(0, 400);
}

TEST_F(DaemonHttp, PostWithJsonContentTypeIsAnsweredAsJsonRpc) {
    int n = 0;
    for (std::string type : {"application/json", "application/json; charset=utf-8",
                             "APPLICATION/JSON", "application/json;charset=UTF-8"}) {
        auto x = rpc(port(), call_text("ping", {"http.ct", "10.0.0.1", 1000 + n++}), "", type);
        EXPECT_EQ(x.reply.status, 200) << "content-type=" << type << x.describe();
        EXPECT_EQ(x.reply.header("content-type"), "application/json")
            << "content-type=" << type << x.describe();
        EXPECT_EQ(x.result(), json(true)) << "content-type=" << type << x.describe();
    }
    EXPECT_EQ(locate("http.ct").size(), 4u) << locate("http.ct").dump();
}

TEST_F(DaemonHttp, PostWithOtherOrNoContentTypeIs415WithInvalidRequestAndWritesNothing) {
    for (std::string type : {"text/plain", "", "application/x-www-form-urlencoded",
                             "application/jsonx", "text/json"}) {
        auto x = rpc(port(), call_text("ping", {"http.415", "10.0.0.2", 1}), "", type);
        std::string what = "content-type='" + type + "'" + x.describe();
        EXPECT_EQ(x.reply.status, 415) << what;
        EXPECT_EQ(x.reply.header("content-type"), "application/json") << what;
        ASSERT_TRUE(x.body.is_object()) << what;
        EXPECT_EQ(x.body["jsonrpc"], "2.0") << what;
        EXPECT_EQ(x.body["error"]["code"], -32600) << what;
        EXPECT_TRUE(x.body.contains("id") && x.body["id"].is_null()) << what;
    }
    EXPECT_EQ(locate("http.415"), json::array()) << "a refused ping must not be recorded";
}

TEST_F(DaemonHttp, OtherMethodsOnApiAre405WithAllowPost) {
    for (std::string method : {"GET", "PUT", "DELETE", "PATCH", "HEAD"}) {
        std::string body = method == "GET" || method == "HEAD" ? "" : R"({"jsonrpc":"2.0"})";
        std::string req = raw_request(method, "/api", body);
        auto r = exchange(port(), req);
        EXPECT_EQ(r.status, 405) << describe(req, r);
        EXPECT_EQ(r.header("allow"), "POST") << describe(req, r);
    }
}

TEST_F(DaemonHttp, UnknownPathIs404) {
    for (std::string target : {"/nope", "/api/v2", "/apix", "/health/x"}) {
        std::string req = raw_request("GET", target);
        auto r = exchange(port(), req);
        EXPECT_EQ(r.status, 404) << describe(req, r);
    }
    std::string req = raw_request("POST", "/rpc", call_text("ping", {"http.404", "h", 1}));
    auto r = exchange(port(), req);
    EXPECT_EQ(r.status, 404) << describe(req, r);
}

TEST_F(DaemonHttp, HealthIsOkAsJson) {
    std::string req = raw_request("GET", "/health");
    auto r = exchange(port(), req);
    EXPECT_EQ(r.status, 200) << describe(req, r);
    EXPECT_EQ(r.header("content-type"), "application/json") << describe(req, r);
    EXPECT_EQ(json::parse(r.body, nullptr, false), json({{"status", "ok"}})) << describe(req, r);
}

TEST_F(DaemonHttp, TwoHundredRequestsShareOneKeepAliveConnection) {
    connection c(port());
    for (int i = 0; i < 200; ++i) {
        // Mostly reads, with a write now and then: both kinds must keep the connection.
        std::string body = i % 20 == 0 ? call_text("ping", {"http.keepalive", "10.0.0.3", i + 1}, i)
                                       : call_text("locate_service", {"http.keepalive"}, i);
        std::string req = post_request(body);
        ASSERT_TRUE(c.send(req)) << "request #" << i << " could not be sent:\n" << req;
        auto r = c.read_reply();
        ASSERT_TRUE(r) << "no reply to request #" << i << ":\n" << req;
        ASSERT_EQ(r->status, 200) << "request #" << i << describe(req, *r);
        EXPECT_FALSE(r->closed) << "request #" << i << describe(req, *r);
        auto reply = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(reply.is_object()) << describe(req, *r);
        EXPECT_EQ(reply["id"], i) << describe(req, *r);
        EXPECT_TRUE(reply["error"].is_null()) << describe(req, *r);
    }
    EXPECT_EQ(locate("http.keepalive").size(), 10u);
}

TEST_F(DaemonHttp, PipelinedRequestsAreAnsweredInOrder) {
    // Writes (answered after their commit) and reads (answered at once) interleaved, all in
    // one send: the replies must still come back in request order.
    std::vector<std::string> bodies = {
        call_text("ping", {"http.pipe", "10.0.0.4", 1}, 1),
        call_text("locate_service", {"http.nothing"}, 2),
        call_text("ping", {"http.pipe", "10.0.0.4", 2}, 3),
        call_text("get_service_specs", nullptr, 4),
        R"({"jsonrpc":"2.0","method":"ping","params":["http.pipe","10.0.0.4",3]})",
        call_text("ping", {"http.pipe", "10.0.0.4", 4}, 6),
        call_text("locate_service", {"http.pipe"}, 7),
    };
    std::string all;
    for (const auto& b : bodies) all += post_request(b);
    connection c(port());
    ASSERT_TRUE(c.send(all));
    for (std::size_t i = 0; i < bodies.size(); ++i) {
        auto r = c.read_reply();
        ASSERT_TRUE(r) << "no reply #" << i << " to\n" << bodies[i];
        if (i == 4) {
            EXPECT_EQ(r->status, 204) << "notification" << describe(bodies[i], *r);
            continue;
        }
        ASSERT_EQ(r->status, 200) << describe(bodies[i], *r);
        auto reply = json::parse(r->body, nullptr, false);
        ASSERT_TRUE(reply.is_object()) << describe(bodies[i], *r);
        EXPECT_EQ(reply["id"], i + 1)
            << "reply #" << i << " out of order" << describe(bodies[i], *r);
        EXPECT_TRUE(reply["error"].is_null()) << describe(bodies[i], *r);
    }
    EXPECT_EQ(locate("http.pipe").size(), 4u) << locate("http.pipe").dump();
}

TEST_F(DaemonHttp, Http10IsAnsweredInHttp10AndCloses) {
    std::string body = call_text("locate_service", {"http.10"});
    std::string req = "POST /api HTTP/1.0\r\nContent-Type: application/json\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    connection c(port());
    ASSERT_TRUE(c.send(req));
    auto r = c.read_reply();
    ASSERT_TRUE(r) << req;
    EXPECT_EQ(r->status_line.substr(0, 12), "HTTP/1.0 200") << describe(req, *r);
    EXPECT_EQ(field(*r, "result"), json::array()) << describe(req, *r);
    EXPECT_TRUE(c.wait_for_close(5s))
        << "HTTP/1.0 without keep-alive must close" << describe(req, *r);
}

TEST_F(DaemonHttp, Http10WithKeepAliveStaysOpen) {
    connection c(port());
    for (int i = 0; i < 3; ++i) {
        std::string body = call_text("ping", {"http.10ka", "10.0.0.5", i + 1}, i);
        std::string req =
            "POST /api HTTP/1.0\r\nConnection: keep-alive\r\nContent-Type: "
            "application/json\r\nContent-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        ASSERT_TRUE(c.send(req)) << "request #" << i << " after a keep-alive reply:\n" << req;
        auto r = c.read_reply();
        ASSERT_TRUE(r) << "no reply to request #" << i << " on a kept-alive HTTP/1.0 connection:\n"
                       << req;
        EXPECT_EQ(r->status_line.substr(0, 12), "HTTP/1.0 200") << describe(req, *r);
        EXPECT_EQ(field(*r, "id"), i) << describe(req, *r);
    }
    EXPECT_FALSE(c.wait_for_close(200ms)) << "the connection must stay open";
}

TEST_F(DaemonHttp, ChunkedBodyIsAccepted) {
    std::string body = call_text("ping", {"http.chunked", "10.0.0.10", 1});
    char sizes[2][16];
    std::snprintf(sizes[0], sizeof sizes[0], "%zx\r\n", std::size_t{10});
    std::snprintf(sizes[1], sizeof sizes[1], "%zx\r\n", body.size() - 10);
    std::string req =
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        std::string(sizes[0]) + body.substr(0, 10) + "\r\n" + sizes[1] + body.substr(10) +
        "\r\n0\r\n\r\n";
    auto r = exchange(port(), req);
    EXPECT_EQ(r.status, 200) << describe(req, r);
    EXPECT_EQ(field(r, "result"), true) << describe(req, r);
}

TEST_F(DaemonHttp, ExpectContinueGets100BeforeTheBody) {
    // curl sends this for bodies over 1 KiB and waits for the 100 before sending the body.
    std::string body = call_text("ping", {"http.expect", "10.0.0.11", 1});
    std::string head =
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Expect: 100-continue\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n";
    connection c(port(), 5s);
    ASSERT_TRUE(c.send(head));
    pollfd p{c.fd(), POLLIN, 0};
    ASSERT_EQ(::poll(&p, 1, 2000), 1) << "no 100 Continue within 2 s to\n" << head;
    ASSERT_TRUE(c.send(body));
    auto r = c.read_reply();  // skips the 100
    ASSERT_TRUE(r) << head << body;
    EXPECT_EQ(r->status, 200) << describe(head + body, *r);
    EXPECT_EQ(field(*r, "result"), true) << describe(head + body, *r);
}

TEST_F(DaemonHttp, HalfSentHeadersAreClosedAfterTenSeconds) {
    connection c(port(), 20s);
    ASSERT_TRUE(c.send("POST /api HTTP/1.1\r\nHost: x\r\n"));
    auto closed = c.wait_for_close(20s);
    ASSERT_TRUE(closed) << "connection with half-sent headers still open after 20 s";
    EXPECT_GE(closed->count(), 9000) << "closed too early";
    EXPECT_LE(closed->count(), 15000) << "closed too late";
}

TEST_F(DaemonHttp, BodyNotCompleteWithinTenSecondsIsClosedAndDoesNotRun) {
    // A valid ping missing its last byte: it must never run.
    std::string body = call_text("ping", {"http.slowbody", "10.0.0.6", 1});
    std::string req =
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size() + 1) + "\r\n\r\n" + body;
    connection c(port(), 20s);
    ASSERT_TRUE(c.send(req));
    auto closed = c.wait_for_close(20s);
    ASSERT_TRUE(closed) << "connection with an incomplete body still open after 20 s";
    EXPECT_GE(closed->count(), 9000) << "closed too early";
    EXPECT_LE(closed->count(), 15000) << "closed too late";
    EXPECT_EQ(locate("http.slowbody"), json::array());
}

// Uploads `head` then `size` bytes of body in chunks, stopping when the server answers (as
// curl does), while the main thread checks that another connection is served normally.
void upload_while_serving(std::uint16_t port, const std::string& head, bool chunked,
                          std::size_t size, const std::string& tag) {
    connection big(port);
    ASSERT_TRUE(big.send(head));
    std::atomic<bool> uploading{true};
    std::size_t sent = 0;
    std::thread uploader([&] {
        const std::string piece(32 * 1024, ' ');
        while (sent < size) {
            pollfd p{big.fd(), POLLIN, 0};
            if (::poll(&p, 1, 0) > 0) break;
            std::string data = piece;
            if (chunked) {
                char len[16];
                std::snprintf(len, sizeof len, "%zx\r\n", piece.size());
                data = len + piece + "\r\n";
            }
            if (!big.send(data)) break;
            sent += piece.size();
            std::this_thread::sleep_for(5ms);
        }
        uploading = false;
    });
    int served = 0;
    int served_during_upload = 0;
    for (int i = 0; i < 10 && (i < 3 || uploading); ++i) {
        auto ping = call(port, "ping", {tag, "10.0.0.7", i + 1});
        EXPECT_EQ(ping.result(), json(true)) << ping.describe();
        auto found = call(port, "locate_service", {tag});
        EXPECT_EQ(found.reply.status, 200) << found.describe();
        EXPECT_EQ(found.result().size(), static_cast<std::size_t>(i + 1)) << found.describe();
        ++served;
        if (uploading) ++served_during_upload;
    }
    uploader.join();
    auto r = big.read_reply();
    ASSERT_TRUE(r) << "no reply to the oversized upload after " << sent << " body bytes";
    EXPECT_EQ(r->status, 413) << "after " << sent << " body bytes" << describe(head, *r);
    EXPECT_TRUE(big.wait_for_close(5s)) << "the connection of a refused upload must close";
    std::cout << "[          ] " << served_during_upload << " of " << served
              << " ping+locate pairs answered during the upload of " << sent << " bytes\n";
}

TEST_F(DaemonHttp, BodyOverOneMebibyteIs413WhileAnotherConnectionCarriesOn) {
    const std::size_t size = 2 * 1024 * 1024;
    std::string head =
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(size) + "\r\n\r\n";
    upload_while_serving(port(), head, false, size, "http.413");
}

TEST_F(DaemonHttp, ChunkedBodyOverOneMebibyteIs413WhileAnotherConnectionCarriesOn) {
    std::string head =
        "POST /api HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        "Transfer-Encoding: chunked\r\n\r\n";
    upload_while_serving(port(), head, true, 2 * 1024 * 1024, "http.413chunked");
}

TEST_F(DaemonHttp, HeadersOverEightKibibytesAre431) {
    std::string body = call_text("ping", {"http.431", "10.0.0.8", 1});
    std::string req = post_request(body, "application/json",
                                   "X-Padding: " + std::string(9000, 'a') + "\r\n", false);
    auto r = exchange(port(), req);
    EXPECT_EQ(r.status, 431) << describe(req, r);
    // Many headers, each small, adding up to more than 8 KiB.
    std::string many;
    for (int i = 0; i < 200; ++i)
        many += "X-H" + std::to_string(i) + ": " + std::string(50, 'b') + "\r\n";
    req = post_request(body, "application/json", many, false);
    r = exchange(port(), req);
    EXPECT_EQ(r.status, 431) << describe(req, r);
    EXPECT_EQ(locate("http.431"), json::array());
}

TEST_F(DaemonHttp, HeadersOverEightKibibytesSentInPiecesAre431) {
    // Complete header lines arriving a few at a time add up against the same limit.
    std::string body = call_text("ping", {"http.431.pieces", "10.0.0.9", 1});
    std::string many;
    for (int i = 0; i < 200; ++i)
        many += "X-H" + std::to_string(i) + ": " + std::string(50, 'c') + "\r\n";
    const std::string req = post_request(body, "application/json", many, false);
    connection c(port());
    for (std::size_t at = 0; at < req.size(); at += 1000) {
        if (!c.send(req.substr(at, 1000))) break;  // refused and closed: the reply is waiting
        std::this_thread::sleep_for(5ms);          // each piece its own read
    }
    auto r = c.read_reply();
    ASSERT_TRUE(r) << "no reply to:\n" << req.substr(0, 400);
    EXPECT_EQ(r->status, 431) << describe(req, *r);
    EXPECT_EQ(locate("http.431.pieces"), json::array());
}

TEST_F(DaemonHttp, BatchOfMoreThanAThousandIsOneInvalidRequestAndNothingRuns) {
    json batch = json::array();
    for (int i = 0; i < 1001; ++i) {
        batch.push_back({{"jsonrpc", "2.0"},
                         {"method", "ping"},
                         {"params", {"http.bigbatch", "10.0.0.9", i + 1}},
                         {"id", i}});
    }
    auto x = rpc(port(), batch.dump());
    EXPECT_EQ(x.reply.status, 200) << x.describe();
    ASSERT_TRUE(x.body.is_object()) << "expected one error object" << x.describe();
    EXPECT_EQ(x.body["error"]["code"], -32600) << x.describe();
    EXPECT_TRUE(x.body.contains("id") && x.body["id"].is_null()) << x.describe();
    EXPECT_EQ(locate("http.bigbatch"), json::array()) << "no call of the batch may run";

    // Whatever the elements are.
    x = rpc(port(), json(std::vector<int>(1001, 1)).dump());
    ASSERT_TRUE(x.body.is_object()) << "expected one error object" << x.describe();
    EXPECT_EQ(x.error()["code"], -32600) << x.describe();
    EXPECT_TRUE(x.body.contains("id") && x.body["id"].is_null()) << x.describe();

    // A thousand is still allowed.
    batch.erase(batch.begin());
    x = rpc(port(), batch.dump());
    ASSERT_TRUE(x.body.is_array()) << x.reply.status_line << " " << x.reply.body.substr(0, 300);
    EXPECT_EQ(x.body.size(), 1000u);
    EXPECT_EQ(locate("http.bigbatch").size(), 1000u);
}

}  // namespace
}  // namespace servreg::test
