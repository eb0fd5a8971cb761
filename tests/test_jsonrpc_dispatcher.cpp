// The JSON-RPC dispatcher against a real in-memory SQLite registry: request rules, batches,
// notifications, every error code and both reply shapes.
#include <gtest/gtest.h>

#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "recording_executor.h"
#include "registry_stack.h"
#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/jsonrpc/flat_request.h"
#include "servreg/registry/watch_hub.h"

namespace {

using nlohmann::json;
using servreg::jsonrpc::reply;

class Dispatcher : public ::testing::Test {
protected:
    void SetUp() override { start(servreg::jsonrpc::reply_style::compatible); }

    void start(servreg::jsonrpc::reply_style style) {
        registry_.reset();
        registry_ =
            std::make_unique<servreg::test::sqlite_registry>(servreg::test::test_settings(style));
    }

    reply call(std::string_view body, bool write_allowed = true) {
        return call_with(registry_->dispatcher, body, write_allowed);
    }

    reply call_with(servreg::jsonrpc::dispatcher& d, std::string_view body,
                    bool write_allowed = true) {
        std::promise<reply> done;
        auto future = done.get_future();
        d.handle(body, {write_allowed}, [&done](reply r) { done.set_value(std::move(r)); });
        if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
            ADD_FAILURE() << "no reply to " << body;
            return {};
        }
        return future.get();
    }

    // Each body gets from `flat` the reply that `documents` (flat_path off) gives it.
    void expect_replies_as_documents(servreg::jsonrpc::dispatcher& flat,
                                     servreg::jsonrpc::dispatcher& documents,
                                     const std::vector<std::string>& bodies,
                                     bool write_allowed = true) {
        for (const auto& body : bodies) {
            const reply expected = call_with(documents, body, write_allowed);
            const reply got = call_with(flat, body, write_allowed);
            EXPECT_EQ(got.body, expected.body)
                << "request: " << body << " write_allowed: " << write_allowed;
            EXPECT_EQ(got.has_body, expected.has_body) << "request: " << body;
            EXPECT_EQ(got.label, expected.label) << "request: " << body;
        }
    }

    json call_json(std::string_view body, bool write_allowed = true) {
        auto r = call(body, write_allowed);
        EXPECT_TRUE(r.has_body) << "request: " << body;
        return json::parse(r.body);
    }

    // The error code of a single reply, 0 when it succeeded.
    int code_of(std::string_view body) {
        auto r = call_json(body);
        if (r.contains("error") && !r["error"].is_null()) return r["error"]["code"].get<int>();
        return 0;
    }

    std::unique_ptr<servreg::test::sqlite_registry> registry_;
};

constexpr std::string_view ping_body =
    R"({"jsonrpc":"2.0","method":"ping","params":{"name":"billing.api","host":"10.0.0.5","port":8001},"id":1})";

TEST_F(Dispatcher, PingReplyCarriesResultAndNullErrorByDefault) {
    auto r = call(ping_body);
    EXPECT_EQ(r.body, R"({"jsonrpc":"2.0","result":true,"error":null,"id":1})")
        << "request: " << ping_body;
    EXPECT_EQ(r.label, "ping");
}

TEST_F(Dispatcher, StrictModeCarriesOnlyTheUsedMember) {
    start(servreg::jsonrpc::reply_style::strict);
    auto ok = call(ping_body);
    EXPECT_EQ(ok.body, R"({"jsonrpc":"2.0","result":true,"id":1})");
    auto err = json::parse(call(R"({"jsonrpc":"2.0","method":"nope","id":2})").body);
    EXPECT_FALSE(err.contains("result")) << err;
    EXPECT_EQ(err["error"]["code"], -32601) << err;
}

TEST_F(Dispatcher, CompatibleErrorReplyHasNullResult) {
    auto r = call_json(R"({"jsonrpc":"2.0","method":"nope","id":8})");
    ASSERT_TRUE(r.contains("result")) << r;
    EXPECT_TRUE(r["result"].is_null()) << r;
    EXPECT_EQ(r["error"]["code"], -32601) << r;
    EXPECT_EQ(r["error"]["message"], "Method not found") << r;
    EXPECT_EQ(r["id"], 8) << r;
}

TEST_F(Dispatcher, PingThenLocateByPositionAndByName) {
    call(ping_body);
    auto positional =
        call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["billing.*"],"id":2})");
    EXPECT_EQ(positional["result"], json::parse(R"([{"host":"10.0.0.5","port":8001}])"))
        << positional;
    auto named = call_json(
        R"({"jsonrpc":"2.0","method":"locate_service","params":{"name":"billing.api"},"id":3})");
    EXPECT_EQ(named["result"], positional["result"]) << named;
    auto none =
        call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["other"],"id":4})");
    EXPECT_EQ(none["result"], json::array()) << none;
}

TEST_F(Dispatcher, IdZeroStringAndNullAreEchoed) {
    for (std::string id : {"0", "\"abc\"", "null", "-5", "1.5"}) {
        std::string body = R"({"jsonrpc":"2.0","method":"get_service_specs","id":)" + id + "}";
        auto r = call_json(body);
        EXPECT_EQ(r["id"], json::parse(id)) << "request: " << body << " reply: " << r;
        EXPECT_EQ(r["result"]["name"], "servreg") << r;
    }
}

