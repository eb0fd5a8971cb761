// Tests of the SQLAlchemy-style database URL translation (SPEC section 5): the structured
// targets it gives and the URLs it refuses. The connect strings written from the targets are
// tested in test_storage_connect_string.cpp.
#include <gtest/gtest.h>

#include <algorithm>
#include <expected>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "servreg/config/db_url.h"

using servreg::config::database_host;
using servreg::config::database_kind;
using servreg::config::database_target;
using servreg::config::translate_db_url;

namespace {

using parameters = std::vector<std::pair<std::string, std::string>>;

const std::string supported =
    "supported: sqlite, postgresql, postgresql+psycopg2, postgresql+pg8000, mysql, "
    "mysql+mysqldb, mysql+pymysql";

std::string describe(const std::expected<database_target, std::string>& r) {
    if (!r) return "error: " + r.error();
    std::ostringstream out;
    out << "kind=" << static_cast<int>(r->kind) << " path=[" << r->path << "] hosts=[";
    for (const auto& h : r->hosts) {
        out << (h.ipv6 ? "ipv6:" : "") << h.name << ":" << (h.port ? std::to_string(*h.port) : "-")
            << " ";
    }
    out << "] database=[" << r->database.value_or("-") << "] user=[" << r->user.value_or("-")
        << "] password=" << (r->password ? "yes" : "no") << " parameters=[";
    for (const auto& [key, value] : r->parameters) out << key << "=" << value << " ";
    out << "] display=[" << r->display << "]";
    return out.str();
}

void expect_refusal(const std::string& url, const std::vector<std::string>& fragments) {
    auto r = translate_db_url(url);
    ASSERT_FALSE(r.has_value()) << "url=" << url << " got " << describe(r);
    for (const auto& f : fragments)
        EXPECT_NE(r.error().find(f), std::string::npos)
            << "url=" << url << " error=" << r.error() << " lacks " << f;
}

// The parts of a server target that the tests below spell out.
struct server_parts {
    std::vector<database_host> hosts;
    std::optional<std::string> database;
    std::optional<std::string> user;
    std::optional<std::string> password;
    parameters query;
    std::string display;
};

void expect_server(const std::string& url, database_kind kind, const server_parts& want) {
    auto r = translate_db_url(url);
    ASSERT_TRUE(r.has_value()) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->kind, kind) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->path, "") << "url=" << url << " got " << describe(r);
    ASSERT_EQ(r->hosts.size(), want.hosts.size()) << "url=" << url << " got " << describe(r);
    for (std::size_t i = 0; i < want.hosts.size(); ++i) {
        EXPECT_EQ(r->hosts[i].name, want.hosts[i].name) << "url=" << url << " got " << describe(r);
        EXPECT_EQ(r->hosts[i].port, want.hosts[i].port) << "url=" << url << " got " << describe(r);
        EXPECT_EQ(r->hosts[i].ipv6, want.hosts[i].ipv6) << "url=" << url << " got " << describe(r);
    }
    EXPECT_EQ(r->database, want.database) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->user, want.user) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->password, want.password) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->parameters, want.query) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->display, want.display) << "url=" << url << " got " << describe(r);
}

void expect_sqlite(const std::string& url, const std::string& path, const parameters& query,
                   const std::string& display) {
    auto r = translate_db_url(url);
    ASSERT_TRUE(r.has_value()) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->kind, database_kind::sqlite) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->path, path) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->in_memory(), path == ":memory:") << "url=" << url << " got " << describe(r);
    EXPECT_TRUE(r->hosts.empty() && !r->database && !r->user && !r->password)
        << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->parameters, query) << "url=" << url << " got " << describe(r);
    EXPECT_EQ(r->display, display) << "url=" << url << " got " << describe(r);
}

}  // namespace

TEST(DbUrl, SqlitePathsAndMemory) {
    expect_sqlite("sqlite:///relative/path.db", "relative/path.db", {},
                  "sqlite file relative/path.db");
    expect_sqlite("sqlite:////absolute/path.db", "/absolute/path.db", {},
                  "sqlite file /absolute/path.db");
    expect_sqlite("sqlite:///my data/reg.db", "my data/reg.db", {}, "sqlite file my data/reg.db");
    for (const std::string url :
         {"sqlite://", "sqlite:///:memory:", "sqlite://:memory:", "sqlite:///"})
        expect_sqlite(url, ":memory:", {}, "sqlite in memory");
    expect_sqlite("SQLite:///x.db", "x.db", {}, "sqlite file x.db");
}

