// Tests of the command line and SERVREG_* environment parsing (SPEC sections 1 and 8).
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "servreg/config/command_line.h"
#include "servreg/version.h"
#include "utils.h"

using servreg::config::client_command;
using servreg::config::early_exit;
using servreg::config::log_level;
using servreg::config::options;
using servreg::config::parse_result;

namespace {

using env_map = std::map<std::string, std::string>;

std::string join(const std::vector<std::string>& args) {
    std::string out;
    for (const auto& a : args) out += (out.empty() ? "" : " ") + ("'" + a + "'");
    return out;
}

std::string describe(const parse_result& r) {
    if (const auto* e = std::get_if<early_exit>(&r))
        return "early_exit{" + std::to_string(e->status) + ", " + e->message + "}";
    if (const auto* c = std::get_if<client_command>(&r))
        return "client_command{" + c->verb + " " + join(c->args) + " registry=" + c->registry +
               " token=" + c->api_token.value_or("-") + " json=" + (c->json ? "1" : "0") + "}";
    const auto& o = std::get<options>(r);
    return "options{host=" + o.host + " port=" + std::to_string(o.port) + " dburl=" + o.dburl +
           " ttl=" + std::to_string(o.ttl.count()) + " threads=" + std::to_string(o.threads) + "}";
}

parse_result parse(const std::vector<std::string>& args, const env_map& env = {}) {
    std::vector<const char*> argv{"servreg"};
    for (const auto& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return servreg::config::parse_command_line(
        static_cast<int>(argv.size() - 1), argv.data(),
        [&env](const std::string& name) -> std::optional<std::string> {
            auto it = env.find(name);
            if (it == env.end()) return std::nullopt;
            return it->second;
        });
}

// The daemon's options, or a test failure that shows what came back instead.
options daemon(const std::vector<std::string>& args, const env_map& env = {}) {
    auto r = parse(args, env);
    const auto* o = std::get_if<options>(&r);
    EXPECT_NE(o, nullptr) << "args=" << join(args) << " got " << describe(r);
    return o ? *o : options{};
}

client_command client(const std::vector<std::string>& args, const env_map& env = {}) {
    auto r = parse(args, env);
    const auto* c = std::get_if<client_command>(&r);
    EXPECT_NE(c, nullptr) << "args=" << join(args) << " got " << describe(r);
    return c ? *c : client_command{};
}

early_exit exit_of(const std::vector<std::string>& args, const env_map& env = {}) {
    auto r = parse(args, env);
    const auto* e = std::get_if<early_exit>(&r);
    EXPECT_NE(e, nullptr) << "args=" << join(args) << " got " << describe(r);
    return e ? *e : early_exit{-1, ""};
}

// A usage error: status 2, one line, naming `what`.
void expect_refused(const std::vector<std::string>& args, const std::string& what,
                    const env_map& env = {}) {
    auto e = exit_of(args, env);
    EXPECT_EQ(e.status, 2) << "args=" << join(args) << " message=" << e.message;
    EXPECT_NE(e.message.find(what), std::string::npos)
        << "args=" << join(args) << " message=" << e.message << " lacks " << what;
    EXPECT_EQ(e.message.find('\n'), std::string::npos)
        << "args=" << join(args) << " message=" << e.message;
}

unsigned hardware_threads() {
    return std::clamp(std::thread::hardware_concurrency(), 1U, 256U);
}

}  // namespace

TEST(CommandLine, Defaults) {
    options o = daemon({});
    EXPECT_EQ(o.host, "127.0.0.1");
    EXPECT_EQ(o.port, 5000);
    EXPECT_EQ(o.dburl, "sqlite:///servreg.db");
    EXPECT_EQ(o.database.kind, servreg::config::database_kind::sqlite);
    EXPECT_EQ(o.database.path, "servreg.db");
    EXPECT_TRUE(o.database.parameters.empty()) << o.database.parameters.front().first;
    EXPECT_EQ(o.database.display, "sqlite file servreg.db");
    EXPECT_FALSE(o.accesslog.has_value()) << *o.accesslog;
    EXPECT_EQ(o.ttl.count(), 60);
    EXPECT_EQ(o.threads, hardware_threads());
    EXPECT_GE(o.threads, 1U);
    EXPECT_EQ(o.level, log_level::info);
    EXPECT_FALSE(o.strict_jsonrpc);
    EXPECT_FALSE(o.api_token.has_value());
    EXPECT_EQ(o.limits.max_connections, 10'000U);
}

TEST(CommandLine, NoArgumentVectorMeansDefaults) {
    auto r = servreg::config::parse_command_line(
        0, nullptr, [](const std::string&) { return std::optional<std::string>{}; });
    ASSERT_TRUE(std::holds_alternative<options>(r)) << describe(r);
    EXPECT_EQ(std::get<options>(r).port, 5000);
}

TEST(CommandLine, EveryOption) {
    servreg::test::temp_dir dir;
    std::string log = dir.file("access.log");
    options o = daemon({"--host", "::1", "--port", "8080", "--dburl",
                        "postgresql://svc:pw@db.example:5432/reg", "--accesslog", log, "--ttl",
                        "30", "--threads", "3", "--log-level", "debug", "--strict-jsonrpc",
                        "--api-token", "t0ken", "--max-connections", "50"});
    EXPECT_EQ(o.host, "::1");
    EXPECT_EQ(o.port, 8080);
    EXPECT_EQ(o.dburl, "postgresql://svc:pw@db.example:5432/reg");
    EXPECT_EQ(o.database.kind, servreg::config::database_kind::postgresql);
    EXPECT_EQ(o.database.display, "postgresql database 'reg' on db.example:5432 as user 'svc'");
    EXPECT_EQ(o.accesslog.value_or(""), log);
    EXPECT_TRUE(std::filesystem::exists(log)) << log;
    EXPECT_EQ(o.ttl.count(), 30);
    EXPECT_EQ(o.threads, 3U);
    EXPECT_EQ(o.level, log_level::debug);
    EXPECT_TRUE(o.strict_jsonrpc);
    EXPECT_EQ(o.api_token.value_or(""), "t0ken");
    EXPECT_EQ(o.limits.max_connections, 50U);
    EXPECT_EQ(o.limits.body_limit, 1024U * 1024U) << "other limits keep their defaults";
}

TEST(CommandLine, EqualsFormAndLastOccurrenceWins) {
    EXPECT_EQ(daemon({"--port=8081"}).port, 8081);
    EXPECT_EQ(daemon({"--port", "1", "--port", "2"}).port, 2);
    EXPECT_EQ(daemon({"--port", "0"}).port, 0) << "0 picks a free port";
    EXPECT_EQ(daemon({"--port", "65535"}).port, 65535);
    EXPECT_EQ(daemon({"--ttl", "31536000"}).ttl.count(), 31'536'000);
    EXPECT_EQ(daemon({"--threads", "256"}).threads, 256U);
    EXPECT_EQ(daemon({"--host", "list"}).host, "list") << "a value is not a subcommand";
}

TEST(CommandLine, AccessLogDashIsStdout) {
    EXPECT_EQ(daemon({"--accesslog", "-"}).accesslog.value_or(""), "-");
    EXPECT_EQ(daemon({"--accesslog=-"}).accesslog.value_or(""), "-");
}

TEST(CommandLine, EveryLogLevel) {
    const std::vector<std::pair<std::string, log_level>> levels{
        {"trace", log_level::trace}, {"debug", log_level::debug}, {"info", log_level::info},
        {"warn", log_level::warn},   {"error", log_level::error}, {"WARN", log_level::warn}};
    for (const auto& [text, level] : levels)
        EXPECT_EQ(daemon({"--log-level", text}).level, level) << "level=" << text;
}

TEST(CommandLine, EnvironmentFallbacks) {
    servreg::test::temp_dir dir;
    std::string log = dir.file("env.log");
    options o = daemon({}, {{"SERVREG_HOST", "0.0.0.0"},
                            {"SERVREG_PORT", "6000"},
                            {"SERVREG_DBURL", "mysql://svc@db/reg"},
                            {"SERVREG_ACCESSLOG", log},
                            {"SERVREG_TTL", "90"},
                            {"SERVREG_THREADS", "2"},
                            {"SERVREG_LOG_LEVEL", "error"},
                            {"SERVREG_STRICT_JSONRPC", "1"},
                            {"SERVREG_API_TOKEN", "from-env"},
                            {"SERVREG_MAX_CONNECTIONS", "77"}});
    EXPECT_EQ(o.host, "0.0.0.0");
    EXPECT_EQ(o.port, 6000);
    EXPECT_EQ(o.dburl, "mysql://svc@db/reg");
    EXPECT_EQ(o.database.kind, servreg::config::database_kind::mysql);
    EXPECT_EQ(o.accesslog.value_or(""), log);
    EXPECT_EQ(o.ttl.count(), 90);
    EXPECT_EQ(o.threads, 2U);
    EXPECT_EQ(o.level, log_level::error);
    EXPECT_TRUE(o.strict_jsonrpc);
    EXPECT_EQ(o.api_token.value_or(""), "from-env");
    EXPECT_EQ(o.limits.max_connections, 77U);
}

TEST(CommandLine, CommandLineWinsOverEnvironment) {
    // Every environment value is invalid: none may even be looked at.
    const env_map env{{"SERVREG_HOST", ""},
                      {"SERVREG_PORT", "0.0.0.0"},
                      {"SERVREG_DBURL", "oracle://x"},
                      {"SERVREG_ACCESSLOG", "/nonexistent-dir/x.log"},
                      {"SERVREG_TTL", "0"},
                      {"SERVREG_THREADS", "0"},
                      {"SERVREG_LOG_LEVEL", "loud"},
                      {"SERVREG_STRICT_JSONRPC", "maybe"},
                      {"SERVREG_API_TOKEN", ""},
                      {"SERVREG_MAX_CONNECTIONS", "0"}};
    options o = daemon({"--host", "h", "--port", "1", "--dburl", "sqlite://", "--accesslog", "-",
                        "--ttl", "5", "--threads", "4", "--log-level", "trace", "--strict-jsonrpc",
                        "--api-token", "cli", "--max-connections", "9"},
                       env);
    EXPECT_EQ(o.host, "h");
    EXPECT_EQ(o.port, 1);
    EXPECT_EQ(o.database.display, "sqlite in memory");
    EXPECT_EQ(o.accesslog.value_or(""), "-");
    EXPECT_EQ(o.ttl.count(), 5);
    EXPECT_EQ(o.threads, 4U);
    EXPECT_EQ(o.level, log_level::trace);
    EXPECT_TRUE(o.strict_jsonrpc);
    EXPECT_EQ(o.api_token.value_or(""), "cli");
    EXPECT_EQ(o.limits.max_connections, 9U);
}

TEST(CommandLine, StrictJsonrpcFromEnvironment) {
    for (const std::string v : {"1", "true", "yes", "TRUE", "on"})
        EXPECT_TRUE(daemon({}, {{"SERVREG_STRICT_JSONRPC", v}}).strict_jsonrpc) << "value=" << v;
    for (const std::string v : {"0", "false", "no", "", "off"})
        EXPECT_FALSE(daemon({}, {{"SERVREG_STRICT_JSONRPC", v}}).strict_jsonrpc) << "value=" << v;
    expect_refused({}, "SERVREG_STRICT_JSONRPC: 'maybe'", {{"SERVREG_STRICT_JSONRPC", "maybe"}});
}

TEST(CommandLine, PortTypoFromTheOriginalReadme) {
    auto e = exit_of({"--port=0.0.0.0"});
    EXPECT_EQ(e.status, 2);
    EXPECT_EQ(e.message, "--port: '0.0.0.0' is not a port number (0-65535)");
}

TEST(CommandLine, BadValuesAreRefusedNamingTheOption) {
    servreg::test::temp_dir dir;
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        {{"--port", "70000"}, "--port: '70000'"},
        {{"--port", "65536"}, "--port: '65536'"},
        {{"--port", "-1"}, "--port: '-1'"},
        {{"--port=-1"}, "--port: '-1'"},
        {{"--port", ""}, "--port: ''"},
        {{"--port", "80x"}, "--port: '80x'"},
        {{"--port", "+80"}, "--port: '+80'"},
        {{"--ttl", "0"}, "--ttl: '0'"},
        {{"--ttl", "31536001"}, "--ttl: '31536001'"},
        {{"--ttl", "1.5"}, "--ttl: '1.5'"},
        {{"--threads", "0"}, "--threads: '0'"},
        {{"--threads", "257"}, "--threads: '257'"},
        {{"--max-connections", "0"}, "--max-connections: '0'"},
        {{"--max-connections", "lots"}, "--max-connections: 'lots'"},
        {{"--log-level", "verbose"}, "--log-level: 'verbose' is not one of trace, debug, info"},
        {{"--host", ""}, "--host: must not be empty"},
        {{"--api-token", ""}, "--api-token: must not be empty"},
        {{"--accesslog", ""}, "--accesslog: must not be empty"},
        {{"--accesslog", "/nonexistent-dir/access.log"},
         "--accesslog: cannot open '/nonexistent-dir/access.log' for appending"},
        {{"--accesslog", dir.path().string()}, "--accesslog: cannot open"},
        {{"--dburl", "oracle+cx_oracle://scott:tiger@h/orcl"},
         "--dburl: unsupported database URL scheme 'oracle+cx_oracle'; supported: sqlite, "
         "postgresql, postgresql+psycopg2, postgresql+pg8000, mysql, mysql+mysqldb, mysql+pymysql"},
        {{"--dburl", "servreg.db"}, "--dburl: database URL has no scheme"},
        {{"--dburl", "sqlite:///x.db?check_same_thread=false"}, "--dburl: "},
        {{"--bogus"}, "--bogus: unknown option"},
        {{"--bogus=1"}, "--bogus: unknown option"},
        {{"-x"}, "-x: unknown option"},
        {{"stray"}, "'stray': unexpected argument"},
        {{"--port", "1", "stray"}, "'stray': unexpected argument"},
        {{"--port"}, "--port"},
        {{"--strict-jsonrpc=maybe"}, "--strict-jsonrpc"},
    };
    for (const auto& [args, what] : cases) expect_refused(args, what);
}

TEST(CommandLine, EnvironmentErrorsNameTheVariable) {
    const std::vector<std::pair<env_map, std::string>> cases{
        {{{"SERVREG_PORT", "0.0.0.0"}}, "SERVREG_PORT: '0.0.0.0' is not a port number (0-65535)"},
        {{{"SERVREG_TTL", "0"}}, "SERVREG_TTL: '0'"},
        {{{"SERVREG_THREADS", "999"}}, "SERVREG_THREADS: '999'"},
        {{{"SERVREG_MAX_CONNECTIONS", "0"}}, "SERVREG_MAX_CONNECTIONS: '0'"},
        {{{"SERVREG_LOG_LEVEL", "loud"}}, "SERVREG_LOG_LEVEL: 'loud'"},
        {{{"SERVREG_DBURL", "mssql+pyodbc://h/d"}},
         "SERVREG_DBURL: unsupported database URL scheme 'mssql+pyodbc'"},
        {{{"SERVREG_ACCESSLOG", "/nonexistent-dir/a.log"}}, "SERVREG_ACCESSLOG: cannot open"},
        {{{"SERVREG_HOST", ""}}, "SERVREG_HOST: must not be empty"},
        {{{"SERVREG_API_TOKEN", ""}}, "SERVREG_API_TOKEN: must not be empty"},
    };
    for (const auto& [env, what] : cases) expect_refused({}, what, env);
}

TEST(CommandLine, SecretsNeverInMessages) {
    auto e = exit_of({"--dburl", "mysql://svc:S3cretPw@h:99999/reg"});
    EXPECT_EQ(e.status, 2) << e.message;
    EXPECT_EQ(e.message.find("S3cret"), std::string::npos) << e.message;
    e = exit_of({"--dburl", "oracle://svc:S3cretPw@h/reg"});
    EXPECT_EQ(e.message.find("S3cret"), std::string::npos) << e.message;
}

TEST(CommandLine, Help) {
    for (const std::string flag : {"--help", "-h"}) {
        auto e = exit_of({flag});
        EXPECT_EQ(e.status, 0) << "flag=" << flag << " message=" << e.message;
        for (const std::string option :
             {"--host", "--port", "--dburl", "--accesslog", "--ttl", "--threads", "--log-level",
              "--strict-jsonrpc", "--api-token", "--max-connections", "--version", "SERVREG_",
              "servreg ping NAME HOST PORT", "unregister", "servreg ping NAME URL",
              "servreg unregister URL", "servreg drain HOST PORT | URL",
              "servreg undrain HOST PORT | URL", "servreg watch PATTERN"})
            EXPECT_NE(e.message.find(option), std::string::npos)
                << "flag=" << flag << " help lacks " << option << ":\n"
                << e.message;
    }
    // Help wins over a bad value elsewhere on the line and over a bad environment.
    EXPECT_EQ(exit_of({"--port", "x", "--help"}, {{"SERVREG_TTL", "0"}}).status, 0);
}

TEST(CommandLine, Version) {
    auto e = exit_of({"--version"}, {{"SERVREG_PORT", "bad"}});
    EXPECT_EQ(e.status, 0) << e.message;
    EXPECT_EQ(e.message, std::string("servreg ") + servreg::version);
}

TEST(CommandLine, PingSubcommand) {
    client_command c = client({"ping", "billing.api", "10.0.0.7", "8080"});
    EXPECT_EQ(c.verb, "ping");
    EXPECT_EQ(c.args, (std::vector<std::string>{"billing.api", "10.0.0.7", "8080"}));
    EXPECT_EQ(c.registry, "http://127.0.0.1:5000/api");
    EXPECT_FALSE(c.api_token.has_value());
    EXPECT_FALSE(c.json);
}

TEST(CommandLine, SubcommandOptionsBeforeAndAfterArguments) {
    client_command c = client({"ping", "--registry", "http://reg:7000/api", "svc", "h", "1",
                               "--api-token", "tok", "--json"});
    EXPECT_EQ(c.args, (std::vector<std::string>{"svc", "h", "1"}));
    EXPECT_EQ(c.registry, "http://reg:7000/api");
    EXPECT_EQ(c.api_token.value_or(""), "tok");
    EXPECT_TRUE(c.json);
    EXPECT_EQ(client({"locate", "--registry=https://reg/api", "x*"}).registry, "https://reg/api");
}

TEST(CommandLine, EverySubcommand) {
    const std::vector<std::pair<std::vector<std::string>, std::vector<std::string>>> cases{
        {{"locate", "billing.*"}, {"billing.*"}},
        {{"list"}, {}},
        {{"list", "b?lling"}, {"b?lling"}},
        {{"unregister", "10.0.0.7", "8080"}, {"10.0.0.7", "8080"}},
        {{"unregister", "::1", "08080"}, {"::1", "8080"}},
        {{"ping", "svc", "h", "65535"}, {"svc", "h", "65535"}},
        {{"ping", "svc", "http://10.0.0.5:8001/api"}, {"svc", "http://10.0.0.5:8001/api"}},
        {{"ping", "svc", "HTTPS://h/x"}, {"svc", "HTTPS://h/x"}},
        {{"unregister", "http://h:1/api"}, {"http://h:1/api"}},
        {{"drain", "10.0.0.7", "08080"}, {"10.0.0.7", "8080"}},
        {{"drain", "https://h/api"}, {"https://h/api"}},
        {{"undrain", "10.0.0.7", "8080"}, {"10.0.0.7", "8080"}},
        {{"undrain", "http://h:1/api"}, {"http://h:1/api"}},
        {{"watch", "billing.*"}, {"billing.*"}},
    };
    for (const auto& [args, expected] : cases) {
        client_command c = client(args);
        EXPECT_EQ(c.verb, args.front()) << "args=" << join(args);
        EXPECT_EQ(c.args, expected) << "args=" << join(args) << " got " << join(c.args);
        EXPECT_TRUE(c.meta.empty()) << "args=" << join(args);
    }
}

TEST(CommandLine, MetaOfPingAndLocate) {
    client_command c = client(
        {"ping", "--meta", "zone=a", "svc", "h", "1", "--meta=rack=r=3", "--meta", "empty="});
    EXPECT_EQ(c.args, (std::vector<std::string>{"svc", "h", "1"})) << join(c.args);
    const std::map<std::string, std::string> wanted{{"zone", "a"}, {"rack", "r=3"}, {"empty", ""}};
    EXPECT_EQ(c.meta, wanted);
    c = client({"ping", "svc", "http://h/api", "--meta", "zone=a"});
    EXPECT_EQ(c.args, (std::vector<std::string>{"svc", "http://h/api"})) << join(c.args);
    EXPECT_EQ(c.meta, (std::map<std::string, std::string>{{"zone", "a"}}));
    c = client({"locate", "--meta", "zone=b", "billing.*"});
    EXPECT_EQ(c.args, (std::vector<std::string>{"billing.*"})) << join(c.args);
    EXPECT_EQ(c.meta, (std::map<std::string, std::string>{{"zone", "b"}}));
    c = client({"watch", "--meta", "zone=c", "billing.*", "--meta", "tier=gold"});
    EXPECT_EQ(c.args, (std::vector<std::string>{"billing.*"})) << join(c.args);
    EXPECT_EQ(c.meta, (std::map<std::string, std::string>{{"zone", "c"}, {"tier", "gold"}}));
}

TEST(CommandLine, WatchWaitsThirtySecondsUnlessTold) {
    client_command c = client({"watch", "billing.*"});
    EXPECT_EQ(c.wait, std::chrono::seconds(30));
    EXPECT_FALSE(c.json);
    c = client({"watch", "--wait", "600", "--json", "billing.*"});
    EXPECT_EQ(c.wait, std::chrono::seconds(600));
    EXPECT_TRUE(c.json);
    EXPECT_EQ(client({"watch", "--wait=1", "x"}).wait, std::chrono::seconds(1));
}

TEST(CommandLine, SubcommandEnvironmentAndCommandLineWins) {
    const env_map env{{"SERVREG_REGISTRY", "http://env:1/api"},
                      {"SERVREG_API_TOKEN", "env-tok"},
                      {"SERVREG_PORT", "bad"}};
    client_command c = client({"list"}, env);
    EXPECT_EQ(c.registry, "http://env:1/api");
    EXPECT_EQ(c.api_token.value_or(""), "env-tok");
    c = client({"list", "--registry", "http://cli:2/api", "--api-token", "cli-tok"}, env);
    EXPECT_EQ(c.registry, "http://cli:2/api");
    EXPECT_EQ(c.api_token.value_or(""), "cli-tok");
}

TEST(CommandLine, SubcommandBadUsage) {
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases{
        // Two arguments are NAME URL: a HOST without its PORT is no URL.
        {{"ping", "svc", "h"}, "'h' is not a URL (http:// or https://); expected NAME HOST PORT"},
        {{"ping", "svc", "ftp://h/api"}, "'ftp://h/api' is not a URL"},
        {{"ping"}, "expected NAME HOST PORT or NAME URL, got 0 arguments"},
        {{"ping", "svc"}, "expected NAME HOST PORT or NAME URL, got 1 argument"},
        {{"ping", "svc", "http://h/api", "1"}, "HOST 'http://h/api' is a URL; expected NAME HOST"},
        {{"drain", "HTTP://h/api", "1"}, "HOST 'HTTP://h/api' is a URL; expected HOST PORT or URL"},
        {{"ping", "svc", "h", "1", "extra"}, "'extra': unexpected argument"},
        {{"ping", "svc", "h", "http"}, "PORT 'http' is not a port number"},
        {{"ping", "svc", "h", "0"}, "PORT '0'"},
        {{"ping", "svc", "h", "70000"}, "PORT '70000'"},
        {{"unregister", "h"}, "'h' is not a URL (http:// or https://); expected HOST PORT or URL"},
        {{"unregister"}, "expected HOST PORT or URL, got 0 arguments"},
        {{"unregister", "h", "1", "x"}, "'x': unexpected argument"},
        {{"drain"}, "expected HOST PORT or URL, got 0 arguments"},
        {{"drain", "h"}, "'h' is not a URL"},
        {{"drain", "h", "0"}, "PORT '0'"},
        {{"undrain", "h", "1", "x"}, "'x': unexpected argument"},
        {{"undrain", "h", "x"}, "PORT 'x'"},
        {{"ping", "svc", "h", "1", "x", "y"}, "'x': unexpected argument"},
        {{"ping", "--meta", "zone", "svc", "h", "1"}, "--meta: 'zone' is not KEY=VALUE"},
        {{"ping", "--meta", "=a", "svc", "h", "1"}, "--meta: '=a' has an empty key"},
        {{"ping", "--meta", "", "svc", "h", "1"}, "--meta: '' is not KEY=VALUE"},
        {{"locate", "--meta", "a=1", "--meta", "a=2", "x"}, "--meta: key 'a' given twice"},
        {{"locate", "x", "--meta"}, "--meta"},
        {{"list", "--meta", "a=1"}, "--meta: unknown option"},
        {{"unregister", "--meta", "a=1", "h", "1"}, "--meta: unknown option"},
        {{"drain", "--meta", "a=1", "h", "1"}, "--meta: unknown option"},
        {{"unregister", "h", "x"}, "PORT 'x'"},
        {{"unregister", "h", "-5"}, "PORT '-5'"},
        {{"locate"}, "expected PATTERN, got 0 arguments"},
        {{"locate", "a", "b"}, "'b': unexpected argument"},
        {{"list", "a", "b"}, "'b': unexpected argument"},
        {{"ping", "--bogus", "svc", "h", "1"}, "--bogus: unknown option"},
        {{"locate", "x", "--port", "5"}, "--port: unknown option"},
        {{"list", "--registry", "ftp://x"}, "--registry: not an http:// or https:// URL"},
        {{"list", "--registry"}, "--registry"},
        {{"list", "--api-token", ""}, "--api-token: must not be empty"},
        {{"watch"}, "expected PATTERN, got 0 arguments"},
        {{"watch", "a", "b"}, "'b': unexpected argument"},
        {{"watch", "--wait", "0", "a"}, "--wait: '0' is not a number of seconds (1-600)"},
        {{"watch", "--wait", "601", "a"}, "--wait: '601'"},
        {{"watch", "--wait", "1.5", "a"}, "--wait: '1.5'"},
        {{"watch", "--wait", "", "a"}, "--wait: ''"},
        {{"watch", "a", "--wait"}, "--wait"},
        {{"watch", "--meta", "k", "a"}, "--meta: 'k' is not KEY=VALUE"},
        {{"locate", "--wait", "5", "a"}, "--wait: unknown option"},
    };
    for (const auto& [args, what] : cases) {
        auto e = exit_of(args);
        EXPECT_EQ(e.status, 2) << "args=" << join(args) << " message=" << e.message;
        EXPECT_NE(e.message.find(what), std::string::npos)
            << "args=" << join(args) << " message=" << e.message << " lacks " << what;
        EXPECT_NE(e.message.find("usage: servreg " + args.front()), std::string::npos)
            << "args=" << join(args) << " message=" << e.message;
    }
    const std::vector<std::pair<env_map, std::string>> env_cases{
        {{{"SERVREG_REGISTRY", "reg:5000"}}, "SERVREG_REGISTRY: not an http:// or https:// URL"},
        {{{"SERVREG_API_TOKEN", ""}}, "SERVREG_API_TOKEN: must not be empty"}};
    for (const auto& [env, what] : env_cases) {
        auto e = exit_of({"list"}, env);
        EXPECT_EQ(e.status, 2) << "env=" << env.begin()->first << " message=" << e.message;
        EXPECT_NE(e.message.find(what), std::string::npos)
            << "env=" << env.begin()->first << " message=" << e.message << " lacks " << what;
    }
}

TEST(CommandLine, SubcommandHelp) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> verbs{
        {"ping", {"NAME HOST PORT | NAME URL", "URL", "--meta KEY=VALUE"}},
        {"locate", {"PATTERN", "--meta KEY=VALUE"}},
        {"list", {"PATTERN"}},
        {"unregister", {"HOST", "PORT", "URL"}},
        {"drain", {"HOST", "PORT", "URL"}},
        {"undrain", {"HOST", "PORT", "URL"}},
        {"watch", {"PATTERN", "--meta KEY=VALUE", "--wait SECONDS", "SIGINT", "exit status 3"}}};
    for (const auto& [verb, arguments] : verbs) {
        auto e = exit_of({verb, "--help"});
        EXPECT_EQ(e.status, 0) << "verb=" << verb << " message=" << e.message;
        std::vector<std::string> wanted = arguments;
        wanted.insert(wanted.end(), {"servreg " + verb, "--registry", "--api-token", "--json"});
        for (const auto& w : wanted)
            EXPECT_NE(e.message.find(w), std::string::npos)
                << "verb=" << verb << " help lacks " << w << ":\n"
                << e.message;
        const bool meta = verb == "ping" || verb == "locate" || verb == "watch";
        EXPECT_EQ(e.message.find("--meta") != std::string::npos, meta)
            << "verb=" << verb << " help:\n"
            << e.message;
        EXPECT_EQ(e.message.find("--max-connections"), std::string::npos)
            << "verb=" << verb << " shows daemon options:\n"
            << e.message;
    }
}