TEST_F(Dispatcher, NotificationGetsNoBodyButRuns) {
    auto r = call(R"({"jsonrpc":"2.0","method":"ping","params":["svc","h",1]})");
    EXPECT_FALSE(r.has_body) << r.body;
    auto located =
        call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["svc"],"id":1})");
    EXPECT_EQ(located["result"].size(), 1u) << located;
}

TEST_F(Dispatcher, ParseErrorIsMinus32700WithNullId) {
    for (std::string body :
         {"{", "not json", "{\"jsonrpc\":\"2.0\",", "\"\xff\xfe\"",
          "{\"jsonrpc\":\"2.0\",\"method\":\"ping\",\"params\":[\"\xc3\x28\",\"h\",1],\"id\":1}"}) {
        auto r = call_json(body);
        EXPECT_EQ(r["error"]["code"], -32700) << "request: " << body << " reply: " << r;
        EXPECT_TRUE(r["id"].is_null()) << r;
        EXPECT_TRUE(r["error"]["data"].is_string()) << r;
    }
}

TEST_F(Dispatcher, NumberBeyondADoubleIsAParseError) {
    std::string body = R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1e400],"id":1})";
    auto r = call_json(body);
    EXPECT_EQ(r["error"]["code"], -32700) << "request: " << body << " reply: " << r;
    EXPECT_EQ(registry_->index.size(), 0u);
}

TEST_F(Dispatcher, InvalidRequestsAreMinus32600) {
    for (std::string body :
         {R"(5)", R"("x")", R"({"jsonrpc":"1.0","method":"ping","id":1})",
          R"({"method":"ping","id":1})", R"({"jsonrpc":"2.0","method":5,"id":1})",
          R"({"jsonrpc":"2.0","id":1})", R"({"jsonrpc":"2.0","method":"ping","params":"x","id":1})",
          R"({"jsonrpc":"2.0","method":"ping","id":{}})", R"([])",
          R"({"jsonrpc":"2.0","method":"ping","id":1,"extra":2})"}) {
        auto r = call_json(body);
        EXPECT_EQ(r["error"]["code"], -32600) << "request: " << body << " reply: " << r;
        EXPECT_TRUE(r["error"]["data"].is_string()) << r;
    }
}

TEST_F(Dispatcher, InvalidRequestsCarryTheirIdWhenItCanBeRead) {
    struct tc {
        std::string body;
        json id;
    };
    for (const auto& t :
         std::vector<tc>{{R"({"jsonrpc":"1.0","method":"ping","id":7})", 7},
                         {R"({"method":"ping","id":"a-b"})", "a-b"},
                         {R"({"jsonrpc":"2.0","method":5,"id":-3})", -3},
                         {R"({"jsonrpc":"2.0","method":"ping","params":"x","id":"s"})", "s"},
                         {R"({"jsonrpc":"2.0","method":"ping","id":1.5,"extra":2})", 1.5},
                         {R"({"jsonrpc":"2.0","method":"ping","id":null,"extra":2})", nullptr},
                         {R"({"jsonrpc":"2.0","method":"ping","id":{}})", nullptr},
                         {R"({"jsonrpc":"2.0","method":"ping","id":[1]})", nullptr},
                         {R"({"jsonrpc":"2.0","method":"ping","extra":2})", nullptr},
                         {R"(5)", nullptr}}) {
        auto r = call_json(t.body);
        EXPECT_EQ(r["error"]["code"], -32600) << "request: " << t.body << " reply: " << r;
        EXPECT_EQ(r["id"], t.id) << "request: " << t.body << " reply: " << r;
    }
    // In a batch, each refused call keeps its own id.
    const std::string batch =
        R"([{"jsonrpc":"2.0","method":"ping","id":"one","x":1},)"
        R"({"jsonrpc":"2.0","method":"list_services","id":"two"},{"method":"ping","id":3}])";
    const auto r = call_json(batch);
    ASSERT_TRUE(r.is_array() && r.size() == 3) << "request: " << batch << " reply: " << r;
    EXPECT_EQ(r[0]["id"], "one") << r;
    EXPECT_EQ(r[0]["error"]["code"], -32600) << r;
    EXPECT_EQ(r[1]["id"], "two") << r;
    EXPECT_TRUE(r[1]["result"].is_array()) << r;
    EXPECT_EQ(r[2]["id"], 3) << r;
    EXPECT_EQ(r[2]["error"]["code"], -32600) << r;
}

TEST_F(Dispatcher, DeepNestingIsRefusedWithoutParsing) {
    std::string body = std::string(100000, '[') + std::string(100000, ']');
    auto r = call_json(body);
    EXPECT_EQ(r["error"]["code"], -32600) << r;
}

