// Fuzzes registry::glob against a reference written from CPython's Lib/fnmatch.py (translate)
// and re's parser for character sets (tests/fnmatch_reference.h, which the glob tests use too),
// matched here by dynamic programming, so that a
// wrong answer stops the run as surely as a crash. Also checks literal_prefix() and
// is_literal(), which the index relies on to narrow its scans.
//
// Input: the pattern, a newline, the name (bytes, read as latin-1 the way fnmatch would).
// Each pattern is also matched against its own text and against the name cut short.
#include <array>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "check.h"
#include "servreg/registry/glob.h"

// The reference is not what is being fuzzed: no coverage feedback from it, which would only
// slow the run and steer it towards the reference's branches.
#define SERVREG_REFERENCE __attribute__((no_sanitize("coverage")))

#include "fnmatch_reference.h"  // after the macro, which it reads

namespace {

using servreg::fuzz::fail;
using servreg::registry::glob;

// One element of what fnmatch.translate emits.
struct element {
    enum kind_t { star, any, never, literal, set } kind = literal;
    unsigned char c = 0;
    std::string body;  // set: the text between `[` and `]` of the regex, in re's syntax
    std::array<bool, 256> members{};  // set: body evaluated for every byte, once
};

element make(element::kind_t kind, unsigned char c = 0, std::string body = {}) {
    element e;
    e.kind = kind;
    e.c = c;
    e.body = std::move(body);
    return e;
}

// The element translate makes of the bracket expression `pat[i, j)`.
SERVREG_REFERENCE element translate_class(std::string_view pat, std::size_t i, std::size_t j) {
    auto b = servreg::test::fnmatch::translate_bracket(pat, i, j);
    switch (b.kind) {
        case servreg::test::fnmatch::bracket::never:
            return make(element::never);
        case servreg::test::fnmatch::bracket::any:
            return make(element::any);
        case servreg::test::fnmatch::bracket::set:
            break;
    }
    return make(element::set, 0, std::move(b.body));
}

SERVREG_REFERENCE std::vector<element> translate(std::string_view pat) {
    std::vector<element> res;
    std::size_t i = 0;
    const std::size_t n = pat.size();
    while (i < n) {
        const char c = pat[i++];
        if (c == '*') {
            if (res.empty() || res.back().kind != element::star) res.push_back(make(element::star));
        } else if (c == '?') {
            res.push_back(make(element::any));
        } else if (c == '[') {
            std::size_t j = i;
            if (j < n && pat[j] == '!') ++j;
            if (j < n && pat[j] == ']') ++j;
            while (j < n && pat[j] != ']') ++j;
            if (j >= n) {
                res.push_back(make(element::literal, '['));
            } else {
                res.push_back(translate_class(pat, i, j));
                i = j + 1;
            }
        } else {
            res.push_back(make(element::literal, static_cast<unsigned char>(c)));
        }
    }
    return res;
}

// The bytes the set `[body]` of Python's re accepts.
SERVREG_REFERENCE void evaluate_set(element& e) {
    try {
        e.members = servreg::test::fnmatch::set_members(e.body);
    } catch (const std::logic_error& x) {
        fail(x.what());
    }
}

// Evaluates every set element once, so that matching reads a table.
SERVREG_REFERENCE void evaluate_sets(std::vector<element>& elements) {
    for (auto& e : elements) {
        if (e.kind == element::set) evaluate_set(e);
    }
}

SERVREG_REFERENCE bool element_accepts(const element& e, unsigned char c) {
    switch (e.kind) {
        case element::any:
            return true;
        case element::never:
            return false;
        case element::literal:
            return e.c == c;
        case element::set:
            return e.members[c];
        case element::star:
            break;
    }
    return false;
}

// Whole-string match of the translated pattern, by dynamic programming from the end: `next`
// is "elements i+1.. match name j..", `row` the same for element i.
SERVREG_REFERENCE bool reference_match(const std::vector<element>& elements,
                                       std::string_view name) {
    const std::size_t n = name.size();
    std::vector<char> next(n + 1, 0), row(n + 1, 0);
    next[n] = 1;
    for (std::size_t i = elements.size(); i-- > 0;) {
        const element& el = elements[i];
        for (std::size_t j = n + 1; j-- > 0;) {
            if (el.kind == element::star) {
                row[j] = next[j] || (j < n && row[j + 1]);
            } else {
                row[j] = j < n && element_accepts(el, static_cast<unsigned char>(name[j])) &&
                         next[j + 1];
            }
        }
        std::swap(row, next);
    }
    return next[0] != 0;
}

std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

SERVREG_REFERENCE void check(const glob& g, const std::vector<element>& reference,
                             std::string_view pattern, std::string_view name) {
    const bool got = g.matches(name);
    const bool want = reference_match(reference, name);
    const auto where = [&] {
        return "pattern=\"" + printable(pattern) + "\" name=\"" + printable(name) + "\"";
    };
    if (got != want) {
        fail("glob says " + std::string(got ? "match" : "no match") + ", fnmatchcase says " +
             (want ? "match" : "no match") + ": " + where());
    }
    if (got && !name.starts_with(g.literal_prefix())) {
        fail("a match without the literal prefix \"" + printable(g.literal_prefix()) +
             "\": " + where());
    }
    if (g.is_literal() && got != (name == g.literal_prefix())) {
        fail("a literal pattern matched other than its prefix: " + where());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const std::size_t newline = input.find('\n');
    const std::string_view pattern = input.substr(0, newline);
    const std::string_view name =
        newline == std::string_view::npos ? std::string_view{} : input.substr(newline + 1);
    // The daemon takes patterns and names of 255 bytes at most; a little beyond that costs
    // nothing and guards the boundary.
    if (pattern.size() > 300 || name.size() > 300) return 0;

    const glob g{pattern};
    auto reference = translate(pattern);
    evaluate_sets(reference);
    check(g, reference, pattern, name);
    check(g, reference, pattern, pattern);
    check(g, reference, pattern, g.literal_prefix());
    if (!name.empty()) check(g, reference, pattern, name.substr(0, name.size() - 1));
    if (g.is_literal() && !g.matches(g.literal_prefix())) {
        fail("a literal pattern does not match its own prefix: pattern=\"" + printable(pattern) +
             "\"");
    }
    const glob copy = g;  // the index copies compiled patterns
    if (copy.matches(name) != g.matches(name)) fail("a copied glob answers differently");
    return 0;
}
