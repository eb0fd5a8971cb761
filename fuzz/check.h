// What every fuzz target uses to report a broken invariant.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace servreg::fuzz {

// Prints why and aborts, so that libFuzzer saves the input as a crash.
[[noreturn]] inline void fail(const std::string& why) {
    std::fprintf(stderr, "\nFUZZ INVARIANT BROKEN: %s\n", why.c_str());
    std::fflush(stderr);
    std::abort();
}

}  // namespace servreg::fuzz