TEST_F(Dispatcher, InvalidParamsSayWhich) {
    struct tc {
        std::string params;
        std::string data_mentions;
    };
    for (const auto& t : std::vector<tc>{
             {R"({"name":"a","host":"h"})", "port"},
             {R"({"name":"a","host":"h","port":1,"x":1})", "x"},
             {R"(["a","h"])", "url"},  // [name, url]
             {R"(["a","h",1,2])", "meta"},
             {R"(["a","h",1,{},5])", "at most 4"},
             {R"({"name":"","host":"h","port":1})", "name"},
             {R"({"name":"a","host":"h h","port":1})", "host"},
             {R"({"name":"a","host":"h","port":0})", "port"},
             {R"({"name":"a","host":"h","port":65536})", "port"},
             {R"({"name":"a","host":"h","port":"80x"})", "port"},
             {R"({"name":"a","host":"h","port":true})", "port"},
             {R"({"name":"a","host":"h","port":80.5})", "port"},
             {R"({"name":5,"host":"h","port":1})", "name"},
             {R"({"name":"a\u0001","host":"h","port":1})", "name"},
         }) {
        std::string body =
            R"({"jsonrpc":"2.0","method":"ping","params":)" + t.params + R"(,"id":1})";
        auto r = call_json(body);
        EXPECT_EQ(r["error"]["code"], -32602) << "request: " << body << " reply: " << r;
        EXPECT_NE(r["error"]["data"].get<std::string>().find(t.data_mentions), std::string::npos)
            << "request: " << body << " reply: " << r;
    }
}

