// Validation of ping and locate parameters (SPEC section 4). Lengths are in bytes, the way the
// index and the database columns see them; characters are checked as UTF-8 code points.
#include "servreg/registry/validation.h"

#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>

namespace servreg::registry {

namespace {

constexpr std::size_t max_length = 255;

std::optional<std::string> check_length(std::string_view what, std::string_view value) {
    if (!value.empty() && value.size() <= max_length) return std::nullopt;
    bool ascii = true;
    for (char c : value) ascii = ascii && static_cast<unsigned char>(c) < 0x80;
    // For non-ASCII text a byte count read as characters would puzzle the caller.
    return std::string(what) +
           (ascii ? " must be 1 to 255 characters, got "
                  : " must be 1 to 255 bytes in UTF-8, got ") +
           std::to_string(value.size());
}

// The code point starting at `value[i]` and its length in bytes; a byte that does not start
// a well-formed sequence stands for itself (it cannot come from JSON anyway).
struct code_point {
    std::uint32_t value;
    std::size_t length;
};

code_point decode_at(std::string_view value, std::size_t i) {
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(value[k]); };
    const unsigned char lead = byte(i);
    std::size_t length = 1;
    std::uint32_t cp = lead;
    if (lead >= 0xC2 && lead <= 0xDF) {
        length = 2;
        cp = lead & 0x1Fu;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        cp = lead & 0x0Fu;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        cp = lead & 0x07u;
    }
    if (length == 1 || i + length > value.size()) return {lead, 1};
    for (std::size_t k = 1; k < length; ++k) {
        if ((byte(i + k) & 0xC0u) != 0x80u) return {lead, 1};
        cp = (cp << 6) | (byte(i + k) & 0x3Fu);
    }
    return {cp, length};
}

// Unicode general category Cc: C0, DEL and C1.
bool is_control(std::uint32_t cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

// White_Space code points that are not controls (the controls are caught anyway).
bool is_space(std::uint32_t cp) {
    return cp == 0x20 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

std::string describe(std::uint32_t cp, std::size_t offset) {
    char buf[48];
    // A single byte prints as the byte the caller sent; anything longer as its code point.
    if (cp < 0x80) {
        std::snprintf(buf, sizeof buf, "found 0x%02X at offset %zu", static_cast<unsigned>(cp),
                      offset);
    } else {
        std::snprintf(buf, sizeof buf, "found U+%04X at offset %zu", static_cast<unsigned>(cp),
                      offset);
    }
    return buf;
}

template <class Reject>
std::optional<std::string> check_characters(std::string_view what, std::string_view value,
                                            std::string_view rule, Reject reject) {
    for (std::size_t i = 0; i < value.size();) {
        const auto [cp, length] = decode_at(value, i);
        // A lone byte >= 0x80 is not a code point: leave it alone rather than call it C1.
        if (length > 1 || cp < 0x80) {
            if (reject(cp)) {
                return std::string(what) + " must not contain " + std::string(rule) + " (" +
                       describe(cp, i) + ")";
            }
        }
        i += length;
    }
    return std::nullopt;
}

}  // namespace

std::optional<std::string> check_name(std::string_view name) {
    if (auto bad = check_length("name", name)) return bad;
    return check_characters("name", name, "control characters", is_control);
}

std::optional<std::string> check_host(std::string_view host) {
    if (auto bad = check_length("host", host)) return bad;
    return check_visible("host", host);
}

std::optional<std::string> check_visible(std::string_view what, std::string_view value) {
    return check_characters(what, value, "whitespace or control characters",
                            [](std::uint32_t cp) { return is_control(cp) || is_space(cp); });
}

std::optional<std::string> check_pattern(std::string_view pattern) {
    // Any byte may appear in a pattern: one that no name can hold simply matches nothing.
    return check_length("pattern", pattern);
}

std::string_view param_value::type_name() const noexcept {
    if (kind == type::string) return "a string";
    if (kind == type::integer) return "a number";
    return text;
}

std::optional<std::string> take_string(const param_value& value, std::string_view what,
                                       std::optional<std::string> (*check)(std::string_view),
                                       std::string& out) {
    if (value.kind != param_value::type::string) {
        return std::string(what) + " must be a string, got " + std::string(value.type_name());
    }
    if (auto why = check(value.text)) return why;
    out = value.text;
    return std::nullopt;
}

std::optional<std::string> take_count(const param_value& value, std::string_view what,
                                      std::uint64_t max, std::uint64_t& out) {
    const auto rule = [&] {
        return std::string(what) + " must be an integer from 0 to " + std::to_string(max) +
               ", got ";
    };
    if (value.kind != param_value::type::integer) return rule() + std::string(value.type_name());
    const std::string_view text = value.text;
    std::uint64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || end != text.data() + text.size() || n > max) {
        return rule() + std::string(text.substr(0, 32));
    }
    out = n;
    return std::nullopt;
}

std::optional<std::string> take_port(const param_value& value, std::uint16_t& out) {
    static constexpr std::string_view rule = "port must be an integer from 1 to 65535";
    const std::string_view text = value.text;
    const bool digits_only =
        !text.empty() && text.find_first_not_of("0123456789") == std::string_view::npos;
    if (value.kind == param_value::type::string) {
        if (!digits_only || text.size() > 5) {
            return std::string(rule) + " (or a string of its decimal digits), got \"" +
                   std::string(text.substr(0, 32)) + "\"";
        }
    } else if (value.kind != param_value::type::integer) {
        return std::string(rule) + ", got " + std::string(value.type_name());
    }
    // An integer's text may be negative or longer than any port; either is out of range.
    unsigned port = 0;
    if (digits_only && text.size() <= 5)
        std::from_chars(text.data(), text.data() + text.size(), port);
    if (port < 1 || port > 65535) {
        const bool quoted = value.kind == param_value::type::string;
        return std::string(rule) + ", got " + (quoted ? "\"" : "") + std::string(text) +
               (quoted ? "\"" : "");
    }
    out = static_cast<std::uint16_t>(port);
    return std::nullopt;
}

std::optional<std::string> take_meta(const param_value& value, std::string_view what,
                                     metadata& out) {
    if (value.kind != param_value::type::object) {
        return std::string(what) + " must be an object of strings, got " +
               std::string(value.type_name());
    }
    out.clear();
    if (value.members.size() > max_meta_keys) {
        return std::string(what) + " must have at most 32 keys, got " +
               std::to_string(value.members.size());
    }
    for (const auto& [key, v] : value.members) {
        if (v.kind != param_value::type::string) {
            return std::string(what) + ": the value of \"" + std::string(key.substr(0, 80)) +
                   "\" must be a string, got " + std::string(v.type_name());
        }
        out.emplace_back(key, v.text);
    }
    return normalize_metadata(out, what);
}

std::optional<std::string> take_url(const param_value& value, address& out) {
    if (value.kind != param_value::type::string) {
        return "url must be a string, got " + std::string(value.type_name());
    }
    auto at = address_of_url(value.text);
    if (!at) return std::move(at.error());
    out = std::move(*at);
    return std::nullopt;
}

}  // namespace servreg::registry
