// The command-line client's calls and their presentation (SPEC sections 4.1 and 8), without a
// registry: the request each subcommand sends, and what replies written out as the SPEC
// describes them print, with their exit statuses.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "servreg/jsonrpc/client.h"

namespace servreg::test {
namespace {

using config::client_command;
using jsonrpc::client_output;
using nlohmann::json;

// 2026-11-28T10:15:32.123Z, and three seconds later.
constexpr std::int64_t seen_ms = 1'795'860'932'123;
constexpr std::int64_t now_ms = seen_ms + 3'000;

client_command command(std::string verb, std::vector<std::string> args,
                       std::map<std::string, std::string> meta = {}, bool as_json = false) {
    client_command c;
    c.verb = std::move(verb);
    c.args = std::move(args);
    c.meta = std::move(meta);
    c.json = as_json;
    return c;
}

std::string describe(const client_command& c) {
    std::string out = "servreg " + c.verb;
    for (const auto& a : c.args) out += " '" + a + "'";
    for (const auto& [k, v] : c.meta) out += " --meta '" + k + "=" + v + "'";
    return out + (c.json ? " --json" : "") + "\nrequest: " + jsonrpc::client_request(c);
}

std::string describe(const client_command& c, const std::string& body, const client_output& o) {
    return describe(c) + "\nreply: " + body + "\nstatus " + std::to_string(o.status) +
           "\nstdout:\n" + o.out + "stderr:\n" + o.err;
}

// A reply in the registry's default shape, both members present.
std::string reply_with(const std::string& result) {
    return R"({"jsonrpc": "2.0", "result": )" + result + R"(, "error": null, "id": 1})";
}

struct presented {
    client_command cmd;
    std::string body;
    client_output out;
    std::string text() const { return describe(cmd, body, out); }
};

presented present(const client_command& cmd, const std::string& result) {
    presented p{cmd, reply_with(result), {}};
    p.out = jsonrpc::client_result(cmd, 200, p.body, now_ms);
    return p;
}

TEST(ClientRequest, EveryFormOfEverySubcommand) {
    const std::vector<std::pair<client_command, std::string>> cases{
        {command("ping", {"svc", "10.0.0.5", "8001"}),
         R"({"method": "ping", "params": {"name": "svc", "host": "10.0.0.5", "port": 8001}})"},
        {command("ping", {"svc", "http://10.0.0.5:8001/api"}),
         R"({"method": "ping", "params": {"name": "svc", "url": "http://10.0.0.5:8001/api"}})"},
        {command("ping", {"svc", "10.0.0.5", "8001"}, {{"zone", "a"}, {"rack", ""}}),
         R"({"method": "ping", "params": {"name": "svc", "host": "10.0.0.5", "port": 8001,
                                          "meta": {"zone": "a", "rack": ""}}})"},
        {command("ping", {"svc", "https://h/x"}, {{"zone", "a"}}),
         R"({"method": "ping",
             "params": {"name": "svc", "url": "https://h/x", "meta": {"zone": "a"}}})"},
        {command("locate", {"billing.*"}),
         R"({"method": "locate_service", "params": {"name": "billing.*"}})"},
        {command("locate", {"billing.*"}, {{"zone", "a"}, {"tier", "gold"}}),
         R"({"method": "locate_service",
             "params": {"name": "billing.*", "meta": {"zone": "a", "tier": "gold"}}})"},
        {command("list", {}), R"({"method": "list_services", "params": {}})"},
        {command("list", {"b?"}), R"({"method": "list_services", "params": {"pattern": "b?"}})"},
        {command("unregister", {"::1", "7"}),
         R"({"method": "unregister", "params": {"host": "::1", "port": 7}})"},
        {command("unregister", {"http://h:1/api"}),
         R"({"method": "unregister", "params": {"url": "http://h:1/api"}})"},
        {command("drain", {"10.0.0.5", "8001"}),
         R"({"method": "drain", "params": {"host": "10.0.0.5", "port": 8001}})"},
        {command("drain", {"http://h:1/api"}),
         R"({"method": "drain", "params": {"url": "http://h:1/api"}})"},
        {command("undrain", {"10.0.0.5", "8001"}),
         R"({"method": "undrain", "params": {"host": "10.0.0.5", "port": 8001}})"},
        {command("undrain", {"http://h:1/api"}),
         R"({"method": "undrain", "params": {"url": "http://h:1/api"}})"},
        {command("watch", {"billing.*"}),
         R"({"method": "watch_service", "params": {"name": "billing.*", "index": 0, "wait": 30}})"},
    };
    for (const auto& [cmd, wanted] : cases) {
        json expected = json::parse(wanted);
        expected["jsonrpc"] = "2.0";
        expected["id"] = 1;
        EXPECT_EQ(json::parse(jsonrpc::client_request(cmd)), expected)
            << describe(cmd) << "\nwanted: " << expected.dump();
    }
}

TEST(ClientResult, PingSaysWhereTheInstanceIs) {
    auto p = present(command("ping", {"svc", "h", "1"}), "true");
    EXPECT_EQ(p.out.status, 0) << p.text();
    EXPECT_EQ(p.out.out, "pinged svc at h:1\n") << p.text();
    p = present(command("ping", {"svc", "http://10.0.0.5:8001/api"}, {{"zone", "a"}}), "true");
    EXPECT_EQ(p.out.status, 0) << p.text();
    EXPECT_EQ(p.out.out, "pinged svc at http://10.0.0.5:8001/api\n") << p.text();
}

TEST(ClientResult, DrainUndrainAndUnregisterSayWhetherTheInstanceWasKnown) {
    struct wanted {
        client_command cmd;
        std::string result;
        std::string out;
    };
    const std::vector<wanted> cases{
        {command("drain", {"10.0.0.5", "8001"}), "true", "drained 10.0.0.5:8001\n"},
        {command("drain", {"http://h/api"}), "true", "drained http://h/api\n"},
        {command("drain", {"10.0.0.5", "8001"}), "false",
         "10.0.0.5:8001 is not registered: nothing to drain\n"},
        {command("undrain", {"http://h/api"}), "true", "undrained http://h/api\n"},
        {command("undrain", {"h", "1"}), "false", "h:1 is not registered: nothing to undrain\n"},
        {command("unregister", {"http://h/api"}), "true", "unregistered http://h/api\n"},
        {command("unregister", {"http://h/api"}), "false", "http://h/api was not registered\n"},
        {command("unregister", {"h", "1"}), "false", "h:1 was not registered\n"},
    };
    for (const auto& c : cases) {
        // An unknown instance is no failure, as unregister always had it.
        auto p = present(c.cmd, c.result);
        EXPECT_EQ(p.out.status, 0) << p.text();
        EXPECT_EQ(p.out.out, c.out) << p.text();
        EXPECT_EQ(p.out.err, "") << p.text();
        client_command as_json = c.cmd;
        as_json.json = true;
        p = present(as_json, c.result);
        EXPECT_EQ(p.out.status, 0) << p.text();
        EXPECT_EQ(p.out.out, c.result + "\n") << p.text();
    }
    for (const std::string verb : {"drain", "undrain", "unregister"}) {
        auto p = present(command(verb, {"h", "1"}), R"("yes")");
        EXPECT_EQ(p.out.status, 1) << p.text();
        EXPECT_NE(p.out.err.find("unexpected result"), std::string::npos) << p.text();
    }
}

TEST(ClientResult, RegistryWithoutDrainAnswersMethodNotFound) {
    // What a registry older than drain answers: an error, exit status 1, with the reason.
    const auto cmd = command("drain", {"h", "1"});
    const std::string body =
        R"({"jsonrpc": "2.0", "result": null,
            "error": {"code": -32601, "message": "Method not found"}, "id": 1})";
    auto out = jsonrpc::client_result(cmd, 200, body, now_ms);
    EXPECT_EQ(out.status, 1) << describe(cmd, body, out);
    EXPECT_EQ(out.err, "servreg drain: the registry answered error -32601 Method not found\n")
        << describe(cmd, body, out);
    EXPECT_EQ(out.out, "") << describe(cmd, body, out);
}

