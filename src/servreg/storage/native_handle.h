// What aborts a database call in progress from another thread: the one place that reaches
// below SOCI to the client libraries' own connection handles.
#pragma once

#include <functional>

#include "servreg/config/db_url.h"

namespace soci {
class session;
}

namespace servreg::storage {

// The abort of whatever `session` is doing, for the watchdog (deadline.h): PostgreSQL's and
// MySQL's socket is shut down, so that the blocked call returns at once with a lost connection;
// SQLite's connection is interrupted. Empty when the client library's handle cannot be reached
// (servreg built without its headers), and then only the client library's timeouts apply.
// Taken when a call starts, so that it names the socket the call uses: a client library closes
// its socket when the connection is lost, and the number may then be reused.
std::function<void()> abort_of(soci::session& session, config::database_kind kind);

}  // namespace servreg::storage