TEST(DbUrl, SqliteParametersAreCheckedAndNormalised) {
    expect_sqlite("sqlite:///x.db?synchronous=NORMAL&timeout=5", "x.db",
                  {{"synchronous", "normal"}, {"timeout", "5"}}, "sqlite file x.db");
    expect_sqlite("sqlite:///x.db?readonly=yes&shared_cache=1&vfs=unix-dotfile", "x.db",
                  {{"readonly", "true"}, {"shared_cache", "true"}, {"vfs", "unix-dotfile"}},
                  "sqlite file x.db");
    // SOCI turns readonly on at the mere sight of the key: a false flag is left out.
    expect_sqlite("sqlite:///x.db?readonly=false&shared_cache=no", "x.db", {}, "sqlite file x.db");
}

TEST(DbUrl, PostgresqlParts) {
    for (const std::string scheme : {"postgresql", "postgresql+psycopg2", "postgresql+pg8000"})
        expect_server(scheme + "://svc:secret@db.example:5432/reg", database_kind::postgresql,
                      {.hosts = {{.name = "db.example", .port = 5432, .ipv6 = false}},
                       .database = "reg",
                       .user = "svc",
                       .password = "secret",
                       .query = {},
                       .display = "postgresql database 'reg' on db.example:5432 as user 'svc'"});
}

TEST(DbUrl, MysqlPartsAndParameterNames) {
    expect_server(
        "mysql+pymysql://svc:pw@h:3306/reg?charset=utf8mb4&ssl_ca=/etc/ca.pem&ssl_key=/k%20ey.pem",
        database_kind::mysql,
        {.hosts = {{.name = "h", .port = 3306, .ipv6 = false}},
         .database = "reg",
         .user = "svc",
         .password = "pw",
         .query = {{"charset", "utf8mb4"}, {"sslca", "/etc/ca.pem"}, {"sslkey", "/k ey.pem"}},
         .display = "mysql database 'reg' on h:3306 as user 'svc'"});
    expect_server("mysql+mysqldb://svc@/reg?unix_socket=/run/mysqld/mysqld.sock",
                  database_kind::mysql,
                  {.hosts = {},
                   .database = "reg",
                   .user = "svc",
                   .password = std::nullopt,
                   .query = {{"unix_socket", "/run/mysqld/mysqld.sock"}},
                   .display = "mysql database 'reg' on socket /run/mysqld/mysqld.sock as user "
                              "'svc'"});
}

TEST(DbUrl, UserAndPasswordArePercentDecoded) {
    expect_server("postgresql://us%40er:p%40ss%3Aw%2Fd@h/d", database_kind::postgresql,
                  {.hosts = {{.name = "h", .port = std::nullopt, .ipv6 = false}},
                   .database = "d",
                   .user = "us@er",
                   .password = "p@ss:w/d",
                   .query = {},
                   .display = "postgresql database 'd' on h as user 'us@er'"});
    // Like SQLAlchemy: '+' is not a space in the user info; the password ends at the first '@',
    // and an '@' before the ':' belongs to the user name.
    expect_server("postgresql://a@b:a+b/c?d@h/d", database_kind::postgresql,
                  {.hosts = {{.name = "h", .port = std::nullopt, .ipv6 = false}},
                   .database = "d",
                   .user = "a@b",
                   .password = "a+b/c?d",
                   .query = {},
                   .display = "postgresql database 'd' on h as user 'a@b'"});
}

TEST(DbUrl, Ipv6HostsKeepTheirBracketsInTheDisplay) {
    expect_server("postgresql://u:pw@[::1]:5432/reg", database_kind::postgresql,
                  {.hosts = {{.name = "::1", .port = 5432, .ipv6 = true}},
                   .database = "reg",
                   .user = "u",
                   .password = "pw",
                   .query = {},
                   .display = "postgresql database 'reg' on [::1]:5432 as user 'u'"});
    // A host parameter replaces the URL's host, brackets and all.
    expect_server("postgresql://u@[::1]:5432/d?host=db2", database_kind::postgresql,
                  {.hosts = {{.name = "::1", .port = 5432, .ipv6 = true}},
                   .database = "d",
                   .user = "u",
                   .password = std::nullopt,
                   .query = {{"host", "db2"}},
                   .display = "postgresql database 'd' on db2:5432 as user 'u'"});
}

