// Parsing of the command-line client's subcommands (SPEC section 8): each verb's forms of
// positional arguments, its options, and the SERVREG_REGISTRY and SERVREG_API_TOKEN variables.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "servreg/config/cli_support.h"
#include "servreg/config/command_line.h"

namespace servreg::config {
namespace {

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
    bool wait = false;                                 // takes --wait SECONDS
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
        {"watch",
         "Print the alive instances of the services matching PATTERN, then again at every "
         "change, until SIGINT or SIGTERM (exit status 0); exit status 3 also when the "
         "registry goes away while watching",
         "PATTERN",
         {{"PATTERN"}},
         true,
         true},
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
    std::string wait;
    CLI::Option* wait_option = nullptr;
    if (spec.wait) {
        wait_option =
            app.add_option("--wait", wait,
                           "how long the registry may hold each call while nothing changes "
                           "(1-600)")
                ->type_name("SECONDS")
                ->default_str(std::to_string(command.wait.count()));
        app.footer(
            "Each change prints a line with the time (UTC) and the answer's index, then the\n"
            "table that servreg locate prints; with --json, one line per change:\n"
            "{\"index\": N, \"instances\": [...]}. Standard output is flushed after each.");
    }
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
    if (wait_option != nullptr && wait_option->count() > 0) {
        auto seconds = parse_number(wait, 1, 600);
        if (!seconds)
            return usage(prefix + ": --wait: " + in_quotes(wait) +
                         " is not a number of seconds (1-600)");
        command.wait = std::chrono::seconds(*seconds);
    }

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

std::optional<parse_result> parse_client_command(int argc, const char* const* argv,
                                                 const env_lookup& env) {
    if (argc < 2) return std::nullopt;
    for (const verb_spec& spec : verbs())
        if (spec.verb == argv[1]) return parse_client(spec, argc - 1, argv + 1, env);
    return std::nullopt;
}

}  // namespace servreg::config
