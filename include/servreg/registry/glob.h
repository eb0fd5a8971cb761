// Glob patterns with Python fnmatch.fnmatchcase semantics, matched in O(pattern x name) time.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace servreg::registry {

// A compiled pattern: `*` any run of characters (dots included), `?` one character,
// `[abc]`, `[a-z]`, `[!abc]` classes; a `[` without its `]` is a literal. Whole-string and
// case-sensitive; characters are bytes, as fnmatchcase sees a latin-1 string.
class glob {
public:
    explicit glob(std::string_view pattern);

    bool matches(std::string_view name) const noexcept;

    // The literal characters every match starts with ("svc.42." for "svc.42.*"): the
    // index scans only names with this prefix.
    const std::string& literal_prefix() const noexcept { return prefix_; }

    // True when the pattern has no wildcard at all: it matches only literal_prefix().
    bool is_literal() const noexcept { return literal_; }

    // The pattern as written: the key under which the index remembers what it matched.
    const std::string& text() const noexcept { return text_; }

private:
    struct token;  // defined in glob.cpp
    std::vector<token> tokens_;
    std::string prefix_;
    std::string text_;
    bool literal_ = false;

public:
    ~glob();
    glob(const glob&);
    glob(glob&&) noexcept;
    glob& operator=(const glob&);
    glob& operator=(glob&&) noexcept;
};

}  // namespace servreg::registry