TEST(CommandLine, ProcessEnvReadsTheEnvironment) {
    const std::string name = "SERVREG_TEST_PROCESS_ENV_" + std::to_string(::getpid());
    EXPECT_FALSE(servreg::config::process_env(name).has_value());
    ::setenv(name.c_str(), "value with spaces", 1);
    EXPECT_EQ(servreg::config::process_env(name).value_or("<unset>"), "value with spaces");
    ::unsetenv(name.c_str());
}

TEST(CommandLine, DbTimeoutTakesSecondsWithUpToThreeDecimals) {
    using std::chrono::milliseconds;
    EXPECT_EQ(daemon({}).db_timeout, milliseconds(2000));
    const std::vector<std::pair<std::string, milliseconds>> cases{
        {"2", milliseconds(2000)},      {"0.5", milliseconds(500)},
        {"1.25", milliseconds(1250)},   {"0.1", milliseconds(100)},
        {"600", milliseconds(600'000)}, {"10.125", milliseconds(10'125)}};
    for (const auto& [value, want] : cases) {
        EXPECT_EQ(daemon({"--db-timeout", value}).db_timeout, want) << "value=" << value;
        EXPECT_EQ(daemon({}, {{"SERVREG_DB_TIMEOUT", value}}).db_timeout, want)
            << "value=" << value;
    }
    EXPECT_EQ(daemon({"--db-timeout", "3"}, {{"SERVREG_DB_TIMEOUT", "5"}}).db_timeout,
              milliseconds(3000));
    for (const std::string bad :
         {"0", "0.05", "600.001", "-1", "", "2s", "1.", ".5", "1.2345", "1,5", "abc"}) {
        expect_refused({"--db-timeout", bad}, "--db-timeout: '" + bad + "'");
        expect_refused({}, "SERVREG_DB_TIMEOUT: '" + bad + "'", {{"SERVREG_DB_TIMEOUT", bad}});
    }
}

TEST(CommandLine, NoRestartGraceFromTheCommandLineOrTheEnvironment) {
    EXPECT_TRUE(daemon({}).restart_grace);
    EXPECT_FALSE(daemon({"--no-restart-grace"}).restart_grace);
    for (const std::string v : {"1", "true", "yes"})
        EXPECT_FALSE(daemon({}, {{"SERVREG_NO_RESTART_GRACE", v}}).restart_grace) << "value=" << v;
    for (const std::string v : {"0", "false", "no", ""})
        EXPECT_TRUE(daemon({}, {{"SERVREG_NO_RESTART_GRACE", v}}).restart_grace) << "value=" << v;
    EXPECT_FALSE(daemon({"--no-restart-grace"}, {{"SERVREG_NO_RESTART_GRACE", "0"}}).restart_grace);
    expect_refused({}, "SERVREG_NO_RESTART_GRACE: 'maybe'",
                   {{"SERVREG_NO_RESTART_GRACE", "maybe"}});
    expect_refused({"--no-restart-grace=maybe"}, "--no-restart-grace");
}
