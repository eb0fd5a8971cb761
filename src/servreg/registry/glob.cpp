// Compiles a glob into single-character tokens and stars, then matches with the classic
// iterative algorithm that backtracks to the last star only: O(pattern x name), no recursion.
#include "servreg/registry/glob.h"

#include <array>
#include <bit>
#include <cstdint>
#include <limits>

namespace servreg::registry {

struct glob::token {
    // The set of bytes a bracket expression accepts.
    class byte_set {
    public:
        void add(unsigned char c) noexcept { bits_[c >> 6] |= std::uint64_t{1} << (c & 63); }
        void add_range(unsigned char lo, unsigned char hi) noexcept {
            // lo > hi adds nothing: fnmatch drops such ranges rather than failing.
            for (unsigned c = lo; c <= hi; ++c) add(static_cast<unsigned char>(c));
        }
        void invert() noexcept {
            for (auto& word : bits_) word = ~word;
        }
        bool contains(unsigned char c) const noexcept { return (bits_[c >> 6] >> (c & 63)) & 1; }
        std::size_t size() const noexcept {
            std::size_t n = 0;
            for (auto word : bits_) n += static_cast<std::size_t>(std::popcount(word));
            return n;
        }
        // The lowest member; meaningful only when size() > 0.
        unsigned char first() const noexcept {
            for (unsigned w = 0; w < bits_.size(); ++w) {
                if (bits_[w] != 0) {
                    return static_cast<unsigned char>(
                        w * 64 + static_cast<unsigned>(std::countr_zero(bits_[w])));
                }
            }
            return 0;
        }

    private:
        std::array<std::uint64_t, 4> bits_{};
    };

    enum class kind_t : std::uint8_t { literal, any, set, star };
    kind_t kind = kind_t::literal;
    unsigned char literal = 0;
    byte_set set;

    static byte_set compile_class(std::string_view content);

