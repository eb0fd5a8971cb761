// Fuzzes registry::glob against a reference written here from CPython's Lib/fnmatch.py
// (translate) and re's parser for character sets, matched by dynamic programming, so that a
// wrong answer stops the run as surely as a crash. Also checks literal_prefix() and
// is_literal(), which the index relies on to narrow its scans.
//
// Input: the pattern, a newline, the name (bytes, read as latin-1 the way fnmatch would).
// Each pattern is also matched against its own text and against the name cut short.
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "check.h"
#include "servreg/registry/glob.h"

// The reference is not what is being fuzzed: no coverage feedback from it, which would only
// slow the run and steer it towards the reference's branches.
#define SERVREG_REFERENCE __attribute__((no_sanitize("coverage")))

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

// fnmatch.translate's bracket handling, line by line: `pat[i, j)` is what lies between `[` and
// the `]` that closes it.
SERVREG_REFERENCE element translate_class(std::string_view pat, std::size_t i, std::size_t j) {
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
    if (stuff.empty()) return make(element::never);
    if (stuff == "!") return make(element::any);
    if (stuff[0] == '!') {
        stuff = "^" + stuff.substr(1);
    } else if (stuff[0] == '^' || stuff[0] == '[') {
        stuff = "\\" + stuff;
    }
    return make(element::set, 0, stuff);
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

// One character of a set's body at `p`, escaped (`\x` is x) or not; advances `p`.
SERVREG_REFERENCE unsigned char set_char(const std::string& body, std::size_t& p) {
    if (body[p] == '\\') {
        if (p + 1 >= body.size()) fail("reference: a trailing backslash in a set: " + body);
        p += 2;
        return static_cast<unsigned char>(body[p - 1]);
    }
    return static_cast<unsigned char>(body[p++]);
}

// The bytes the set `[body]` of Python's re accepts, following sre_parse: `^` first negates,
// a `]` first is a member, `\x` is x, `a-b` is a range (translate never emits an empty one).
SERVREG_REFERENCE void evaluate_set(element& e) {
    const std::string& body = e.body;
    std::size_t p = 0;
    const bool negate = !body.empty() && body[0] == '^';
    if (negate) ++p;
    e.members.fill(false);
    while (p < body.size()) {
        const unsigned char lo = set_char(body, p);
        unsigned char hi = lo;
        if (p + 1 < body.size() && body[p] == '-') {
            ++p;
            hi = set_char(body, p);
            if (hi < lo) fail("reference: translate emitted an empty range: " + body);
        }
        for (unsigned c = lo; c <= hi; ++c) e.members[c] = true;
    }
    if (negate) {
        for (auto& m : e.members) m = !m;
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