TEST(DbUrl, MissingPartsAreAbsent) {
    expect_server("postgresql://", database_kind::postgresql,
                  {.hosts = {},
                   .database = std::nullopt,
                   .user = std::nullopt,
                   .password = std::nullopt,
                   .query = {},
                   .display = "postgresql default database on the default host"});
    expect_server("postgresql://:5433/db", database_kind::postgresql,
                  {.hosts = {{.name = "", .port = 5433, .ipv6 = false}},
                   .database = "db",
                   .user = std::nullopt,
                   .password = std::nullopt,
                   .query = {},
                   .display = "postgresql database 'db' on the default host, port 5433"});
    // An empty password or user is none, as in SQLAlchemy.
    expect_server("postgresql://svc:@host:/db", database_kind::postgresql,
                  {.hosts = {{.name = "host", .port = std::nullopt, .ipv6 = false}},
                   .database = "db",
                   .user = "svc",
                   .password = std::nullopt,
                   .query = {},
                   .display = "postgresql database 'db' on host as user 'svc'"});
}

TEST(DbUrl, PostgresqlParametersKeepTheirOrderAndReplaceParts) {
    expect_server("postgresql://svc@/reg?host=/var/run/postgresql&application_name=my%20app+1",
                  database_kind::postgresql,
                  {.hosts = {},
                   .database = "reg",
                   .user = "svc",
                   .password = std::nullopt,
                   .query = {{"host", "/var/run/postgresql"}, {"application_name", "my app 1"}},
                   .display = "postgresql database 'reg' on /var/run/postgresql as user 'svc'"});
}

TEST(DbUrl, SqliteUnknownParameterIsRefusedByName) {
    expect_refusal("sqlite:///x.db?check_same_thread=false",
                   {"check_same_thread", "not supported", "timeout"});
    expect_refusal("sqlite:///x.db?timeout=1&mode=ro", {"'mode'"});
}

TEST(DbUrl, SqliteBadParameterValuesAreRefused) {
    for (const std::string query :
         {"timeout=abc", "timeout=1.5", "timeout=-1", "timeout=", "synchronous=fast",
          "readonly=maybe", "vfs=a%20b", "shared_cache=2"}) {
        std::string key = query.substr(0, query.find('='));
        expect_refusal("sqlite:///x.db?" + query, {"'" + key + "'", "invalid value"});
    }
}

TEST(DbUrl, MalformedQueriesAreRefused) {
    expect_refusal("sqlite:///x.db?timeout", {"'timeout'", "no value"});
    expect_refusal("sqlite:///x.db?timeout=1&timeout=2", {"'timeout'", "twice"});
    expect_refusal("postgresql://h/d?bad-key=1", {"invalid name"});
    expect_refusal("postgresql://h/d?sslmode=%zz", {"'sslmode'", "%-escape"});
}

TEST(DbUrl, SqliteWithHostIsRefused) {
    expect_refusal("sqlite://localhost/x.db", {"sqlite:///relative/path.db"});
    expect_refusal("sqlite://x.db", {"sqlite:////absolute/path.db"});
}

TEST(DbUrl, SqlitePathsThatSociCannotCarryAreRefused) {
    expect_refusal("sqlite:///my \"data\".db", {"space"});
    expect_refusal("sqlite:/// leading.db", {"space"});
}

TEST(DbUrl, BadPercentEscapeIsRefusedWithoutShowingIt) {
    for (const std::string url : {"postgresql://u:S3cr%zzet@h/d", "postgresql://u:S3cret%4@h/d",
                                  "postgresql://u:S3cret%@h/d", "mysql://u:S3cret%00@h/d"}) {
        auto r = translate_db_url(url);
        ASSERT_FALSE(r.has_value()) << "url=" << url << " got " << describe(r);
        EXPECT_NE(r.error().find("password"), std::string::npos)
            << "url=" << url << " " << r.error();
        EXPECT_EQ(r.error().find("S3cr"), std::string::npos) << "url=" << url << " " << r.error();
    }
    expect_refusal("postgresql://%g0:pw@h/d", {"user name", "%-escape"});
}

TEST(DbUrl, PortIsValidated) {
    for (const std::string url :
         {"postgresql://h:abc/d", "postgresql://h:0/d", "postgresql://h:65536/d",
          "mysql://u:pw@h:-1/d", "mysql://h:99999999999999999999/d"})
        expect_refusal(url, {"port", "1 and 65535"});
}

