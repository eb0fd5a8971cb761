// Helpers for the tests that run against real PostgreSQL and MariaDB servers, which
// scripts/test-databases.sh starts and describes in SERVREG_TEST_* environment variables: the
// servers as a test parameter, scratch databases, and direct SQL to look at what servreg wrote.
#pragma once

#include <gtest/gtest.h>
#include <soci/soci.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "servreg/config/db_url.h"
#include "servreg/storage/connect_string.h"
#include "utils.h"

namespace servreg::test {

// One database server the tests can use.
struct database_server {
    std::string label;      // in test names: "Postgres", "MariaDB"
    std::string url_var;    // the variable holding the URL of a database on it
    std::string stop_var;   // the variables holding shell commands that stop and start it
    std::string start_var;  // (each returns once the server is down, or answers)
};

// How GoogleTest shows the parameter in a failure and in ctest's list: by its label, not as
// the bytes of the struct.
inline void PrintTo(const database_server& server, std::ostream* out) {
    *out << server.label;
}

inline const database_server postgres_server{"Postgres", "SERVREG_TEST_POSTGRES_URL",
                                             "SERVREG_TEST_POSTGRES_STOP",
                                             "SERVREG_TEST_POSTGRES_START"};
inline const database_server mariadb_server{"MariaDB", "SERVREG_TEST_MYSQL_URL",
                                            "SERVREG_TEST_MYSQL_STOP", "SERVREG_TEST_MYSQL_START"};

inline std::string env_or_empty(const std::string& name) {
    const char* value = std::getenv(name.c_str());
    return value == nullptr ? std::string() : std::string(value);
}

// Names the parametrised tests after their server: Databases/Suite.Test/Postgres.
struct server_name {
    std::string operator()(const ::testing::TestParamInfo<database_server>& info) const {
        return info.param.label;
    }
};

// `url` with its database name replaced by `database`.
inline std::string with_database(const std::string& url, const std::string& database) {
    const auto query = url.find('?');
    const auto slash = url.rfind('/', query);
    return url.substr(0, slash + 1) + database +
           (query == std::string::npos ? std::string() : url.substr(query));
}

inline config::database_target translate_or_throw(const std::string& url) {
    auto target = config::translate_db_url(url);
    if (!target) throw std::runtime_error("bad test URL: " + target.error());
    return *target;
}

// A direct connection, to look at or prepare what servreg reads and writes.
inline soci::session connect(const std::string& url) {
    const auto connection = storage::soci_connection_for(translate_or_throw(url));
    return soci::session(connection.backend, connection.connect_string);
}

// A database of its own for one test, created empty on the server.
class scratch_database {
public:
    explicit scratch_database(const std::string& server_url) {
        static std::atomic<int> counter{0};
        static const unsigned run = std::random_device{}() % 1'000'000;
        name_ = "servreg_t" + std::to_string(run) + "_" + std::to_string(::getpid()) + "_" +
                std::to_string(++counter);
        url_ = with_database(server_url, name_);
        auto sql = connect(server_url);
        sql << "CREATE DATABASE " + name_;
    }
    // Not dropped: dropping a database costs PostgreSQL a checkpoint, about a second, and the
    // stage's throwaway servers go away whole.
    ~scratch_database() = default;
    scratch_database(const scratch_database&) = delete;
    scratch_database& operator=(const scratch_database&) = delete;

    const std::string& url() const { return url_; }
    const std::string& name() const { return name_; }

private:
    std::string name_;
    std::string url_;
};

// SQLite as a parameter too, for the tests that hold on every database.
inline const database_server sqlite_file{"SQLite", "", "", ""};

// The fixture of the server tests: skips, saying why, when the stage did not start the server.
class database_test : public ::testing::TestWithParam<database_server> {
protected:
    void SetUp() override {
        if (GetParam().url_var.empty()) {
            dir_ = std::make_unique<temp_dir>();
            server_url_ = "sqlite:///" + dir_->file("servreg.db");
            return;
        }
        server_url_ = env_or_empty(GetParam().url_var);
        if (server_url_.empty()) {
            GTEST_SKIP() << GetParam().url_var
                         << " is not set: scripts/test-databases.sh starts the server and sets it";
        }
    }

    const std::string& server_url() const { return server_url_; }
    config::database_kind kind() const { return translate_or_throw(server_url_).kind; }
    // The password in the URL, decoded: it must never show in servreg's output.
    std::string password() const {
        const auto connection = storage::soci_connection_for(translate_or_throw(server_url_));
        return connection.secrets.empty() ? std::string() : connection.secrets.front();
    }

    // The URL of a new, empty database.
    std::string fresh_database_url() {
        if (dir_) return "sqlite:///" + dir_->file("db" + std::to_string(++files_) + ".db");
        scratch_.push_back(std::make_unique<scratch_database>(server_url_));
        return scratch_.back()->url();
    }

private:
    std::string server_url_;
    std::unique_ptr<temp_dir> dir_;
    int files_ = 0;
    std::vector<std::unique_ptr<scratch_database>> scratch_;
};

}  // namespace servreg::test