// SPEC 4.1's bad inputs: each is -32602 whose data names the parameter and says why, the same
// on both readers, and writes nothing.
TEST_F(Dispatcher, InvalidUrlMetaAndInstanceParamsSayWhich) {
    struct tc {
        std::string method;
        std::string params;
        std::string data_mentions;
    };
    const auto meta_of = [](std::size_t keys, std::size_t key_size, std::size_t value_size) {
        json meta = json::object();
        for (std::size_t i = 0; meta.size() < keys; ++i) {
            std::string key = std::to_string(i);
            key = std::string(key_size - std::min(key_size, key.size()), 'k') + key;
            meta[key] = std::string(value_size, 'v');
        }
        return json{{"name", "a"}, {"host", "h"}, {"port", 1}, {"meta", meta}}.dump();
    };
    const auto with_url = [](const std::string& url) {
        return json{{"name", "a"}, {"url", url}}.dump();
    };
    const std::vector<tc> cases = {
        // url
        {"ping", with_url("h:80/api"), "url must start with http:// or https://"},
        {"ping", with_url("ftp://h:21/"), "url must start with http:// or https://"},
        {"ping", with_url("HTTP://h/api"), "url must start with http:// or https://"},
        {"ping", with_url("http:///api"), "url has no host"},
        {"ping", with_url("http://:80/api"), "url has no host"},
        {"ping", with_url("http://h /api"), "url must not contain whitespace or control"},
        {"ping", with_url("http://h/\x01"), "url must not contain whitespace or control"},
        {"ping", with_url("http://h/\x7f"), "url must not contain whitespace or control"},
        {"ping", with_url("http://h/" + std::string(2040, 'p')), "url must be at most 2048 bytes"},
        {"ping", with_url("http://[::1/api"), "url's IPv6 host has no closing ']'"},
        {"ping", with_url("http://[x::1]/api"), "url's host in brackets must be an IPv6 address"},
        {"ping", with_url("http://h:0/api"), "url's port must be an integer from 1 to 65535"},
        {"ping", with_url("http://h:65536/api"), "url's port must be an integer from 1 to 65535"},
        {"ping", with_url("http://h:8o/api"), "url's port must be an integer from 1 to 65535"},
        {"ping", with_url("http://user:pw@h/api"), "url must not hold user information"},
        {"ping", R"({"name":"a","url":5})", "url must be a string, got a number"},
        // meta
        {"ping", R"({"name":"a","host":"h","port":1,"meta":"zone=eu"})",
         "meta must be an object of strings, got a string"},
        {"ping", R"({"name":"a","host":"h","port":1,"meta":[]})", "meta must be an object"},
        {"ping", R"({"name":"a","url":"http://h/","meta":{"k":1}})",
         "meta: the value of \"k\" must be a string, got a number"},
        {"ping", R"({"name":"a","url":"http://h/","meta":{"k":null}})",
         "meta: the value of \"k\" must be a string"},
        {"ping", R"({"name":"a","url":"http://h/","meta":{"k":{"x":"y"}}})",
         "meta: the value of \"k\" must be a string"},
        {"ping", meta_of(33, 3, 1), "meta must have at most 32 keys, got 33"},
        {"ping", meta_of(1, 65, 1), "meta: key \"kkkk"},
        {"ping", R"({"name":"a","host":"h","port":1,"meta":{"bad key":"v"}})",
         "meta: key \"bad key\" must be 1 to 64 characters"},
        {"ping", R"({"name":"a","host":"h","port":1,"meta":{"a/b":"v"}})", "meta: key \"a/b\""},
        {"ping", R"({"name":"a","host":"h","port":1,"meta":{"":"v"}})", "meta: key \"\""},
        {"ping", meta_of(1, 1, 513), "meta: the value of \"0\" must be at most 512 bytes, got 513"},
        {"ping", meta_of(9, 2, 512), "meta must hold at most 4096 bytes of keys and values"},
        // url and host together
        {"ping", R"({"name":"a","url":"http://h/","host":"h","port":1})",
         "give either url or host and port, not both"},
        {"ping", R"({"name":"a","url":"http://h/","port":1})", "not both"},
        {"ping", R"({"name":"a"})", "missing parameter 'host' (or 'url')"},
        // by position: [name, host, port], [name, host, port, meta], [name, url], [name, url, meta]
        {"ping", R"(["a","h",0])", "port must be an integer"},
        {"ping", R"(["a","h h",1])", "host must not contain whitespace"},
        {"ping", R"(["a","h",1,"meta"])", "meta must be an object of strings, got a string"},
        {"ping", R"(["a","h",1,{"k":2}])", "meta: the value of \"k\" must be a string"},
        {"ping", R"(["a","ftp://h/"])", "url must start with http:// or https://"},
        {"ping", R"(["a",7])", "url must be a string, got a number"},
        {"ping", R"(["a","http://h/",{"bad key":"v"}])", "meta: key \"bad key\""},
        {"ping", R"(["a","ftp://h/",{}])", "url must start with http:// or https://"},
        {"ping", R"(["","http://h/"])", "name must be 1 to 255"},
        // the instance of unregister, drain, undrain; the filter of locate_service
        {"drain", R"({"url":"ftp://h/"})", "url must start with http:// or https://"},
        {"drain", R"({"url":"http://h/","host":"h","port":1})", "not both"},
        {"undrain", R"(["h",0])", "port must be an integer"},
        {"undrain", R"(["http://h:1/api ",1])", "host must not contain whitespace"},
        {"unregister", R"(["http://u@h/"])", "url must not hold user information"},
        {"locate_service", R"({"name":"a","meta":{"k":1}})", "meta: the value of \"k\""},
        {"locate_service", R"({"name":"a","meta":"k"})", "meta must be an object"},
    };
    auto document_only = servreg::test::test_settings();
    document_only.flat_path = false;
    servreg::jsonrpc::dispatcher documents(registry_->service, document_only);
    for (const auto& t : cases) {
        const std::string body = R"({"jsonrpc":"2.0","method":")" + t.method + R"(","params":)" +
                                 t.params + R"(,"id":1})";
        for (auto* d : {&registry_->dispatcher, &documents}) {
            const auto r = json::parse(call_with(*d, body).body);
            EXPECT_EQ(r["error"]["code"], -32602) << "request: " << body << " reply: " << r;
            const auto data = r["error"].value("data", json());
            EXPECT_TRUE(data.is_string() &&
                        data.get<std::string>().find(t.data_mentions) != std::string::npos)
                << "request: " << body << "\n  reply: " << r
                << "\n  expected data with: " << t.data_mentions;
        }
    }
    EXPECT_EQ(registry_->index.size(), 0u) << "a refused call wrote something";
}

TEST_F(Dispatcher, PingsByEveryPositionalFormAreAccepted) {
    for (const std::string params :
         {R"(["a","h",1])", R"(["a","h",2,{"zone":"eu"}])", R"(["a","http://h:3/api"])",
          R"(["a","http://h:4/api",{"zone":"us"}])", R"(["a","h","5",{}])"}) {
        const std::string body =
            R"({"jsonrpc":"2.0","method":"ping","params":)" + params + R"(,"id":1})";
        const auto r = call_json(body);
        EXPECT_EQ(r["result"], true) << "request: " << body << " reply: " << r;
    }
    const auto located = call_json(
        R"({"jsonrpc":"2.0","method":"locate_service","params":{"name":"a","meta":{"zone":"eu"}},"id":2})");
    EXPECT_EQ(located["result"], json::parse(R"([{"host":"h","port":2}])")) << located;
    const auto urls = call_json(
        R"({"jsonrpc":"2.0","method":"locate_service","params":{"name":"a","meta":{"zone":"us"}},"id":3})");
    EXPECT_EQ(urls["result"], json::parse(R"(["http://h:4/api"])")) << urls;
}

TEST_F(Dispatcher, DrainOfAnUnknownInstanceIsFalseAndWritesNothing) {
    for (const std::string body :
         {R"({"jsonrpc":"2.0","method":"drain","params":["h",1],"id":1})",
          R"({"jsonrpc":"2.0","method":"drain","params":{"url":"http://h:1/api"},"id":2})",
          R"({"jsonrpc":"2.0","method":"undrain","params":{"host":"h","port":1},"id":3})"}) {
        const auto r = call_json(body);
        EXPECT_EQ(r["result"], false) << "request: " << body << " reply: " << r;
        EXPECT_TRUE(r["error"].is_null()) << "request: " << body << " reply: " << r;
    }
    EXPECT_EQ(registry_->index.size(), 0u);
    auto listed = call_json(R"({"jsonrpc":"2.0","method":"list_services","id":4})");
    EXPECT_EQ(listed["result"], json::array()) << listed;
    // Nothing was remembered for later either: the instance's first ping is not drained.
    call(R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":5})");
    auto located =
        call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["a"],"id":6})");
    EXPECT_EQ(located["result"], json::parse(R"([{"host":"h","port":1}])")) << located;
    // And a known one: true, left out of locate_service, back after undrain.
    auto drained =
        call_json(R"({"jsonrpc":"2.0","method":"drain","params":{"url":"http://h:1/api"},"id":7})");
    EXPECT_EQ(drained["result"], true) << drained;
    located = call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["a"],"id":8})");
    EXPECT_EQ(located["result"], json::array()) << located;
    listed = call_json(R"({"jsonrpc":"2.0","method":"list_services","id":9})");
    EXPECT_EQ(listed["result"][0]["state"], "draining") << listed;
}

TEST_F(Dispatcher, PortAsDigitStringIsAccepted) {
    auto r = call_json(R"({"jsonrpc":"2.0","method":"ping","params":["a","h","8080"],"id":1})");
    EXPECT_EQ(r["result"], true) << r;
    auto located =
        call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["a"],"id":1})");
    EXPECT_EQ(located["result"], json::parse(R"([{"host":"h","port":8080}])")) << located;
}

TEST_F(Dispatcher, PatternLengthIsValidated) {
    EXPECT_EQ(code_of(R"({"jsonrpc":"2.0","method":"locate_service","params":[""],"id":1})"),
              -32602);
    std::string long_pattern(256, 'a');
    EXPECT_EQ(code_of(R"({"jsonrpc":"2.0","method":"locate_service","params":[")" + long_pattern +
                      R"("],"id":1})"),
              -32602);
}

TEST_F(Dispatcher, WritesNeedTheTokenWhenOneIsSet) {
    auto r = call_json(ping_body, false);
    EXPECT_EQ(r["error"]["code"], -32001) << r;
    auto unreg =
        call_json(R"({"jsonrpc":"2.0","method":"unregister","params":["h",1],"id":1})", false);
    EXPECT_EQ(unreg["error"]["code"], -32001) << unreg;
    auto read =
        call_json(R"({"jsonrpc":"2.0","method":"locate_service","params":["*"],"id":1})", false);
    EXPECT_EQ(read["result"], json::array()) << "reads stay open; nothing was written: " << read;
    auto dropped = call(R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1]})", false);
    EXPECT_FALSE(dropped.has_body);
    EXPECT_EQ(registry_->index.size(), 0u) << "a denied notification writes nothing";
}

TEST_F(Dispatcher, UnregisterTellsWhetherTheInstanceWasKnown) {
    call(ping_body);
    auto first = call_json(
        R"({"jsonrpc":"2.0","method":"unregister","params":{"host":"10.0.0.5","port":8001},"id":1})");
    EXPECT_EQ(first["result"], true) << first;
    auto second =
        call_json(R"({"jsonrpc":"2.0","method":"unregister","params":["10.0.0.5",8001],"id":1})");
    EXPECT_EQ(second["result"], false) << second;
}

TEST_F(Dispatcher, ListServicesShowsTimesAndLiveness) {
    call(ping_body);
    registry_->clock.advance(61'000);
    auto r = call_json(R"({"jsonrpc":"2.0","method":"list_services","id":1})");
    ASSERT_EQ(r["result"].size(), 1u) << r;
    auto item = r["result"][0];
    EXPECT_EQ(item["name"], "billing.api") << r;
    EXPECT_EQ(item["alive"], false) << r;
    EXPECT_EQ(item["first_seen"], "2023-11-14T22:13:20.000Z") << r;
    auto filtered =
        call_json(R"({"jsonrpc":"2.0","method":"list_services","params":["x*"],"id":1})");
    EXPECT_EQ(filtered["result"], json::array()) << filtered;
}

TEST_F(Dispatcher, ServiceSpecsNameEveryMethod) {
    auto r = call_json(R"({"jsonrpc":"2.0","method":"get_service_specs","id":1})");
    EXPECT_EQ(r["result"]["name"], "servreg") << r;
    EXPECT_EQ(r["result"]["port"], 5000) << r;
    EXPECT_EQ(r["result"]["max_parallel_blocking_tasks"], 2) << r;
    for (auto m : {"ping", "locate_service", "unregister", "list_services", "get_service_specs"}) {
        EXPECT_TRUE(r["result"]["methods"].contains(m)) << m << " missing from " << r;
    }
    EXPECT_EQ(code_of(R"({"jsonrpc":"2.0","method":"get_service_specs","params":[1],"id":1})"),
              -32602);
}

TEST_F(Dispatcher, BatchRepliesInOrderAndSkipsNotifications) {
    auto r = call(R"([
        {"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":"p"},
        {"jsonrpc":"2.0","method":"ping","params":["b","h",2]},
        {"jsonrpc":"2.0","method":"locate_service","params":["*"],"id":0},
        5,
        {"jsonrpc":"2.0","method":"nope","id":null}
    ])");
    EXPECT_EQ(r.label, "batch(5)");
    auto replies = json::parse(r.body);
    ASSERT_EQ(replies.size(), 4u) << r.body;
    EXPECT_EQ(replies[0]["id"], "p") << r.body;
    EXPECT_EQ(replies[0]["result"], true) << r.body;
    EXPECT_EQ(replies[1]["id"], 0) << r.body;
    EXPECT_EQ(replies[1]["result"].size(), 2u)
        << "the notification in the batch ran first: " << r.body;
    EXPECT_EQ(replies[2]["error"]["code"], -32600) << r.body;
    EXPECT_TRUE(replies[2]["id"].is_null()) << r.body;
    EXPECT_EQ(replies[3]["error"]["code"], -32601) << r.body;
    EXPECT_TRUE(replies[3]["id"].is_null()) << r.body;
}

TEST_F(Dispatcher, BatchOfOnlyNotificationsHasNoBody) {
    auto r = call(
        R"([{"jsonrpc":"2.0","method":"ping","params":["a","h",1]},{"jsonrpc":"2.0","method":"nope"}])");
    EXPECT_FALSE(r.has_body) << r.body;
    EXPECT_EQ(registry_->index.size(), 1u);
}

TEST_F(Dispatcher, OversizedBatchIsOneErrorAndRunsNothing) {
    std::string body = "[";
    for (int i = 0; i < 1001; ++i) {
        if (i) body += ',';
        body +=
            R"({"jsonrpc":"2.0","method":"ping","params":["a","h",)" + std::to_string(i + 1) + "]}";
    }
    body += "]";
    auto r = call_json(body);
    ASSERT_TRUE(r.is_object()) << r.dump().substr(0, 200);
    EXPECT_EQ(r["error"]["code"], -32600) << r;
    EXPECT_TRUE(r["id"].is_null()) << r;
    EXPECT_EQ(registry_->index.size(), 0u) << "none of the calls may run";
}

TEST_F(Dispatcher, StorageFailureIsMinus32000AndNotApplied) {
    registry_->writer.stop();
    auto r = call_json(ping_body);
    EXPECT_EQ(r["error"]["code"], -32000) << r;
    EXPECT_EQ(r["error"]["message"], "Storage unavailable") << r;
    EXPECT_EQ(registry_->index.size(), 0u);
}

TEST_F(Dispatcher, InvalidRequestBodyForWrongContentType) {
    auto r = json::parse(
        registry_->dispatcher.invalid_request_body("Content-Type must be application/json"));
    EXPECT_EQ(r["error"]["code"], -32600) << r;
    EXPECT_TRUE(r["id"].is_null()) << r;
}

// ping and locate_service in their common shape skip the JSON document (flat_request.h):
// every body must get the same reply with that path as without it.
TEST_F(Dispatcher, FlatPathRepliesAsTheDocumentPathDoes) {
    const std::vector<std::string> bodies = {
        std::string(ping_body),
        R"({"jsonrpc":"2.0","method":"ping","params":["billing.api","10.0.0.5",8001],"id":2})",
        R"({"id":"x-9","params":{"port":8002,"host":"h2.local","name":"billing.api"},"method":"ping","jsonrpc":"2.0"})",
        " \t\r\n{ \"jsonrpc\" : \"2.0\" , \"method\":\"ping\", \"params\" : [ \"a\" , \"h\" , 1 ] "
        ", \"id\" : null }\n ",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",65535],"id":-123456789012345678})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",65536],"id":3})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",0],"id":4})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",-1],"id":5})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",99999999],"id":6})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h","8003"],"id":7})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",80.0],"id":8})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",8e1],"id":9})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",080],"id":10})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h"],"id":11})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1,2],"id":12})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a","host":"h"},"id":13})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a","host":"h","port":1,"x":1},"id":14})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a","name":"b","host":"h","port":1},"id":15})",
        // Two unexpected names, the later one first in byte order (found by the fuzzer).
        R"({"jsonrpc":"2.0","method":"ping","params":{"namree":"b","ho/t":"h","port":1},"id":2})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"z":1,"a":2,"name":"n","host":"h"},"id":3})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"","host":"h","port":1},"id":16})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a b","host":"h","port":1},"id":17})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a","host":"","port":1},"id":18})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":1,"host":"h","port":1},"id":19})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a\u0062","host":"h","port":1},"id":20})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"cafÃ©","host":"h","port":1},"id":21})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":-0})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":1.5})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":12345678901234567890})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":"\"q\""})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":true})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":1,"id":2})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":1,"extra":0})",
        R"({"jsonrpc":"1.0","method":"ping","params":["a","h",1],"id":22})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1]})",
        R"({"jsonrpc":"2.0","method":"ping","id":23})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":24} x)",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1],"id":25)",
        R"({"jsonrpc":"2.0","method":"locate_service","params":["billing.*"],"id":26})",
        R"({"jsonrpc":"2.0","method":"locate_service","params":{"name":"*"},"id":"l"})",
        R"({"jsonrpc":"2.0","method":"locate_service","params":{"name":""},"id":27})",
        R"({"jsonrpc":"2.0","method":"locate_service","params":{"name":"a","x":"b"},"id":28})",
        R"({"jsonrpc":"2.0","method":"locate_service","params":["a[b"],"id":29})",
        R"({"jsonrpc":"2.0","method":"locate_service","params":[7],"id":30})",
        R"({"jsonrpc":"2.0","method":"get_service_specs","params":[],"id":31})",
        R"({"jsonrpc":"2.0","method":"nope","params":[],"id":32})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","http://h:1/api"],"id":33})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a","url":"http://[::1]/x"},"id":34})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"url":"ftp://h/","name":"a"},"id":35})",
        R"({"jsonrpc":"2.0","method":"ping","params":["a","h",1,{"zone":"eu"}],"id":36})",
        R"({"jsonrpc":"2.0","method":"ping","params":{"name":"a","url":"http://h/","host":"h"},"id":37})",
        R"({"jsonrpc":"2.0","method":"drain","params":["h",1],"id":38})",
        R"({"jsonrpc":"2.0","method":"undrain","params":{"url":"http://h:1/api"},"id":39})",
        R"({"jsonrpc":"2.0","method":"drain","params":["http://h:9/api"],"id":40})",
    };
    auto document_only = servreg::test::test_settings();
    document_only.flat_path = false;
    servreg::jsonrpc::dispatcher documents(registry_->service, document_only);
    for (const bool write_allowed : {true, false}) {
        expect_replies_as_documents(registry_->dispatcher, documents, bodies, write_allowed);
    }
}