TEST(DbUrl, MalformedIpv6HostsAreRefused) {
    expect_refusal("postgresql://[::1/reg", {"IPv6"});
    expect_refusal("postgresql://[]/reg", {"IPv6"});
    expect_refusal("postgresql://[::1]x/reg", {"unexpected"});
}

TEST(DbUrl, MysqlUnknownOrBadQueryParametersAreRefused) {
    expect_refusal("mysql://h/reg?binary_prefix=true",
                   {"'binary_prefix'", "not supported", "charset"});
    for (const std::string query : {"connect_timeout=0", "read_timeout=x", "local_infile=2",
                                    "reconnect=0", "charset=utf8%20x", "unix_socket="}) {
        std::string key = query.substr(0, query.find('='));
        expect_refusal("mysql://h/reg?" + query, {"'" + key + "'", "invalid value"});
    }
}

TEST(DbUrl, PostgresqlValueWithWhitespaceAndDoubleQuoteIsRefused) {
    auto r = translate_db_url("postgresql://u:S3c%22r%20et@h/d");
    ASSERT_FALSE(r.has_value()) << describe(r);
    EXPECT_NE(r.error().find("password"), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("S3c"), std::string::npos) << r.error();
    expect_refusal("postgresql://h/d?application_name=a%20%22b%22",
                   {"application_name", "whitespace"});
}

TEST(DbUrl, UnsupportedSchemesListTheSupportedOnes) {
    for (const std::string scheme :
         {"oracle+cx_oracle", "mssql+pyodbc", "http", "sqlite3", "postgres", "mariadb"}) {
        auto r = translate_db_url(scheme + "://svc:S3cret@h/d");
        ASSERT_FALSE(r.has_value()) << "scheme=" << scheme << " got " << describe(r);
        EXPECT_EQ(r.error(), "unsupported database URL scheme '" + scheme + "'; " + supported)
            << "scheme=" << scheme;
    }
}

TEST(DbUrl, UrlWithoutSchemeIsRefused) {
    for (const std::string url : {"servreg.db", "", "svc:S3cret@h/d", "/var/lib/servreg.db",
                                  "svc:S3cret@h://d", "://h/d"}) {
        auto r = translate_db_url(url);
        ASSERT_FALSE(r.has_value()) << "url=" << url << " got " << describe(r);
        EXPECT_NE(r.error().find("no scheme"), std::string::npos)
            << "url=" << url << " " << r.error();
        EXPECT_NE(r.error().find(supported), std::string::npos)
            << "url=" << url << " " << r.error();
        EXPECT_EQ(r.error().find("S3cret"), std::string::npos) << "url=" << url << " " << r.error();
    }
}

TEST(DbUrl, PasswordNeverInDisplayNorInErrors) {
    const std::string pw = "S3cretPw";
    const std::vector<std::string> urls = {
        "postgresql://svc:" + pw + "@db.example:5432/reg",
        "postgresql+psycopg2://svc:" + pw + "@[::1]/reg?sslmode=require",
        "postgresql+pg8000://svc:" + pw + "@/reg?host=/tmp",
        "postgresql://h/reg?password=" + pw,
        "mysql://svc:" + pw + "@db.example/reg",
        "mysql+pymysql://svc:" + pw + "@/reg?unix_socket=/s.sock",
        // Failures, each after the password was read.
        "postgresql://svc:" + pw + "@h:notaport/reg",
        "postgresql://svc:" + pw + "@h/reg?bad-key=1",
        "postgresql://svc:" + pw + "@[::1/reg",
        "postgresql://svc:" + pw + "@with@at/reg",
        "mysql://svc:" + pw + "@h/reg?nope=1",
        "mysql://svc:" + pw + "@h/reg?connect_timeout=" + pw,
        "oracle+cx_oracle://svc:" + pw + "@h/reg",
        "svc:" + pw + "@h/reg",
        "mysql://svc:" + pw + "%zz@h/reg",
    };
    for (const auto& url : urls) {
        auto r = translate_db_url(url);
        const std::string& text = r ? r->display : r.error();
        EXPECT_EQ(text.find(pw.substr(0, 5)), std::string::npos)
            << "url=" << url << " text=" << text;
        if (r) {
            // The password field, or libpq's password parameter, is the one place it belongs.
            const bool kept =
                r->password == pw ||
                std::ranges::find(r->parameters, std::pair<std::string, std::string>{
                                                     "password", pw}) != r->parameters.end();
            EXPECT_TRUE(kept) << "url=" << url << " got " << describe(r);
        }
    }
}

