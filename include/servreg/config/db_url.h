// Translation of SQLAlchemy-style database URLs into SOCI backends and connection strings.
#pragma once

#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace servreg::config {

enum class database_kind { sqlite, postgresql, mysql };

struct database_target {
    database_kind kind = database_kind::sqlite;
    std::string backend;         // SOCI backend name: "sqlite3", "postgresql", "mysql"
    std::string connect_string;  // SOCI connection string, may hold the password
    std::string display;         // safe to log: names host and database, never the password
    // What must never reach a log: the password, decoded and as written in connect_string.
    std::vector<std::string> secrets;
};

// Translates `url` (SPEC section 5). On failure, the reason, fit to show a user: for an
// unknown scheme it lists the supported ones.
std::expected<database_target, std::string> translate_db_url(std::string_view url);

}  // namespace servreg::config
