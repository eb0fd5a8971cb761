// Parsing of the command line and the SERVREG_* environment into the daemon's options or a
// client command (SPEC sections 1 and 8). Nothing here prints or exits: it returns what to do.
#include "servreg/config/command_line.h"

#include <fcntl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "servreg/config/cli_support.h"
#include "servreg/version.h"

namespace servreg::config {
namespace {

// "api-token" -> "SERVREG_API_TOKEN"
std::string env_name(std::string_view option) {
    std::string out = "SERVREG_";
    for (unsigned char c : option)
        out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    return out;
}

// "2", "0.5", "1.25": seconds with at most three decimals, as milliseconds within [min, max].
std::optional<std::chrono::milliseconds> parse_seconds(std::string_view s,
                                                       std::chrono::milliseconds min,
                                                       std::chrono::milliseconds max) {
    const auto dot = s.find('.');
    const std::string_view whole = s.substr(0, dot);
    std::string fraction(dot == s.npos ? std::string_view{} : s.substr(dot + 1));
    if (dot != s.npos && (fraction.empty() || fraction.size() > 3)) return std::nullopt;
    const auto seconds = parse_number(whole, 0, 86'400);
    fraction.resize(3, '0');
    const auto millis = parse_number(fraction, 0, 999);
    if (!seconds || !millis) return std::nullopt;
    const std::chrono::milliseconds value{static_cast<long long>(*seconds * 1000 + *millis)};
    if (value < min || value > max) return std::nullopt;
    return value;
}

std::optional<bool> parse_bool(std::string_view s) {
    std::string v = lower(s);
    if (v == "1" || v == "true" || v == "yes" || v == "on") return true;
    if (v.empty() || v == "0" || v == "false" || v == "no" || v == "off") return false;
    return std::nullopt;
}

// Tried once at start-up so that an unwritable log is a usage error, not a failure later.
// O_NONBLOCK keeps a FIFO without a reader from hanging the start.
std::optional<std::string> check_appendable(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0)
        return "cannot open " + in_quotes(path) +
               " for appending: " + std::generic_category().message(errno);
    ::close(fd);
    return std::nullopt;
}

unsigned default_threads() {
    return std::clamp(std::thread::hardware_concurrency(), 1U, 256U);
}

// One daemon option that takes a value: how CLI11 shows it and how its value, from the command
// line or the environment, is checked and stored. `apply` returns the reason for a refusal.
struct setting {
    std::string name;  // long option without the dashes
    std::string type;
    std::string description;
    std::string default_text;
    std::function<std::optional<std::string>(const std::string&, options&)> apply;
    std::string value{};
    CLI::Option* option = nullptr;
};

std::optional<std::string> not_empty(const std::string& v) {
    if (v.empty()) return "must not be empty";
    return std::nullopt;
}

std::vector<setting> daemon_settings() {
    std::vector<setting> s;
    s.push_back({"host", "ADDR", "address to bind: IPv4, IPv6 literal or host name", "127.0.0.1",
                 [](const std::string& v, options& o) {
                     o.host = v;
                     return not_empty(v);
                 }});
    s.push_back({"port", "N", "TCP port; 0 picks a free port", "5000",
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     auto n = parse_number(v, 0, 65535);
                     if (!n) return in_quotes(v) + " is not a port number (0-65535)";
                     o.port = static_cast<std::uint16_t>(*n);
                     return std::nullopt;
                 }});
    s.push_back({"dburl", "URL",
                 "database, as an SQLAlchemy-style URL: sqlite:///relative.db, "
                 "sqlite:////absolute.db, postgresql://user:password@host:port/db, "
                 "mysql://user:password@host:port/db",
                 "sqlite:///servreg.db",
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     auto target = translate_db_url(v);
                     if (!target) return target.error();
                     o.dburl = v;
                     o.database = std::move(*target);
                     return std::nullopt;
                 }});
    s.push_back({"accesslog", "PATH", "access log file; - for stdout (default: none)", "",
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     if (v.empty()) return "must not be empty (use - for stdout)";
                     if (v != "-")
                         if (auto error = check_appendable(v)) return error;
                     o.accesslog = v;
                     return std::nullopt;
                 }});
    s.push_back({"ttl", "SECONDS", "an instance is alive while its last ping is at most this old",
                 "60", [](const std::string& v, options& o) -> std::optional<std::string> {
                     auto n = parse_number(v, 1, 31'536'000);
                     if (!n) return in_quotes(v) + " is not a number of seconds (1-31536000)";
                     o.ttl = std::chrono::seconds(*n);
                     return std::nullopt;
                 }});
    s.push_back({"threads", "N", "I/O threads", std::to_string(default_threads()),
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     auto n = parse_number(v, 1, 256);
                     if (!n) return in_quotes(v) + " is not a number of threads (1-256)";
                     o.threads = static_cast<unsigned>(*n);
                     return std::nullopt;
                 }});
    s.push_back({"log-level", "LEVEL", "trace, debug, info, warn or error", "info",
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     static constexpr std::array<std::pair<std::string_view, log_level>, 5> levels{
                         {{"trace", log_level::trace},
                          {"debug", log_level::debug},
                          {"info", log_level::info},
                          {"warn", log_level::warn},
                          {"error", log_level::error}}};
                     auto it = std::ranges::find(levels, lower(v),
                                                 &std::pair<std::string_view, log_level>::first);
                     if (it == levels.end())
                         return in_quotes(v) + " is not one of trace, debug, info, warn, error";
                     o.level = it->second;
                     return std::nullopt;
                 }});
    s.push_back({"api-token", "TOKEN",
                 "when set, ping, unregister, drain and undrain need header X-Api-Token: TOKEN", "",
                 [](const std::string& v, options& o) {
                     o.api_token = v;
                     return not_empty(v);  // and never quoted back: it is a secret
                 }});
    s.push_back({"max-connections", "N", "open connections at most", "10000",
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     auto n = parse_number(v, 1, 1'000'000);
                     if (!n) return in_quotes(v) + " is not a number of connections (1-1000000)";
                     o.limits.max_connections = *n;
                     return std::nullopt;
                 }});
    s.push_back({"db-timeout", "SECONDS", "deadline of every database round trip", "2",
                 [](const std::string& v, options& o) -> std::optional<std::string> {
                     using std::chrono::milliseconds;
                     auto t = parse_seconds(v, milliseconds(100), milliseconds(600'000));
                     if (!t) return in_quotes(v) + " is not a number of seconds (0.1-600)";
                     o.db_timeout = *t;
                     return std::nullopt;
                 }});
    return s;
}

parse_result parse_daemon(int argc, const char* const* argv, const env_lookup& env) {
    CLI::App app{"servreg: a small, fast service registry (JSON-RPC 2.0 over HTTP at /api)",
                 "servreg"};
    configure(app);
    std::vector<setting> settings = daemon_settings();
    for (setting& s : settings)
        s.option = app.add_option("--" + s.name, s.value, s.description)
                       ->type_name(s.type)
                       ->default_str(s.default_text);
    bool strict = false;
    bool no_grace = false;
    bool version = false;
    CLI::Option* strict_option =
        app.add_flag("--strict-jsonrpc", strict, "reply with exactly one of result and error");
    CLI::Option* grace_option = app.add_flag("--no-restart-grace", no_grace,
                                             "no grace for the instances alive before a downtime");
    app.add_flag("--version", version, "print the version and exit");
    app.footer(
        "Every option can also be set in the environment as SERVREG_<OPTION> (SERVREG_DBURL,\n"
        "SERVREG_API_TOKEN, SERVREG_STRICT_JSONRPC=1, ...); the command line wins.\n\n"
        "Client commands (see servreg COMMAND --help):\n"
        "  servreg ping NAME HOST PORT      servreg locate PATTERN\n"
        "  servreg ping NAME URL            servreg list [PATTERN]\n"
        "  servreg unregister HOST PORT     servreg unregister URL\n"
        "  servreg drain HOST PORT | URL    servreg undrain HOST PORT | URL\n"
        "  servreg watch PATTERN            (prints the answer again at every change)");

    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return early_exit{0, trimmed(app.help())};
    } catch (const CLI::ParseError& e) {
        return early_exit{usage_status, one_line(e.what())};
    }
    if (auto error = leftover(app))
        return early_exit{usage_status,
                          *error +
                              " (servreg takes no arguments; client commands: ping, locate, "
                              "list, unregister, drain, undrain, watch; see servreg --help)"};
    if (version) return early_exit{0, std::string("servreg ") + servreg::version};

    options result;
    result.threads = default_threads();
    bool dburl_given = false;
    for (setting& s : settings) {
        std::optional<std::string> value;
        std::string where;
        if (s.option->count() > 0) {
            value = s.value;
            where = "--" + s.name;
        } else if (auto from_env = env(env_name(s.name))) {
            value = std::move(from_env);
            where = env_name(s.name);
        }
        if (!value) continue;
        if (auto error = s.apply(*value, result))
            return early_exit{usage_status, where + ": " + *error};
        dburl_given = dburl_given || s.name == "dburl";
    }
    if (!dburl_given) {
        // The built-in default always translates; a failure here is a bug worth seeing.
        auto target = translate_db_url(result.dburl);
        if (!target) return early_exit{usage_status, "--dburl: " + target.error()};
        result.database = std::move(*target);
    }
    // The flags: the command line, else their SERVREG_ variable as a boolean.
    for (auto [option, given, variable, out] :
         {std::tuple{strict_option, strict, "SERVREG_STRICT_JSONRPC", &result.strict_jsonrpc},
          std::tuple{grace_option, no_grace, "SERVREG_NO_RESTART_GRACE", &no_grace}}) {
        if (option->count() > 0) {
            *out = given;
        } else if (auto from_env = env(variable)) {
            auto flag = parse_bool(*from_env);
            if (!flag)
                return early_exit{usage_status, std::string(variable) + ": " +
                                                    in_quotes(*from_env) +
                                                    " is not a boolean (1/0, true/false, yes/no)"};
            *out = *flag;
        }
    }
    result.restart_grace = !no_grace;
    return result;
}

}  // namespace

std::optional<std::string> process_env(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
}

parse_result parse_command_line(int argc, const char* const* argv, const env_lookup& env) {
    static const char* const no_arguments[] = {"servreg", nullptr};
    if (argc < 1 || argv == nullptr) {
        argc = 1;
        argv = no_arguments;
    }
    if (auto command = parse_client_command(argc, argv, env)) return std::move(*command);
    return parse_daemon(argc, argv, env);
}

}  // namespace servreg::config