TEST(ClientResult, LocateIsATableOfHostsAndPortsOrOfUrls) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {R"([{"host": "10.0.0.5", "port": 8001}, {"host": "10.0.0.6", "port": 80}])",
         "HOST      PORT\n"
         "10.0.0.5  8001\n"
         "10.0.0.6  80\n"},
        {R"(["http://10.0.0.5:8001/api", "https://b.example/rpc"])",
         "URL\n"
         "http://10.0.0.5:8001/api\n"
         "https://b.example/rpc\n"},
        // Both forms in one answer: every instance by its URL, which host and port make for
        // the ones that pinged with them.
        {R"(["http://10.0.0.5:8001/api", {"host": "10.0.0.6", "port": 8002},
            {"host": "::1", "port": 9}])",
         "URL\n"
         "http://10.0.0.5:8001/api\n"
         "http://10.0.0.6:8002/api\n"
         "http://[::1]:9/api\n"},
    };
    for (const auto& [result, table] : cases) {
        auto p = present(command("locate", {"*"}, {{"zone", "a"}}), result);
        EXPECT_EQ(p.out.status, 0) << p.text();
        EXPECT_EQ(p.out.out, table) << p.text();
    }
}

TEST(ClientResult, JsonPrintsTheResultAsTheRegistrySentIt) {
    const std::vector<std::pair<client_command, std::string>> cases{
        {command("locate", {"*"}, {}, true),
         R"(["http://10.0.0.5:8001/api", {"host": "10.0.0.6", "port": 8002}])"},
        {command("list", {}, {}, true),
         R"([{"name": "b", "host": "h", "port": 1, "url": "http://h:1/api", "meta": {"zone": "a"},
              "state": "draining", "alive": true, "first_seen": "2026-11-28T10:15:32.123Z",
              "last_seen": "2026-11-28T10:15:32.123Z"}])"},
    };
    for (const auto& [cmd, result] : cases) {
        auto p = present(cmd, result);
        EXPECT_EQ(p.out.status, 0) << p.text();
        EXPECT_EQ(json::parse(p.out.out, nullptr, false), json::parse(result)) << p.text();
    }
}

