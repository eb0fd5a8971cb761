// SQLite database targets for the tests, as config::db_url would translate sqlite:// URLs.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "servreg/config/db_url.h"

namespace servreg::test {

// A file, with the URL's query parameters (by default a busy timeout of one second).
inline config::database_target sqlite_file(
    const std::string& path,
    std::vector<std::pair<std::string, std::string>> parameters = {{"timeout", "1"}}) {
    config::database_target target;
    target.kind = config::database_kind::sqlite;
    target.path = path;
    target.parameters = std::move(parameters);
    target.display = "sqlite file " + path;
    return target;
}

inline config::database_target sqlite_memory() {
    config::database_target target;
    target.kind = config::database_kind::sqlite;
    target.path = ":memory:";
    target.display = "sqlite in memory";
    return target;
}

}  // namespace servreg::test