// watch_service's arguments, indexes and ids of 19 and 20 digits, read both ways by
// dispatchers that share one hub: the same replies.
TEST_F(Dispatcher, FlatPathAnswersWatchServiceAsTheDocumentPathDoes) {
    servreg::registry::watch_hub hub(registry_->index, registry_->clock, std::chrono::seconds(60));
    servreg::jsonrpc::dispatcher flat(registry_->service, servreg::test::test_settings(), {}, &hub);
    auto document_only = servreg::test::test_settings();
    document_only.flat_path = false;
    servreg::jsonrpc::dispatcher documents(registry_->service, document_only, {}, &hub);
    ASSERT_EQ(code_of(R"({"jsonrpc":"2.0","method":"ping","params":["w.a","h",1],"id":1})"), 0);

    const auto watch = [](const std::string& index, const std::string& wait,
                          const std::string& id) {
        return R"({"jsonrpc":"2.0","method":"watch_service","params":{"name":"w.*","index":)" +
               index + R"(,"wait":)" + wait + R"(},"id":)" + id + "}";
    };
    const reply first = call_with(flat, watch("0", "0", "1"));
    ASSERT_TRUE(first.has_body);
    const std::string index = json::parse(first.body)["result"]["index"].dump();
    ASSERT_EQ(index.size(), 19u) << first.body;

    const std::vector<std::string> bodies = {
        watch("0", "0", "1"),
        watch(index, "0", "2"),
        watch(index, "0", "9999999999999999999"),
        watch(index, "0", "-922337203685477580"),
        watch(index, "0", "-9223372036854775808"),
        watch(index, "0", "12345678901234567890"),
        watch(index, "601", "3"),
        watch(index, "-1", "4"),
        watch("9223372036854775807", "0", "5"),
        watch("9223372036854775808", "0", "6"),
        watch("9999999999999999999", "0", "7"),
        watch("10000000000000000000", "0", "8"),
        watch("-1", "0", "9"),
        watch("-1234567890123456789", "0", "10"),
        watch("-12345678901234567890", "0", "11"),
        watch(index + ".0", "0", "12"),
        R"({"jsonrpc":"2.0","method":"watch_service","params":["w.*",)" + index + R"(,0],"id":13})",
    };
    expect_replies_as_documents(flat, documents, bodies);
}

