// Database errors as the storage layer sees them: whether to retry, the short reason a client
// and an operator get, and log text with the passwords taken out.
#pragma once

#include <exception>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "servreg/config/db_url.h"

namespace servreg::storage {

// Where a database error happened; the same error reads differently while connecting.
enum class error_phase { connect, use };

// The short reason a client or an operator sees for a database error `e`: no SQL text, no
// password, no driver internals ("database is locked", "disk is full", "connection to ... lost").
// `connected` tells whether the session still answers after the error.
std::string client_reason(const std::exception& e, config::database_kind kind,
                          std::string_view display, bool connected, error_phase phase);

// Errors worth trying again at once: another process holds a lock, or won a race.
bool is_transient(const std::exception& e);

// Startup races between processes creating the same schema.
bool is_schema_race(const std::exception& e);

// Messages by which the client libraries say that the connection is gone (`msg` lowercase), so
// that no round trip is spent asking a session that cannot answer.
bool says_connection_lost(std::string_view msg);

// The driver's message in lowercase, without SOCI's context (the SQL text and bound values).
std::string message_of(const std::exception& e);

// Password values of a SOCI connect string, so that no log line ever carries them.
std::vector<std::string> secrets_of(std::string_view connect_string);

// `text` with every secret replaced by "***", on one line.
std::string redact(std::string text, const std::vector<std::string>& secrets);

std::string lowercase(std::string_view s);

// Whether `haystack` holds any of `needles`.
bool has(std::string_view haystack, std::initializer_list<std::string_view> needles);

}  // namespace servreg::storage
