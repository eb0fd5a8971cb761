// What the release before URL keys created: schema version 2 (commit a457f73's migrate_to_1
// and migrate_to_2, with each database's column types), for the tests of the upgrade to the
// current version.
#pragma once

#include <soci/soci.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "schema_v1.h"
#include "servreg/config/db_url.h"

namespace servreg::test {

// Creates the version-2 tables, empty, through `sql`, for a database of `kind`.
inline void create_schema_v2(soci::session& sql, config::database_kind kind) {
    const bool mysql = kind == config::database_kind::mysql;
    // Version 2's servreg_services is version 1's, with one more index on the servers.
    create_schema_v1(sql, mysql);
    sql << "UPDATE servreg_schema SET version = 2";
    const std::string text =
        mysql ? "VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin" : "VARCHAR(255)";
    sql << "CREATE TABLE IF NOT EXISTS servreg_tombstones (host " + text +
               " NOT NULL, port INTEGER NOT NULL, deleted_at BIGINT NOT NULL, "
               "PRIMARY KEY (host, port))" +
               (mysql ? " ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin" : "");
    // MySQL knows no CREATE INDEX IF NOT EXISTS; the tables are new here anyway.
    sql << "CREATE INDEX servreg_tombstones_deleted_at ON servreg_tombstones (deleted_at)";
    if (kind != config::database_kind::sqlite) {
        sql << "CREATE INDEX servreg_services_last_seen ON servreg_services (last_seen)";
    }
}

// A row of version 2's servreg_services.
struct v2_row {
    std::string name;
    std::string host;
    int port = 0;
    long long first_seen = 0;
    long long last_seen = 0;
};

inline void insert_v2_row(soci::session& sql, v2_row r) {
    sql << "INSERT INTO servreg_services (name, host, port, first_seen, last_seen) "
           "VALUES (:name, :host, :port, :first_seen, :last_seen)",
        soci::use(r.name), soci::use(r.host), soci::use(r.port), soci::use(r.first_seen),
        soci::use(r.last_seen);
}

inline void insert_v2_tombstone(soci::session& sql, std::string host, int port,
                                long long deleted_at) {
    sql << "INSERT INTO servreg_tombstones (host, port, deleted_at) VALUES (:h, :p, :d)",
        soci::use(host), soci::use(port), soci::use(deleted_at);
}

// Rows a version-2 database may hold, awkward ones included, each with the URL that the upgrade
// must key it by: http://host:port/api, an IPv6 literal in brackets.
struct v2_sample {
    v2_row row;
    std::string url;
};

inline std::vector<v2_sample> v2_samples(long long first_seen, long long last_seen) {
    const auto at = [&](std::string name, std::string host, int port, std::string url) {
        return v2_sample{{std::move(name), std::move(host), port, first_seen, last_seen},
                         std::move(url)};
    };
    return {
        at("it's", "h.\xc3\xa9", 1, "http://h.\xc3\xa9:1/api"),
        at("back\\slash", "::1", 8080, "http://[::1]:8080/api"),
        at("per%cent", "fe80::1%eth0", 65535, "http://[fe80::1%eth0]:65535/api"),
        at("sp ace ", "[::2]", 80, "http://[::2]:80/api"),
        at("Svc", "Host.Example", 80, "http://Host.Example:80/api"),
        at("svc", "host.example", 80, "http://host.example:80/api"),
        at(std::string(255, 'n'), "10.0.0.1", 443, "http://10.0.0.1:443/api"),
        at("caf\xc3\xa9 \xf0\x9f\x98\x80", "a_b%c", 2, "http://a_b%c:2/api"),
    };
}

}  // namespace servreg::test