// A list_services record as the SPEC describes it; `extra` members are added or replaced.
json record(const std::string& name, const std::string& host, int port, json extra = {}) {
    json r = {{"name", name},
              {"host", host},
              {"port", port},
              {"first_seen", "2026-11-28T10:15:32.123Z"},
              {"last_seen", "2026-11-28T10:15:32.123Z"},
              {"alive", true}};
    if (extra.is_object()) r.update(extra);
    return r;
}

TEST(ClientResult, ListShowsStateFromTheRecordOrFromAlive) {
    // A registry before 4.1 sends `alive` only; a newer one `state`, `url` and `meta` too.
    const json older = json::array({record("a", "h", 1), record("b", "h", 2, {{"alive", false}})});
    auto p = present(command("list", {}), older.dump());
    EXPECT_EQ(p.out.status, 0) << p.text();
    EXPECT_EQ(p.out.out,
              "NAME  HOST  PORT  STATE  FIRST SEEN               LAST SEEN\n"
              "a     h     1     alive  2026-11-28 10:15:32 UTC  3 s ago\n"
              "b     h     2     dead   2026-11-28 10:15:32 UTC  3 s ago\n")
        << p.text();

    const json newer = json::array(
        {record("a", "h", 1,
                {{"url", "http://h:1/api"}, {"meta", json::object()}, {"state", "alive"}}),
         record("b", "h", 2,
                {{"url", "http://h:2/api"}, {"meta", json::object()}, {"state", "draining"}}),
         record("c", "::1", 3,
                {{"url", "http://[::1]:3/api"}, {"state", "dead"}, {"alive", false}})});
    p = present(command("list", {}), newer.dump());
    EXPECT_EQ(p.out.status, 0) << p.text();
    EXPECT_EQ(p.out.out,
              "NAME  HOST  PORT  STATE     FIRST SEEN               LAST SEEN\n"
              "a     h     1     alive     2026-11-28 10:15:32 UTC  3 s ago\n"
              "b     h     2     draining  2026-11-28 10:15:32 UTC  3 s ago\n"
              "c     ::1   3     dead      2026-11-28 10:15:32 UTC  3 s ago\n")
        << p.text();
}

