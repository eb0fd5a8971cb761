// The reference that registry::glob is judged by, in the tests and in the glob fuzz target:
// CPython's fnmatch.translate for a bracket expression, and re's reading of the character set
// it emits, transcribed line by line from Lib/fnmatch.py and sre_parse.
#pragma once

#include <array>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// The fuzz target defines this to keep coverage feedback out of the reference.
#ifndef SERVREG_REFERENCE
#define SERVREG_REFERENCE
#endif

namespace servreg::test::fnmatch {

// What translate emits for a bracket expression: a class that matches nothing (`(?!)`), any
// character (`.`), or a set `[body]`.
struct bracket {
    enum kind_t { never, any, set } kind = never;
    std::string body;  // set: the text between `[` and `]` of the regex, in re's syntax
};

// translate's bracket handling: `pat[i, j)` is what lies between `[` and the `]` that closes it.
SERVREG_REFERENCE inline bracket translate_bracket(std::string_view pat, std::size_t i,
                                                   std::size_t j) {
    std::string stuff;
    const auto escaped = [](std::string_view s, bool hyphens) {
        std::string out;
        for (char c : s) {
            if (c == '\\' || (hyphens && c == '-')) out += '\\';
            out += c;
        }
        return out;
    };
    std::string_view inner = pat.substr(i, j - i);
    if (inner.find('-') == std::string_view::npos) {
        stuff = escaped(inner, false);
    } else {
        std::vector<std::string> chunks;
        std::size_t k = pat[i] == '!' ? i + 2 : i + 1;
        for (;;) {
            // pat.find('-', k, j)
            std::size_t found = std::string_view::npos;
            for (std::size_t m = k; m < j; ++m) {
                if (pat[m] == '-') {
                    found = m;
                    break;
                }
            }
            if (found == std::string_view::npos) break;
            chunks.emplace_back(pat.substr(i, found - i));
            i = found + 1;
            k = found + 3;
        }
        std::string chunk(pat.substr(i, j - i));
        if (!chunk.empty()) {
            chunks.push_back(chunk);
        } else {
            chunks.back() += '-';
        }
        for (std::size_t m = chunks.size() - 1; m > 0; --m) {
            if (static_cast<unsigned char>(chunks[m - 1].back()) >
                static_cast<unsigned char>(chunks[m][0])) {
                chunks[m - 1] =
                    chunks[m - 1].substr(0, chunks[m - 1].size() - 1) + chunks[m].substr(1);
                chunks.erase(chunks.begin() + static_cast<std::ptrdiff_t>(m));
            }
        }
        for (std::size_t m = 0; m < chunks.size(); ++m) {
            if (m > 0) stuff += '-';
            stuff += escaped(chunks[m], true);
        }
    }
    // re.sub(r'([&~|])', r'\\\1', stuff)
    std::string set_ops;
    for (char c : stuff) {
        if (c == '&' || c == '~' || c == '|') set_ops += '\\';
        set_ops += c;
    }
    stuff = set_ops;
    if (stuff.empty()) return {bracket::never, {}};
    if (stuff == "!") return {bracket::any, {}};
    if (stuff[0] == '!') return {bracket::set, "^" + stuff.substr(1)};
    if (stuff[0] == '^' || stuff[0] == '[') return {bracket::set, "\\" + stuff};
    return {bracket::set, stuff};
}

// The bytes the set `[body]` of Python's re accepts, following sre_parse: `^` first negates,
// `\x` is x, `a-b` is a range. Throws std::logic_error on what translate never emits (a
// trailing backslash, an empty range).
SERVREG_REFERENCE inline std::array<bool, 256> set_members(const std::string& body) {
    std::size_t p = 0;
    const auto next = [&] {
        if (body[p] == '\\') {
            if (p + 1 >= body.size()) {
                throw std::logic_error("reference: a trailing backslash in a set: " + body);
            }
            p += 2;
            return static_cast<unsigned char>(body[p - 1]);
        }
        return static_cast<unsigned char>(body[p++]);
    };
    std::array<bool, 256> members{};
    const bool negate = !body.empty() && body[0] == '^';
    if (negate) ++p;
    while (p < body.size()) {
        const unsigned char lo = next();
        unsigned char hi = lo;
        if (p + 1 < body.size() && body[p] == '-') {
            ++p;
            hi = next();
            if (hi < lo)
                throw std::logic_error("reference: translate emitted an empty range: " + body);
        }
        for (unsigned c = lo; c <= hi; ++c) members[c] = true;
    }
    if (negate) {
        for (auto& m : members) m = !m;
    }
    return members;
}

}  // namespace servreg::test::fnmatch