TEST(FlatRequest, ReadsTheCommonShapes) {
    using servreg::jsonrpc::detail::read_flat_request;
    auto named = read_flat_request(ping_body);
    ASSERT_TRUE(named) << ping_body;
    EXPECT_EQ(named->method, "ping");
    EXPECT_EQ(named->id, "1");
    ASSERT_EQ(named->param_count, 3u);
    EXPECT_FALSE(named->positional);
    EXPECT_EQ(named->param_names[1], "host");
    EXPECT_EQ(named->params[1].text, "10.0.0.5");
    EXPECT_TRUE(named->params[1].is_string);
    EXPECT_EQ(named->params[2].text, "8001");
    EXPECT_FALSE(named->params[2].is_string);

    const std::string_view spaced =
        " { \"id\" : \"a b\" , \"params\" : [ \"svc.*\" ] ,\"method\":\"locate_service\", "
        "\"jsonrpc\":\"2.0\" } ";
    auto positional = read_flat_request(spaced);
    ASSERT_TRUE(positional) << spaced;
    EXPECT_EQ(positional->id, "\"a b\"");
    EXPECT_TRUE(positional->positional);
    ASSERT_EQ(positional->param_count, 1u);
    EXPECT_EQ(positional->params[0].text, "svc.*");

    auto null_id = read_flat_request(R"({"jsonrpc":"2.0","method":"m","id":null})");
    ASSERT_TRUE(null_id);
    EXPECT_EQ(null_id->id, "null");
    EXPECT_FALSE(null_id->has_params);
    auto no_id = read_flat_request(R"({"jsonrpc":"2.0","method":"m","params":{}})");
    ASSERT_TRUE(no_id);
    EXPECT_TRUE(no_id->id.empty());
    EXPECT_EQ(no_id->param_count, 0u);
}

