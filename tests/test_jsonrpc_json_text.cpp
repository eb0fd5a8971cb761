// Tests of the hand-written JSON strings in replies: what a JSON parser reads back is the
// original text, control characters and quotes included.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>

#include "servreg/jsonrpc/json_text.h"

namespace {

using servreg::jsonrpc::append_json_string;

std::string literal(std::string_view s) {
    std::string out;
    append_json_string(out, s);
    return out;
}

TEST(JsonText, EveryAsciiCharacterReadsBackAsItself) {
    std::string all;
    for (int c = 0; c < 128; ++c) all += static_cast<char>(c);
    const std::string text = literal(all);
    nlohmann::json parsed;
    ASSERT_NO_THROW(parsed = nlohmann::json::parse(text)) << text;
    EXPECT_EQ(parsed.get<std::string>(), all) << text;
}

TEST(JsonText, ShortEscapesWhereJsonHasThem) {
    EXPECT_EQ(literal("a\"b\\c"), R"("a\"b\\c")");
    EXPECT_EQ(literal("line\nret\rtab\t"), R"("line\nret\rtab\t")");
    EXPECT_EQ(literal(std::string("nul\0bell\a", 9)), R"("nul\u0000bell\u0007")");
    EXPECT_EQ(literal("caf\xc3\xa9"), "\"caf\xc3\xa9\"") << "UTF-8 passes through";
    EXPECT_EQ(literal(""), R"("")");
}

}  // namespace