TEST(DbUrl, UnescapedAtInPasswordIsRefusedWithAHint) {
    expect_refusal("postgresql://u:p@ss@host/db", {"%40"});
    expect_refusal("mysql://u:p@ss@host/db", {"%40"});
}

TEST(DbUrl, NulIsRefused) {
    expect_refusal(std::string("sqlite:///a\0b.db", 16), {"NUL"});
    expect_refusal("postgresql://u:a%00b@h/d", {"password"});
}

TEST(DbUrl, PostgresqlHostListInLibpqsForm) {
    expect_server("postgresql://svc:pw@h1:5432,h2:5433/reg?target_session_attrs=read-write",
                  database_kind::postgresql,
                  {.hosts = {{.name = "h1", .port = 5432, .ipv6 = false},
                             {.name = "h2", .port = 5433, .ipv6 = false}},
                   .database = "reg",
                   .user = "svc",
                   .password = "pw",
                   .query = {{"target_session_attrs", "read-write"}},
                   .display = "postgresql database 'reg' on h1:5432,h2:5433 as user 'svc'"});
    // A host without a port takes the default; IPv6 keeps its brackets in the display.
    expect_server("postgresql://svc@[::1]:5432,db2/reg", database_kind::postgresql,
                  {.hosts = {{.name = "::1", .port = 5432, .ipv6 = true},
                             {.name = "db2", .port = std::nullopt, .ipv6 = false}},
                   .database = "reg",
                   .user = "svc",
                   .password = std::nullopt,
                   .query = {},
                   .display = "postgresql database 'reg' on [::1]:5432,db2 as user 'svc'"});
}

TEST(DbUrl, PostgresqlHostListInSqlalchemysForm) {
    expect_server(
        "postgresql+psycopg2://svc:pw@/reg?host=h1:5432&host=h2:5433&target_session_attrs=any",
        database_kind::postgresql,
        {.hosts = {{.name = "h1", .port = 5432, .ipv6 = false},
                   {.name = "h2", .port = 5433, .ipv6 = false}},
         .database = "reg",
         .user = "svc",
         .password = "pw",
         .query = {{"target_session_attrs", "any"}},
         .display = "postgresql database 'reg' on h1:5432,h2:5433 as user 'svc'"});
    // Repeated without ports, and a single one with a port, are lists too.
    expect_server("postgresql://@/reg?host=a&host=b", database_kind::postgresql,
                  {.hosts = {{.name = "a", .port = std::nullopt, .ipv6 = false},
                             {.name = "b", .port = std::nullopt, .ipv6 = false}},
                   .database = "reg",
                   .user = std::nullopt,
                   .password = std::nullopt,
                   .query = {},
                   .display = "postgresql database 'reg' on a,b"});
    expect_server("postgresql:///reg?host=[::1]:6543", database_kind::postgresql,
                  {.hosts = {{.name = "::1", .port = 6543, .ipv6 = true}},
                   .database = "reg",
                   .user = std::nullopt,
                   .password = std::nullopt,
                   .query = {},
                   .display = "postgresql database 'reg' on [::1]:6543"});
}

TEST(DbUrl, HostListsThatCannotBeMeantAreRefused) {
    expect_refusal("mysql://u@h1:3306,h2:3306/reg", {"several hosts", "PostgreSQL only"});
    expect_refusal("postgresql://u@h1,h2/reg?host=h3:5432", {"not both"});
    expect_refusal("postgresql://u@h1:5432,/reg", {"empty"});
    expect_refusal("postgresql://u@h1:5432,h2:0/reg", {"port"});
    expect_refusal("postgresql://u@h1:5432,h2:x/reg", {"port"});
    expect_refusal("postgresql://u@/reg?host=h1:5432&host=h2:99999", {"port"});
    expect_refusal("postgresql://u@/reg?host=[::1&host=h2", {"IPv6"});
    expect_refusal("sqlite:///x.db?timeout=1&timeout=2", {"'timeout'", "twice"});
    expect_refusal("mysql://h/d?charset=utf8&charset=latin1", {"'charset'", "twice"});
}