// watch_service's index has 19 digits (the time shifted left by 22 bits): a client's loop of
// calls is read flat too.
TEST(FlatRequest, ReadsNineteenDigitsWhenNotNegative) {
    using servreg::jsonrpc::detail::read_flat_request;
    const std::string_view watch =
        R"({"jsonrpc":"2.0","method":"watch_service","params":{"name":"a.*","index":7534667374352840799,"wait":60},"id":9999999999999999999})";
    auto call = read_flat_request(watch);
    ASSERT_TRUE(call) << watch;
    ASSERT_EQ(call->param_count, 3u) << watch;
    EXPECT_EQ(call->params[1].text, "7534667374352840799") << watch;
    EXPECT_FALSE(call->params[1].is_string) << watch;
    EXPECT_EQ(call->id, "9999999999999999999") << watch;
}

TEST(FlatRequest, LeavesEverythingElseToTheDocumentPath) {
    using servreg::jsonrpc::detail::read_flat_request;
    for (std::string_view body : {
             R"({})",
             R"([])",
             R"({"jsonrpc":"2.0","method":"m","id":1)",
             R"({"jsonrpc":"2.0","method":"m","id":1}})",
             R"({"jsonrpc":"2.0","method":"m","id":1} 1)",
             R"({"jsonrpc":"2.0","method":"m","id":1,})",
             R"({"jsonrpc":"2.0","method":"m","id":1,"x":2})",
             R"({"jsonrpc":"2.0","method":"m","method":"n","id":1})",
             R"({"jsonrpc":"2.0","method":"m\n","id":1})",
             R"({"jsonrpc":"2.0","method":"Ã©","id":1})",
             R"({"jsonrpc":"2.0","method":"m","id":01})",
             R"({"jsonrpc":"2.0","method":"m","id":-0})",
             R"({"jsonrpc":"2.0","method":"m","id":1.0})",
             R"({"jsonrpc":"2.0","method":"m","id":1e3})",
             R"({"jsonrpc":"2.0","method":"m","id":-1234567890123456789})",
             R"({"jsonrpc":"2.0","method":"m","id":12345678901234567890})",
             R"({"jsonrpc":"2.0","method":"m","id":true})",
             R"({"jsonrpc":"2.0","method":"m","id":nul})",
             R"({"jsonrpc":2,"method":"m","id":1})",
             R"({"method":"m","id":1})",
             R"({"jsonrpc":"2.0","id":1})",
             R"({"jsonrpc":"2.0","method":"m","params":{"a":{}},"id":1})",
             R"({"jsonrpc":"2.0","method":"m","params":[[]],"id":1})",
             R"({"jsonrpc":"2.0","method":"m","params":[null],"id":1})",
             R"({"jsonrpc":"2.0","method":"m","params":[1,2,3,4,5],"id":1})",
             R"({"jsonrpc":"2.0","method":"m","params":{"a":1,"a":2},"id":1})",
             R"({"jsonrpc":"2.0","method":"m","params":"x","id":1})",
         }) {
        EXPECT_FALSE(read_flat_request(body)) << "read as flat: " << body;
    }
}

