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

#include "servreg/version.h"

namespace servreg::config {
namespace {

constexpr int usage_status = 2;

std::string lower(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

// "api-token" -> "SERVREG_API_TOKEN"
std::string env_name(std::string_view option) {
    std::string out = "SERVREG_";
    for (unsigned char c : option)
        out.push_back(c == '-' ? '_' : static_cast<char>(std::toupper(c)));
    return out;
}

std::optional<unsigned long> parse_number(std::string_view s, unsigned long min,
                                          unsigned long max) {
    unsigned long value = 0;
    if (s.empty() || !std::ranges::all_of(s, [](unsigned char c) { return std::isdigit(c); }))
        return std::nullopt;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    if (ec != std::errc{} || end != s.data() + s.size() || value < min || value > max)
        return std::nullopt;
    return value;
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

// Only the scheme: what tells a URL from a host name, and what the client can reach.
bool is_http_url(std::string_view s) {
    const std::string url = lower(s);
    return url.starts_with("http://") || url.starts_with("https://");
}

std::string in_quotes(std::string_view s) {
    return "'" + std::string(s) + "'";
}

// CLI11's help ends in a newline and some of its errors span lines; early_exit messages do not.
std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string one_line(std::string s) {
    std::ranges::replace(s, '\n', ' ');
    return trimmed(std::move(s));
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

// With allow_extras, CLI11 leaves unknown options and stray arguments to us, so that the
// message names the culprit the way the rest of ours do.
std::optional<std::string> unknown_option(const CLI::App& app) {
    for (const std::string& arg : app.remaining()) {
        if (arg.size() > 1 && arg.front() == '-' && arg != "--")
            return arg.substr(0, arg.find('=')) + ": unknown option";
    }
    return std::nullopt;
}

// An unknown option first, else a stray argument.
std::optional<std::string> leftover(const CLI::App& app) {
    if (auto error = unknown_option(app)) return error;
    for (const std::string& arg : app.remaining()) {
        if (arg == "--") continue;
        return in_quotes(arg) + ": unexpected argument";
    }
    return std::nullopt;
}

void configure(CLI::App& app) {
    app.allow_extras();
    app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
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
        "  servreg drain HOST PORT | URL    servreg undrain HOST PORT | URL");

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
                              "list, unregister, drain, undrain; see servreg --help)"};
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

struct argument_spec {
    std::string_view name;
    std::string_view description;
};

// A subcommand: its positional arguments come in one of its forms (ping: NAME HOST PORT or
// NAME URL), told apart by their count.
struct verb_spec {
    std::string_view verb;
    std::string_view description;
    std::string_view synopsis;                         // the forms, as the usage line shows them
    std::vector<std::vector<std::string_view>> forms;  // argument names; each form its own count
    bool meta = false;                                 // takes --meta KEY=VALUE
};

constexpr std::array<argument_spec, 5> arguments{{
    {"NAME", "service name"},
    {"HOST", "host the instance listens on"},
    {"PORT", "port the instance listens on (1-65535)"},
    {"URL", "the instance's URL, http:// or https://, instead of HOST PORT"},
    {"PATTERN", "glob on service names: * any run, ? one character, [abc], [a-z], [!abc]"},
}};

const argument_spec& argument(std::string_view name) {
    return *std::ranges::find(arguments, name, &argument_spec::name);
}

const std::vector<verb_spec>& verbs() {
    static const std::vector<verb_spec> table{
        {"ping",
         "Tell the registry that service NAME runs at http://HOST:PORT/api, or at URL",
         "NAME HOST PORT | NAME URL",
         {{"NAME", "HOST", "PORT"}, {"NAME", "URL"}},
         true},
        {"locate",
         "List the alive instances of the services matching PATTERN",
         "PATTERN",
         {{"PATTERN"}},
         true},
        {"list",
         "List every known instance, alive or not, of the services matching PATTERN (default *)",
         "[PATTERN]",
         {{}, {"PATTERN"}}},
        {"unregister",
         "Remove the instance at HOST:PORT, or at URL, from the registry",
         "HOST PORT | URL",
         {{"HOST", "PORT"}, {"URL"}}},
        {"drain",
         "Leave the instance at HOST:PORT, or at URL, out of every answer until undrain",
         "HOST PORT | URL",
         {{"HOST", "PORT"}, {"URL"}}},
        {"undrain",
         "Put a drained instance at HOST:PORT, or at URL, back into the answers",
         "HOST PORT | URL",
         {{"HOST", "PORT"}, {"URL"}}},
    };
    return table;
}

std::string usage_line(const verb_spec& spec) {
    return "usage: servreg " + std::string(spec.verb) + " [OPTIONS] " + std::string(spec.synopsis) +
           " (see servreg " + std::string(spec.verb) + " --help)";
}

// CLI11's usage line lists the positionals one after the other; ours shows the forms.
class verb_formatter : public CLI::Formatter {
public:
    explicit verb_formatter(const verb_spec& spec) : spec_(spec) {}
    std::string make_usage(const CLI::App* app, std::string name) const override {
        if (name.empty()) name = app->get_name();
        return get_label("Usage") + ": " + name + " [" + get_label("OPTIONS") + "] " +
               std::string(spec_.synopsis) + "\n";
    }

private:
    const verb_spec& spec_;
};

// "NAME HOST PORT or NAME URL"
std::string expected_arguments(const verb_spec& spec) {
    std::string out;
    for (const auto& form : spec.forms) {
        if (!out.empty()) out += " or ";
        for (std::size_t i = 0; i < form.size(); ++i) out += (i ? " " : "") + std::string(form[i]);
    }
    return out;
}

// The arguments of every form, each once, in the order they come.
std::vector<std::string_view> argument_slots(const verb_spec& spec) {
    std::vector<std::string_view> slots;
    for (const auto& form : spec.forms)
        for (std::string_view name : form)
            if (std::ranges::find(slots, name) == slots.end()) slots.push_back(name);
    return slots;
}

bool in_every_form(const verb_spec& spec, std::string_view name) {
    return std::ranges::all_of(spec.forms, [name](const auto& form) {
        return std::ranges::find(form, name) != form.end();
    });
}

// Checks the value of argument `name`; returns the reason for a refusal.
std::optional<std::string> check_argument(std::string_view name, std::string& value,
                                          const verb_spec& spec) {
    if (name == "PORT") {
        auto port = parse_number(value, 1, 65535);
        if (!port) return "PORT " + in_quotes(value) + " is not a port number (1-65535)";
        value = std::to_string(*port);
    } else if (name == "HOST" && is_http_url(value)) {
        return "HOST " + in_quotes(value) + " is a URL; expected " + expected_arguments(spec);
    } else if (name == "URL") {
        // Only what tells a URL from a HOST; the registry judges the rest.
        if (!is_http_url(value))
            return in_quotes(value) + " is not a URL (http:// or https://); expected " +
                   expected_arguments(spec);
    }
    return std::nullopt;
}

// --meta KEY=VALUE, each key once: a repeated key is refused rather than one of its values
// silently dropped.
std::optional<std::string> read_meta(const std::vector<std::string>& given,
                                     std::map<std::string, std::string>& meta) {
    for (const std::string& item : given) {
        auto equals = item.find('=');
        if (equals == std::string::npos) return "--meta: " + in_quotes(item) + " is not KEY=VALUE";
        if (equals == 0) return "--meta: " + in_quotes(item) + " has an empty key";
        std::string key = item.substr(0, equals);
        if (!meta.emplace(key, item.substr(equals + 1)).second)
            return "--meta: key " + in_quotes(key) + " given twice";
    }
    return std::nullopt;
}

parse_result parse_client(const verb_spec& spec, int argc, const char* const* argv,
                          const env_lookup& env) {
    std::string prefix = "servreg " + std::string(spec.verb);
    CLI::App app{std::string(spec.description), prefix};
    configure(app);
    app.formatter(std::make_shared<verb_formatter>(spec));
    // CLI11 fills the positionals in order, so the given ones are the first `given` slots.
    const std::vector<std::string_view> slots = argument_slots(spec);
    std::vector<std::string> values(slots.size());
    std::vector<CLI::Option*> positionals;
    for (std::size_t i = 0; i < slots.size(); ++i) {
        CLI::Option* option = app.add_option(std::string(slots[i]), values[i],
                                             std::string(argument(slots[i]).description))
                                  ->type_name("");
        // Required for the help's sake; a missing one is reported below, with the count.
        if (in_every_form(spec, slots[i])) option->required();
        positionals.push_back(option);
    }
    client_command command;
    command.verb = spec.verb;
    std::string registry;
    std::string token;
    std::vector<std::string> meta;
    CLI::Option* registry_option =
        app.add_option("--registry", registry,
                       "the registry's JSON-RPC endpoint (also SERVREG_REGISTRY)")
            ->type_name("URL")
            ->default_str(command.registry);
    CLI::Option* token_option =
        app.add_option("--api-token", token, "sent as header X-Api-Token (also SERVREG_API_TOKEN)")
            ->type_name("TOKEN");
    app.add_flag("--json", command.json, "print the registry's JSON reply instead of a table");
    if (spec.meta)
        app.add_option("--meta", meta,
                       spec.verb == "ping"
                           ? "metadata of the instance, repeatable (each key once); replaces "
                             "what the registry holds, which a ping without --meta keeps"
                           : "only instances whose metadata has KEY=VALUE, repeatable (each "
                             "key once)")
            ->type_name("KEY=VALUE")
            ->expected(1)  // one value each time, so that it never takes a positional
            ->allow_extra_args(false)
            ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);

    auto usage = [&spec](const std::string& problem) {
        return early_exit{usage_status, problem + "\n" + usage_line(spec)};
    };
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp&) {
        return early_exit{0, trimmed(app.help())};
    } catch (const CLI::RequiredError&) {
        // Only positionals are required; the count check below words it better.
    } catch (const CLI::ParseError& e) {
        return usage(prefix + ": " + one_line(e.what()));
    }
    // An unknown option (whose value CLI11 took for an argument) before the count.
    if (auto error = unknown_option(app)) return usage(prefix + ": " + *error);
    const std::size_t given =
        std::ranges::count_if(positionals, [](const CLI::Option* o) { return o->count() > 0; });
    const std::size_t longest =
        std::ranges::max(spec.forms, {}, &std::vector<std::string_view>::size).size();
    // The first argument too many, before any stray one that CLI11 left over.
    if (given > longest)
        return usage(prefix + ": " + in_quotes(values[longest]) + ": unexpected argument");
    if (auto error = leftover(app)) return usage(prefix + ": " + *error);
    auto form = std::ranges::find(spec.forms, given, &std::vector<std::string_view>::size);
    if (form == spec.forms.end())
        return usage(prefix + ": expected " + expected_arguments(spec) + ", got " +
                     std::to_string(given) + (given == 1 ? " argument" : " arguments"));
    for (std::size_t i = 0; i < given; ++i) {
        if (auto error = check_argument((*form)[i], values[i], spec))
            return usage(prefix + ": " + *error);
        command.args.push_back(std::move(values[i]));
    }
    if (auto error = read_meta(meta, command.meta)) return usage(prefix + ": " + *error);

    // The option when given, else its SERVREG_ variable; `where` names the one used.
    std::string where;
    const auto option_or_env = [&](const CLI::Option* option, const std::string& value,
                                   const char* variable) -> std::optional<std::string> {
        where = option->count() > 0 ? option->get_name() : variable;
        if (option->count() > 0) return value;
        return env(variable);
    };
    if (auto value = option_or_env(registry_option, registry, "SERVREG_REGISTRY")) {
        // Not quoted back: a URL may carry credentials.
        if (!is_http_url(*value)) return usage(where + ": not an http:// or https:// URL");
        command.registry = std::move(*value);
    }
    if (auto value = option_or_env(token_option, token, "SERVREG_API_TOKEN")) {
        if (value->empty()) return usage(where + ": must not be empty");
        command.api_token = std::move(value);
    }
    return command;
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
    if (argc >= 2) {
        for (const verb_spec& spec : verbs())
            if (spec.verb == argv[1]) return parse_client(spec, argc - 1, argv + 1, env);
    }
    return parse_daemon(argc, argv, env);
}

}  // namespace servreg::config
