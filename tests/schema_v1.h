// What servreg 0.1 created: schema version 1, for the tests of the upgrade to the current
// version on every database.
#pragma once

#include <soci/soci.h>

#include <string>

namespace servreg::test {

// Creates the version-1 tables, empty, through `sql`; `mysql` picks MariaDB's column types
// and index syntax.
inline void create_schema_v1(soci::session& sql, bool mysql) {
    const std::string text =
        mysql ? "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" : "VARCHAR(255)";
    sql << "CREATE TABLE servreg_schema (version INTEGER NOT NULL PRIMARY KEY)";
    sql << "INSERT INTO servreg_schema (version) VALUES (1)";
    sql << "CREATE TABLE servreg_services (name " + text + " NOT NULL, host " + text +
               " NOT NULL, port INTEGER NOT NULL, first_seen BIGINT NOT NULL, last_seen "
               "BIGINT NOT NULL, PRIMARY KEY (host, port)" +
               (mysql ? ", INDEX servreg_services_name (name)) ENGINE=InnoDB DEFAULT "
                        "CHARSET=utf8mb4 COLLATE=utf8mb4_bin"
                      : ")");
    if (!mysql) sql << "CREATE INDEX servreg_services_name ON servreg_services (name)";
}

}  // namespace servreg::test
