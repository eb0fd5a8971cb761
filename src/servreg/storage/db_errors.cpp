// Database errors: which are worth a retry, the short reason a client sees for each, and the
// redaction that keeps passwords and SQL out of what is logged.
#include "servreg/storage/db_errors.h"

#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <algorithm>
#include <cctype>

#include "servreg/storage/connect_string.h"

namespace servreg::storage {

using config::database_kind;

std::string lowercase(std::string_view s) {
    std::string out(s);
    std::ranges::transform(out, out.begin(), [](unsigned char c) { return std::tolower(c); });
    return out;
}

bool has(std::string_view haystack, std::initializer_list<std::string_view> needles) {
    return std::ranges::any_of(
        needles, [&](std::string_view n) { return haystack.find(n) != std::string_view::npos; });
}

// The driver's message in lowercase, without SOCI's context (the SQL text and bound values).
std::string message_of(const std::exception& e) {
    const auto* s = dynamic_cast<const soci::soci_error*>(&e);
    return lowercase(s != nullptr ? s->get_error_message() : e.what());
}

namespace {

std::string sqlite_reason(int code) {
    switch (code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return "database is locked";
        case SQLITE_FULL:
            return "disk is full";
        case SQLITE_READONLY:
            return "database is read-only";
        case SQLITE_IOERR:
            return "disk I/O error";
        case SQLITE_CORRUPT:
            return "database file is corrupt";
        case SQLITE_NOTADB:
            return "file is not a database";
        case SQLITE_CANTOPEN:
            return "cannot open the database file";
        case SQLITE_PERM:
        case SQLITE_AUTH:
            return "permission denied";
        case SQLITE_NOMEM:
            return "out of memory";
        case SQLITE_CONSTRAINT:
            return "the database refused the write (constraint)";
        default:
            return {};
    }
}

// Conditions every backend reports in its own words. `msg` is lowercase.
std::string common_reason(std::string_view msg, std::string_view display) {
    if (has(msg, {"deadlock"})) return "deadlock in the database";
    if (has(msg, {"could not serialize"})) return "conflict with a concurrent write";
    if (has(msg, {"no space left", "disk full", "disk is full", " is full"})) return "disk is full";
    if (has(msg, {"read-only", "read only", "readonly"})) return "database is read-only";
    if (has(msg, {"lock wait timeout", "database is locked", "lock timeout"})) {
        return "database is locked";
    }
    if (has(msg, {"too many connections", "too many clients"})) {
        return "too many connections to " + std::string(display);
    }
    if (has(msg, {"password authentication failed", "access denied for user"})) {
        return "authentication failed for " + std::string(display);
    }
    if (has(msg, {"permission denied", "command denied"})) {
        return "permission denied on " + std::string(display);
    }
    return {};
}

// What goes wrong only while connecting. `msg` is lowercase.
std::string connect_reason(std::string_view msg) {
    if (has(msg, {"connection refused"})) return "connection refused";
    // MySQL's clients say "can't connect to server on 'host' (errno)"; MariaDB's, which
    // connects without blocking, reports a refused connection as EINPROGRESS.
    if (has(msg, {"can't connect"})) {
        if (has(msg, {"(111)", "(115)"})) return "connection refused";
        if (has(msg, {"(110)"})) return "connection timed out";
    }
    if (has(msg,
            {"could not translate host name", "unknown mysql server host", "unknown server host",
             "name or service not known", "temporary failure in name resolution"})) {
        return "unknown host";
    }
    if (has(msg, {"timeout expired", "timed out"})) return "connection timed out";
    if (has(msg, {"unknown database"}) ||
        (has(msg, {"database \""}) && has(msg, {"does not exist"}))) {
        return "database does not exist";
    }
    if (has(msg, {"role \""}) && has(msg, {"does not exist"})) return "unknown user";
    if (has(msg, {"shared library", "failed to open"})) {
        return "the SOCI backend library for this database is not installed";
    }
    if (has(msg, {"no such file or directory"})) return "server socket not found";
    return {};
}

}  // namespace

// Errors worth trying again at once: another process holds a lock, or won a race.
bool is_transient(const std::exception& e) {
    if (const auto* s = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
        const int code = s->result() & 0xff;
        return code == SQLITE_BUSY || code == SQLITE_LOCKED;
    }
    // CockroachDB asks the client to run a transaction again ("restart transaction").
    return has(message_of(e), {"deadlock", "could not serialize", "restart transaction"});
}

// Startup races between processes creating the same schema.
bool is_schema_race(const std::exception& e) {
    if (is_transient(e)) return true;
    if (const auto* s = dynamic_cast<const soci::soci_error*>(&e);
        s != nullptr && s->get_error_category() == soci::soci_error::constraint_violation) {
        return true;
    }
    return has(message_of(e), {"duplicate", "already exists", "unique"});
}

// Password values of a SOCI connect string, so that no log line ever carries them.
std::vector<std::string> secrets_of(std::string_view connect_string) {
    std::vector<std::string> secrets;
    for (std::string_view key : {"password", "pass"}) {
        if (auto value = connect_string_value(connect_string, key)) {
            secrets.push_back(std::move(*value));
        }
    }
    return secrets;
}

std::string redact(std::string text, const std::vector<std::string>& secrets) {
    for (const auto& secret : secrets) {
        for (std::size_t at = text.find(secret); at != std::string::npos;
             at = text.find(secret, at + 3)) {
            text.replace(at, secret.size(), "***");
        }
    }
    // libpq's messages span lines ("...unexpectedly\n\tThis probably means..."): one log line.
    std::string line;
    line.reserve(text.size());
    for (const char c : text) {
        const bool space = c == '\n' || c == '\t' || c == '\r';
        if (space && (line.empty() || line.back() == ' ')) continue;
        line.push_back(space ? ' ' : c);
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    return line;
}

// Messages by which the client libraries say that the connection is gone (lowercase), so that
// no round trip is spent asking a session that cannot answer.
bool says_connection_lost(std::string_view msg) {
    return has(msg,
               {"server closed the connection", "lost connection", "has gone away",
                "no connection to the server", "terminating connection", "connection not open",
                "could not receive data", "could not send data", "broken pipe", "connection reset",
                "timed out", "server shutdown", "connection refused", "eof detected"});
}

std::string client_reason(const std::exception& e, config::database_kind kind,
                          std::string_view display, bool connected, error_phase phase) {
    std::string reason;
    if (const auto* s = dynamic_cast<const soci::sqlite3_soci_error*>(&e)) {
        reason = sqlite_reason(s->result());
    }
    const auto* soci_e = dynamic_cast<const soci::soci_error*>(&e);
    const std::string message = message_of(e);
    const auto category =
        soci_e != nullptr ? soci_e->get_error_category() : soci::soci_error::unknown;
    if (reason.empty()) reason = common_reason(message, display);
    if (phase == error_phase::connect) {
        if (reason.empty() && kind != database_kind::sqlite) reason = connect_reason(message);
        if (reason.empty()) {
            reason = !connected || category == soci::soci_error::connection_error
                         ? "cannot connect"
                         : "database error";
        }
        return "cannot open " + std::string(display) + ": " + reason;
    }
    if (!reason.empty()) return reason;
    if (!connected || category == soci::soci_error::connection_error) {
        return "connection to " + std::string(display) + " lost";
    }
    return "database error on " + std::string(display);
}

}  // namespace servreg::storage