TEST(ClientResult, ListShowsUrlsAndMetaWhenThereAreAny) {
    const json records =
        json::array({record("a", "h", 1,
                            {{"url", "http://h:1/api"},
                             {"meta", {{"zone", "a"}, {"rack", "3"}}},
                             {"state", "alive"}}),
                     record("b", "10.0.0.5", 8001,
                            {{"url", "https://10.0.0.5:8001/rpc"},
                             {"meta", json::object()},
                             {"state", "draining"}}),
                     // An instance that pinged with a URL may have no host and port of its own.
                     record("c", "", 0,
                            {{"host", nullptr},
                             {"port", nullptr},
                             {"url", "http://c.example/api"},
                             {"state", "alive"}})});
    auto p = present(command("list", {"*"}), records.dump());
    EXPECT_EQ(p.out.status, 0) << p.text();
    EXPECT_EQ(p.out.out,
              "NAME  HOST      PORT  STATE     FIRST SEEN               LAST SEEN  URL        "
              "                META\n"
              "a     h         1     alive     2026-11-28 10:15:32 UTC  3 s ago    "
              "http://h:1/api             rack=3,zone=a\n"
              "b     10.0.0.5  8001  draining  2026-11-28 10:15:32 UTC  3 s ago    "
              "https://10.0.0.5:8001/rpc\n"
              "c     -         -     alive     2026-11-28 10:15:32 UTC  3 s ago    "
              "http://c.example/api\n")
        << p.text();

    // Metadata without any instance that pinged with a URL: no URL column.
    p = present(
        command("list", {}),
        json::array(
            {record("a", "h", 1,
                    {{"url", "http://h:1/api"}, {"meta", {{"zone", "a"}}}, {"state", "alive"}})})
            .dump());
    EXPECT_EQ(p.out.out,
              "NAME  HOST  PORT  STATE  FIRST SEEN               LAST SEEN  META\n"
              "a     h     1     alive  2026-11-28 10:15:32 UTC  3 s ago    zone=a\n")
        << p.text();
}

TEST(ClientResult, ListBearsMembersOfUnexpectedTypes) {
    auto p = present(command("list", {}), json::array({record("a", "h", 1,
                                                              {{"first_seen", nullptr},
                                                               {"last_seen", 7},
                                                               {"alive", nullptr},
                                                               {"meta", {{"n", 1}}}})})
                                              .dump());
    EXPECT_EQ(p.out.status, 0) << p.text();
    EXPECT_EQ(p.out.out,
              "NAME  HOST  PORT  STATE  FIRST SEEN  LAST SEEN  META\n"
              "a     h     1     dead               ?          n=1\n")
        << p.text();
}

TEST(ClientResult, MalformedResultsAreRegistryErrors) {
    const std::vector<std::pair<client_command, std::string>> cases{
        {command("locate", {"*"}), R"({"host": "h"})"},
        {command("list", {}), R"(["http://h/api"])"},
        {command("list", {}), "7"},
    };
    for (const auto& [cmd, result] : cases) {
        auto p = present(cmd, result);
        EXPECT_EQ(p.out.status, 1) << p.text();
        EXPECT_NE(p.out.err.find("unexpected result"), std::string::npos) << p.text();
    }
}

// One round of servreg watch: `result` answered to the call after `index`.
struct watched {
    client_command cmd;
    std::uint64_t index = 0;
    std::string body;
    jsonrpc::watch_step step;
    std::string text() const {
        return describe(cmd, body, step.output) + "\nasked after index " + std::to_string(index) +
               ", next index " + std::to_string(step.index);
    }
};

watched watch_round(const client_command& cmd, std::uint64_t index, const std::string& result) {
    watched w{cmd, index, reply_with(result), {}};
    w.step = jsonrpc::watch_result(cmd, index, 200, w.body, now_ms);
    return w;
}

TEST(WatchRequest, AsksAfterTheIndexWithWaitAndMeta) {
    client_command cmd = command("watch", {"b*"}, {{"zone", "a"}});
    cmd.wait = std::chrono::seconds(5);
    const json wanted = {
        {"jsonrpc", "2.0"},
        {"method", "watch_service"},
        {"params", {{"name", "b*"}, {"index", 17}, {"wait", 5}, {"meta", {{"zone", "a"}}}}},
        {"id", 1}};
    EXPECT_EQ(json::parse(jsonrpc::watch_request(cmd, 17)), wanted) << describe(cmd);
    EXPECT_EQ(json::parse(jsonrpc::client_request(cmd))["params"]["index"], 0) << describe(cmd);
}

TEST(WatchResult, ANewIndexPrintsTheTimeTheIndexAndLocatesTable) {
    auto w = watch_round(command("watch", {"b*"}), 0,
                         R"({"index": 41, "instances": [{"host": "10.0.0.5", "port": 8001},
                                                        {"host": "10.0.0.6", "port": 8002}]})");
    EXPECT_EQ(w.step.output.status, 0) << w.text();
    EXPECT_EQ(w.step.index, 41u) << w.text();
    EXPECT_EQ(w.step.output.out,
              "--- 2026-11-28 10:15:35 UTC, index 41: 2 alive instances\n"
              "HOST      PORT\n"
              "10.0.0.5  8001\n"
              "10.0.0.6  8002\n")
        << w.text();
    EXPECT_EQ(w.step.output.err, "") << w.text();

    w = watch_round(command("watch", {"b*"}), 41,
                    R"({"index": 42, "instances": ["http://h/api", {"host": "::1", "port": 1}]})");
    EXPECT_EQ(w.step.index, 42u) << w.text();
    EXPECT_EQ(w.step.output.out,
              "--- 2026-11-28 10:15:35 UTC, index 42: 2 alive instances\n"
              "URL\nhttp://h/api\nhttp://[::1]:1/api\n")
        << w.text();

    w = watch_round(command("watch", {"b*"}), 42, R"({"index": 43, "instances": []})");
    EXPECT_EQ(w.step.output.status, 0) << w.text();
    EXPECT_EQ(w.step.output.out, "--- 2026-11-28 10:15:35 UTC, index 43: no alive instance\n")
        << w.text();
    w = watch_round(command("watch", {"b*"}), 43,
                    R"({"index": 44, "instances": [{"host": "h", "port": 1}]})");
    EXPECT_EQ(w.step.output.out,
              "--- 2026-11-28 10:15:35 UTC, index 44: 1 alive instance\nHOST  PORT\nh     1\n")
        << w.text();
}

