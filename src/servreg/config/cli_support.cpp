// The helpers that the daemon's and the client commands' parsers share.
#include "servreg/config/cli_support.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>
#include <system_error>

namespace servreg::config {

std::string lower(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
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

bool is_http_url(std::string_view s) {
    const std::string url = lower(s);
    return url.starts_with("http://") || url.starts_with("https://");
}

std::string in_quotes(std::string_view s) {
    return "'" + std::string(s) + "'";
}

std::string trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
}

std::string one_line(std::string s) {
    std::ranges::replace(s, '\n', ' ');
    return trimmed(std::move(s));
}

std::optional<std::string> unknown_option(const CLI::App& app) {
    for (const std::string& arg : app.remaining()) {
        if (arg.size() > 1 && arg.front() == '-' && arg != "--")
            return arg.substr(0, arg.find('=')) + ": unknown option";
    }
    return std::nullopt;
}

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

}  // namespace servreg::config