    bool accepts(unsigned char c) const noexcept {
        switch (kind) {
            case kind_t::literal:
                return c == literal;
            case kind_t::any:
                return true;
            case kind_t::set:
                return set.contains(c);
            case kind_t::star:
                break;
        }
        return false;
    }
};

// The members of a bracket expression, `content` being what lies between `[` and its `]`.
// This follows fnmatch.translate step by step, quirks included: it splits the content into
// chunks at the hyphens that make ranges, drops empty ranges (lo > hi) by merging their
// neighbours, then reads the result the way Python's re reads the class it builds. One quirk
// this reproduces: dropping a leading empty range can leave a `!` first, which then negates
// (`[z-a!b]` is `[^b]` in Python).
glob::token::byte_set glob::token::compile_class(std::string_view content) {
    // A character of the class as re sees it; `join` marks an unescaped hyphen, the only
    // kind that can make a range (fnmatch escapes every other hyphen).
    struct atom {
        unsigned char c;
        bool join;
    };
    std::vector<atom> atoms;
    const auto append_chunk = [&](std::string_view chunk) {
        for (char c : chunk) atoms.push_back({static_cast<unsigned char>(c), false});
    };
    if (content.find('-') == std::string_view::npos) {
        append_chunk(content);
    } else {
        std::vector<std::string> chunks;
        std::size_t i = 0;
        // A hyphen first (after any `!`) is a member; after a range, the next character
        // cannot start another one.
        for (std::size_t k = content[0] == '!' ? 2 : 1;
             (k = content.find('-', k)) != std::string_view::npos; k += 3) {
            chunks.emplace_back(content.substr(i, k - i));
            i = k + 1;
        }
        if (i < content.size()) {
            chunks.emplace_back(content.substr(i));
        } else {
            chunks.back() += '-';  // a trailing hyphen is a member
        }
        const auto byte = [](char c) { return static_cast<unsigned char>(c); };
        for (std::size_t k = chunks.size() - 1; k > 0; --k) {
            if (byte(chunks[k - 1].back()) > byte(chunks[k].front())) {
                chunks[k - 1].pop_back();
                chunks[k - 1].append(chunks[k], 1);
                chunks.erase(chunks.begin() + static_cast<std::ptrdiff_t>(k));
            }
        }
        for (std::size_t k = 0; k < chunks.size(); ++k) {
            if (k > 0) atoms.push_back({'-', true});
            append_chunk(chunks[k]);
        }
    }

    byte_set set;
    const bool bang_first = !atoms.empty() && !atoms[0].join && atoms[0].c == '!';
    if (bang_first && atoms.size() == 1) {
        set.invert();  // a negated empty class: fnmatch makes it match any character
        return set;
    }
    const auto value = [&](std::size_t p) { return atoms[p].join ? '-' : atoms[p].c; };
    std::size_t p = bang_first ? 1 : 0;
    while (p < atoms.size()) {
        const unsigned char lo = static_cast<unsigned char>(value(p++));
        if (p + 1 < atoms.size() && atoms[p].join) {
            set.add_range(lo, static_cast<unsigned char>(value(p + 1)));
            p += 2;
        } else {
            set.add(lo);
        }
    }
    if (bang_first) set.invert();
    return set;
}

glob::glob(std::string_view pattern) : text_(pattern) {
    const std::size_t n = pattern.size();
    std::size_t i = 0;
    while (i < n) {
        const char c = pattern[i++];
        token tok;
        if (c == '*') {
            // Consecutive stars match what one star matches.
            if (!tokens_.empty() && tokens_.back().kind == token::kind_t::star) continue;
            tok.kind = token::kind_t::star;
        } else if (c == '?') {
            tok.kind = token::kind_t::any;
        } else if (c == '[') {
            // Find the closing bracket the way fnmatch.translate does: a `]` right after `[`
            // or `[!` is a member, not the end.
            std::size_t j = i;
            if (j < n && pattern[j] == '!') ++j;
            if (j < n && pattern[j] == ']') ++j;
            while (j < n && pattern[j] != ']') ++j;
            if (j >= n) {
                // No closing bracket: the `[` is an ordinary character and parsing goes on
                // right after it.
                tok.literal = '[';
            } else {
                tok.set = token::compile_class(pattern.substr(i, j - i));
                i = j + 1;
                if (tok.set.size() == 256) {
                    tok.kind = token::kind_t::any;
                } else if (tok.set.size() == 1) {
                    // `[*]`, `[[]` are how fnmatch users quote a wildcard: treat them as the
                    // literal they are, so that they extend the literal prefix.
                    tok.literal = tok.set.first();
                } else {
                    tok.kind = token::kind_t::set;
                }
            }
        } else {
            tok.literal = static_cast<unsigned char>(c);
        }
        tokens_.push_back(tok);
    }

    literal_ = true;
    for (const auto& tok : tokens_) {
        if (tok.kind != token::kind_t::literal) {
            literal_ = false;
            break;
        }
        prefix_.push_back(static_cast<char>(tok.literal));
    }
}

bool glob::matches(std::string_view name) const noexcept {
    if (literal_) return name == prefix_;
    if (name.size() < prefix_.size() || name.compare(0, prefix_.size(), prefix_) != 0) {
        return false;
    }

    constexpr std::size_t none = std::numeric_limits<std::size_t>::max();
    const std::size_t n_tokens = tokens_.size();
    const std::size_t n_name = name.size();
    // The prefix is all literal tokens, one per character, so both cursors skip it.
    std::size_t t = prefix_.size();
    std::size_t s = prefix_.size();
    std::size_t star_t = none;  // token after the last star seen
    std::size_t star_s = 0;     // where that star's match currently ends

    while (s < n_name) {
        if (t < n_tokens) {
            const token& tok = tokens_[t];
            if (tok.kind == token::kind_t::star) {
                star_t = ++t;
                star_s = s;
                continue;
            }
            if (tok.accepts(static_cast<unsigned char>(name[s]))) {
                ++t;
                ++s;
                continue;
            }
        }
        // Every token but a star consumes exactly one character, so letting the last star
        // absorb one more character is the only retry that can help: earlier stars never
        // need to be revisited.
        if (star_t == none) return false;
        t = star_t;
        s = ++star_s;
    }
    while (t < n_tokens && tokens_[t].kind == token::kind_t::star) ++t;
    return t == n_tokens;
}

glob::~glob() = default;
glob::glob(const glob&) = default;
glob::glob(glob&&) noexcept = default;
glob& glob::operator=(const glob&) = default;
glob& glob::operator=(glob&&) noexcept = default;

}  // namespace servreg::registry
