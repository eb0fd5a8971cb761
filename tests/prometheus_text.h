// Reading the Prometheus text format in tests: every sample line parsed, the shape of every
// line checked on the way.
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>
#include <string>

namespace servreg::test {

// name{labels} -> value, from an exposition; fails the test on a line in no known shape.
inline std::map<std::string, double> samples_of(const std::string& text) {
    static const std::regex sample(
        R"re(^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*",?)*\})? (\S+)$)re");
    static const std::regex comment(R"re(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .+$)re");
    std::map<std::string, double> out;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) {
        if (line.starts_with("#")) {
            EXPECT_TRUE(std::regex_match(line, comment)) << "comment line: " << line;
            continue;
        }
        std::smatch m;
        if (!std::regex_match(line, m, sample)) {
            ADD_FAILURE() << "not a sample line: " << line;
            continue;
        }
        EXPECT_EQ(out.count(m[1].str() + m[2].str()), 0u) << "duplicate series: " << line;
        out[m[1].str() + m[2].str()] = m[3] == "+Inf" ? 1e300 : std::stod(m[3]);
    }
    return out;
}

// The value of one series, -1 when it is absent.
inline double value_of(const std::map<std::string, double>& samples, const std::string& series) {
    auto it = samples.find(series);
    return it == samples.end() ? -1 : it->second;
}

}  // namespace servreg::test
