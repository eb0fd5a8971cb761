// Fuzzes the --dburl translator and the storage layer's connect strings written from what it
// gives. Besides crashes, it stops on a result that is inconsistent (backend and kind disagree,
// empty connect string or display, a target the storage layer cannot write) and on a password
// that leaks into the display or into an error message.
//
// Input: a URL as given to --dburl. A first byte of 0x01 switches to assembling the URL from
// parts instead (scheme, user, password, host, port, database, query), with the password
// percent-encoded, so that the target knows the password and can look for it.
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "check.h"
#include "servreg/config/db_url.h"
#include "servreg/storage/connect_string.h"
#include "servreg/storage/store.h"

namespace {

using servreg::config::database_kind;
using servreg::config::database_target;
using servreg::config::translate_db_url;
using servreg::fuzz::fail;
using servreg::storage::soci_connection;

std::string percent_encode(std::string_view s) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        out += '%';
        out += hex[c >> 4];
        out += hex[c & 15];
    }
    return out;
}

// Lenient percent-decoding, '+' as a space when `plus`: what any part of a URL may turn into.
std::string decoded(std::string_view s, bool plus) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        auto hex = [](char c) {
            if (c >= '0' && c <= '9') return c - '0';
            if (c >= 'a' && c <= 'f') return c - 'a' + 10;
            if (c >= 'A' && c <= 'F') return c - 'A' + 10;
            return -1;
        };
        if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
            out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
            i += 2;
        } else {
            out += plus && s[i] == '+' ? ' ' : s[i];
        }
    }
    return out;
}

// Checks the target and returns its SOCI connection.
soci_connection check_consistent(const database_target& t, std::string_view url) {
    const std::string where = " for URL of " + std::to_string(url.size()) + " bytes";
    soci_connection c;
    try {
        c = servreg::storage::soci_connection_for(t);
    } catch (const servreg::storage::storage_error& e) {
        fail("a translated target the storage layer cannot write: " + std::string(e.what()) +
             where);
    }
    const bool sqlite = t.kind == database_kind::sqlite && c.backend == "sqlite3";
    const bool postgresql = t.kind == database_kind::postgresql && c.backend == "postgresql";
    const bool mysql = t.kind == database_kind::mysql && c.backend == "mysql";
    if (!sqlite && !postgresql && !mysql) fail("backend and kind disagree" + where);
    if (sqlite && !t.hosts.empty()) fail("an sqlite target with hosts" + where);
    if (c.connect_string.empty() || t.display.empty())
        fail("empty connect string or display" + where);
    if (c.connect_string.find('\0') != std::string::npos) fail("NUL in the connect string" + where);
    if (sqlite && !c.secrets.empty()) fail("an sqlite target with secrets" + where);
    for (const auto& secret : c.secrets) {
        if (secret.empty()) fail("an empty secret" + where);
    }
    return c;
}

void check_assembled(FuzzedDataProvider& in) {
    static constexpr std::array<std::string_view, 8> schemes{
        "postgresql", "postgresql+psycopg2", "postgresql+pg8000",
        "mysql",      "mysql+mysqldb",       "mysql+pymysql",
        "sqlite",     "PostgreSQL"};
    const std::string_view scheme = in.PickValueInArray(schemes);
    const std::string user = in.ConsumeRandomLengthString(40);
    const std::string password = in.ConsumeRandomLengthString(40);
    const std::string host = in.ConsumeRandomLengthString(40);
    const std::string port = in.ConsumeRandomLengthString(8);
    const std::string database = in.ConsumeRandomLengthString(40);
    const std::string query = in.ConsumeRemainingBytesAsString();

    std::string before = std::string(scheme) + "://" + percent_encode(user);
    std::string after = "@" + host;
    if (!port.empty()) after += ":" + port;
    after += "/" + database;
    if (!query.empty()) after += "?" + query;
    const std::string url = before + ":" + percent_encode(password) + after;

    auto result = translate_db_url(url);
    // The display shows other parts of the URL (user, host, database, query values), in
    // ways that depend on how the URL splits, and messages are plain ASCII. Only a password
    // with a non-ASCII or control byte found nowhere else in the URL, raw or decoded, can be
    // told apart from all that.
    const std::string rest = before + after;
    const std::string others = rest + decoded(rest, false) + decoded(rest, true);
    const bool unique = std::ranges::any_of(password, [&](unsigned char c) {
        return (c >= 0x80 || c < 0x20) && others.find(static_cast<char>(c)) == std::string::npos;
    });
    if (!unique || password.find('\0') != std::string::npos) {
        if (result) check_consistent(*result, url);
        return;
    }
    if (!result) {
        if (result.error().empty()) fail("an empty error message");
        if (result.error().find(password) != std::string::npos) {
            fail("the password is in the error message: " + result.error());
        }
        return;
    }
    const soci_connection connection = check_consistent(*result, url);
    if (result->display.find(password) != std::string::npos) {
        fail("the password is in the display: " + result->display);
    }
    // The URL's query starts at its first '?', which may lie in the host or database part:
    // a password given there overrides the URL's own.
    const std::size_t qmark = after.find('?');
    const bool overridden =
        qmark != std::string::npos &&
        decoded(std::string_view(after).substr(qmark + 1), true).find("password") !=
            std::string::npos;
    if (result->kind != database_kind::sqlite && !overridden &&
        (connection.secrets.empty() || connection.secrets[0] != password)) {
        fail("the password is missing from the secrets to redact");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size > 0 && data[0] == 0x01) {
        FuzzedDataProvider in(data + 1, size - 1);
        check_assembled(in);
        return 0;
    }
    const std::string url(reinterpret_cast<const char*>(data), size);
    auto result = translate_db_url(url);
    if (result) {
        check_consistent(*result, url);
    } else if (result.error().empty()) {
        fail("an empty error message");
    }
    return 0;
}