// With the caller's executor, a write's reply is formatted where the request came from: the
// storage writer only commits and hands the completion over. A batch goes on there too.
TEST_F(Dispatcher, WriteRepliesAreFinishedOnTheCallersExecutor) {
    servreg::test::recording_executor loop;
    const std::string body =
        R"([{"jsonrpc":"2.0","method":"ping","params":["svc","h",1],"id":1},)"
        R"({"jsonrpc":"2.0","method":"locate_service","params":["svc"],"id":2}])";
    std::optional<reply> answer;
    std::thread::id answered_on;
    registry_->dispatcher.handle(body, {true, &loop}, [&](reply r) {
        answer = std::move(r);
        answered_on = std::this_thread::get_id();
    });
    ASSERT_TRUE(loop.wait_for(1)) << "the ping's completion was never posted; request: " << body;
    EXPECT_FALSE(answer.has_value()) << "the batch was answered before its ping's completion ran";
    loop.run_all();
    ASSERT_TRUE(answer.has_value()) << "no reply to " << body;
    EXPECT_EQ(answered_on, std::this_thread::get_id()) << "the reply was made on another thread";
    EXPECT_EQ(json::parse(answer->body), json::parse(R"([
        {"jsonrpc":"2.0","result":true,"error":null,"id":1},
        {"jsonrpc":"2.0","result":[{"host":"h","port":1}],"error":null,"id":2}])"))
        << "request: " << body << "\nreply: " << answer->body;
}

}  // namespace