TEST(WatchResult, TheSameIndexPrintsNothing) {
    for (bool as_json : {false, true}) {
        auto w = watch_round(command("watch", {"b*"}, {}, as_json), 7,
                             R"({"index": 7, "instances": [{"host": "h", "port": 1}]})");
        EXPECT_EQ(w.step.output.status, 0) << w.text();
        EXPECT_EQ(w.step.index, 7u) << w.text();
        EXPECT_EQ(w.step.output.out, "") << w.text();
        EXPECT_EQ(w.step.output.err, "") << w.text();
    }
}

TEST(WatchResult, JsonIsTheResultOnOneLine) {
    const std::string result = R"({"index": 9, "instances": ["http://h/api",
                                                              {"host": "h", "port": 1}]})";
    auto w = watch_round(command("watch", {"b*"}, {}, true), 0, result);
    EXPECT_EQ(w.step.output.status, 0) << w.text();
    EXPECT_EQ(w.step.index, 9u) << w.text();
    ASSERT_FALSE(w.step.output.out.empty()) << w.text();
    EXPECT_EQ(w.step.output.out.find('\n'), w.step.output.out.size() - 1) << w.text();
    EXPECT_EQ(json::parse(w.step.output.out, nullptr, false), json::parse(result)) << w.text();
}

TEST(WatchResult, ErrorsAndMalformedAnswersEndTheWatch) {
    const client_command cmd = command("watch", {"b*"});
    const std::string refused =
        R"({"jsonrpc": "2.0", "result": null, "id": 1,
            "error": {"code": -32602, "message": "Invalid params", "data": "name: too long"}})";
    auto step = jsonrpc::watch_result(cmd, 5, 200, refused, now_ms);
    EXPECT_EQ(step.output.status, 1) << refused << "\n" << step.output.err;
    EXPECT_NE(step.output.err.find("-32602"), std::string::npos) << step.output.err;
    EXPECT_NE(step.output.err.find("name: too long"), std::string::npos) << step.output.err;
    EXPECT_EQ(step.output.out, "") << step.output.out;
    step = jsonrpc::watch_result(command("watch", {"b*"}, {}, true), 5, 200, refused, now_ms);
    EXPECT_EQ(json::parse(step.output.out, nullptr, false)["error"]["code"], -32602)
        << step.output.out;

    step = jsonrpc::watch_result(cmd, 0, 404, "not found", now_ms);
    EXPECT_EQ(step.output.status, 1) << step.output.err;
    EXPECT_NE(step.output.err.find("HTTP 404"), std::string::npos) << step.output.err;

    for (const std::string result :
         {R"([{"host": "h", "port": 1}])", R"({"index": 0, "instances": []})",
          R"({"index": -3, "instances": []})", R"({"index": "4", "instances": []})",
          R"({"index": 4})", R"({"index": 4, "instances": [7]})", "true"}) {
        auto w = watch_round(cmd, 3, result);
        EXPECT_EQ(w.step.output.status, 1) << w.text();
        EXPECT_NE(w.step.output.err.find("unexpected result"), std::string::npos) << w.text();
        EXPECT_EQ(w.step.output.out, "") << w.text();
    }
}

}  // namespace
}  // namespace servreg::test
