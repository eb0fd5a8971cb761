// Tests of the SQLAlchemy-style database URL translation (SPEC section 5), including that the
// connect strings produced are read back correctly by SOCI's own backends.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cctype>
#include <filesystem>
#include <string>
#include <vector>

#include "servreg/config/db_url.h"
#include "utils.h"

using servreg::config::database_kind;
using servreg::config::database_target;
using servreg::config::translate_db_url;

namespace {

const std::string supported =
    "supported: sqlite, postgresql, postgresql+psycopg2, postgresql+pg8000, mysql, "
    "mysql+mysqldb, mysql+pymysql";

std::string describe(const std::expected<database_target, std::string>& r) {
    if (!r) return "error: " + r.error();
    return "backend=" + r->backend + " connect=[" + r->connect_string + "] display=[" + r->display +
           "]";
}

struct expectation {
    std::string url;
    std::string connect;
    std::string display;
};

void expect_translation(database_kind kind, const std::string& backend,
                        const std::vector<expectation>& cases) {
    for (const auto& c : cases) {
        auto r = translate_db_url(c.url);
        ASSERT_TRUE(r.has_value()) << "url=" << c.url << " got " << describe(r);
        EXPECT_EQ(r->kind, kind) << "url=" << c.url << " got " << describe(r);
        EXPECT_EQ(r->backend, backend) << "url=" << c.url << " got " << describe(r);
        EXPECT_EQ(r->connect_string, c.connect) << "url=" << c.url << " got " << describe(r);
        if (!c.display.empty()) {
            EXPECT_EQ(r->display, c.display) << "url=" << c.url << " got " << describe(r);
        }
    }
}

void expect_refusal(const std::string& url, const std::vector<std::string>& fragments) {
    auto r = translate_db_url(url);
    ASSERT_FALSE(r.has_value()) << "url=" << url << " got " << describe(r);
    for (const auto& f : fragments)
        EXPECT_NE(r.error().find(f), std::string::npos)
            << "url=" << url << " error=" << r.error() << " lacks " << f;
}

// Opens the translated target with SOCI's sqlite3 backend, so that quoting is checked against
// the parser that will read it, not against our idea of it.
void open_sqlite(const database_target& target) {
    soci::session session(soci::sqlite3, target.connect_string);
    session << "create table if not exists t (x integer)";
}

}  // namespace

TEST(DbUrl, SqliteRelativePath) {
    expect_translation(
        database_kind::sqlite, "sqlite3",
        {{"sqlite:///relative/path.db", "db=relative/path.db timeout=1",
          "sqlite file relative/path.db"},
         {"sqlite:///servreg.db", "db=servreg.db timeout=1", "sqlite file servreg.db"},
         {"sqlite:///./sql_app.db", "db=./sql_app.db timeout=1", "sqlite file ./sql_app.db"}});
}

TEST(DbUrl, SqliteAbsolutePath) {
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"sqlite:////absolute/path.db", "db=/absolute/path.db timeout=1",
                         "sqlite file /absolute/path.db"}});
}

TEST(DbUrl, SqliteMemoryForms) {
    expect_translation(
        database_kind::sqlite, "sqlite3",
        {{"sqlite://", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite:///:memory:", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite://:memory:", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite:///", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite:///:memory:?timeout=3", "db=:memory: timeout=3", "sqlite in memory"}});
}

TEST(DbUrl, SchemeIsCaseInsensitive) {
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"SQLite:///x.db", "db=x.db timeout=1", "sqlite file x.db"}});
    expect_translation(database_kind::postgresql, "postgresql",
                       {{"PostgreSQL://h/d", "host=h dbname=d connect_timeout=2", ""}});
}

TEST(DbUrl, SqliteKnownParametersPassOn) {
    expect_translation(
        database_kind::sqlite, "sqlite3",
        {{"sqlite:///x.db?timeout=5", "db=x.db timeout=5", ""},
         {"sqlite:///x.db?timeout=0", "db=x.db timeout=0", ""},
         {"sqlite:///x.db?synchronous=NORMAL", "db=x.db timeout=1 synchronous=normal", ""},
         {"sqlite:///x.db?synchronous=2&shared_cache=true&vfs=unix-dotfile",
          "db=x.db timeout=1 synchronous=2 shared_cache=true vfs=unix-dotfile", ""},
         {"sqlite:///x.db?readonly=1", "db=x.db timeout=1 readonly=true", ""},
         {"sqlite:///x.db?readonly=yes&timeout=2", "db=x.db timeout=2 readonly=true", ""}});
}

TEST(DbUrl, SqliteFalseFlagsAreLeftOut) {
    // SOCI turns readonly on at the mere sight of the key.
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"sqlite:///x.db?readonly=false", "db=x.db timeout=1", ""},
                        {"sqlite:///x.db?readonly=0&shared_cache=no", "db=x.db timeout=1", ""}});
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

TEST(DbUrl, SqlitePathWithSpacesIsDoubleQuoted) {
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"sqlite:///my data/reg.db", "db=\"my data/reg.db\" timeout=1",
                         "sqlite file my data/reg.db"},
                        {"sqlite:///\"odd.db", "db=\"\"odd.db\" timeout=1", ""},
                        {"sqlite:///a=b.db", "db=a=b.db timeout=1", ""}});
}

TEST(DbUrl, SqlitePathsThatSociCannotCarryAreRefused) {
    expect_refusal("sqlite:///my \"data\".db", {"space"});
    expect_refusal("sqlite:/// leading.db", {"space"});
}

TEST(DbUrl, SqliteConnectStringOpensTheRightFileInSoci) {
    servreg::test::temp_dir dir;
    for (const std::string name : {"plain.db", "with space.db", "two  spaces .db", "a=b.db",
                                   "\"quote-first.db", "quote\"inside.db", "tab\there.db"}) {
        std::filesystem::path path = dir.path() / name;
        auto r = translate_db_url("sqlite:///" + path.string());
        ASSERT_TRUE(r.has_value()) << "path=" << path << " got " << describe(r);
        open_sqlite(*r);
        EXPECT_TRUE(std::filesystem::exists(path))
            << "path=" << path << " connect=" << r->connect_string;
        EXPECT_EQ(r->display, "sqlite file " + path.string());
    }
    // Nothing but the expected files: a misparsed path would have created another one.
    EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                            std::filesystem::directory_iterator()),
              7);
}

TEST(DbUrl, SqliteBusyTimeoutReachesSqlite) {
    for (const auto& [url, millis] : std::vector<std::pair<std::string, int>>{
             {"sqlite://", 1000}, {"sqlite:///:memory:?timeout=7", 7000}}) {
        auto r = translate_db_url(url);
        ASSERT_TRUE(r.has_value()) << "url=" << url << " got " << describe(r);
        soci::session session(soci::sqlite3, r->connect_string);
        int timeout = -1;
        session << "pragma busy_timeout", soci::into(timeout);
        EXPECT_EQ(timeout, millis) << "url=" << url << " connect=" << r->connect_string;
    }
}

TEST(DbUrl, PostgresqlEveryPrefix) {
    for (const std::string scheme : {"postgresql", "postgresql+psycopg2", "postgresql+pg8000"}) {
        expect_translation(
            database_kind::postgresql, "postgresql",
            {{scheme + "://svc:secret@db.example:5432/reg",
              "host=db.example port=5432 dbname=reg user=svc password=secret connect_timeout=2",
              "postgresql database 'reg' on db.example:5432 as user 'svc'"}});
    }
}

TEST(DbUrl, MysqlEveryPrefix) {
    for (const std::string scheme : {"mysql", "mysql+mysqldb", "mysql+pymysql"}) {
        expect_translation(database_kind::mysql, "mysql",
                           {{scheme + "://svc:secret@db.example:3306/reg",
                             "host=db.example port=3306 db=reg user=svc password=secret "
                             "connect_timeout=2 read_timeout=2 write_timeout=2",
                             "mysql database 'reg' on db.example:3306 as user 'svc'"}});
    }
}

TEST(DbUrl, UserAndPasswordArePercentDecoded) {
    expect_translation(
        database_kind::postgresql, "postgresql",
        {{"postgresql://us%40er:p%40ss%3Aw%2Fd@h/d",
          "host=h dbname=d user=us@er password=p@ss:w/d connect_timeout=2",
          "postgresql database 'd' on h as user 'us@er'"},
         // Like SQLAlchemy: '+' is not a space in the user info, and ':' may follow the first.
         {"postgresql://u:a+b:c@h/d", "host=h dbname=d user=u password=a+b:c connect_timeout=2",
          ""},
         // The password ends at the first '@'; an unescaped '/' or '?' in it is kept.
         {"postgresql://u:a/b?c@h/d", "host=h dbname=d user=u password=a/b?c connect_timeout=2",
          ""},
         // An '@' in the user name, before the ':', belongs to the user name.
         {"postgresql://a@b:pw@h/d", "host=h dbname=d user=a@b password=pw connect_timeout=2",
          ""}});
    expect_translation(database_kind::mysql, "mysql",
                       {{"mysql://r%C3%A9my:%25%26%3D@h/d",
                         "host=h db=d user=rémy password=%&= connect_timeout=2 read_timeout=2 "
                         "write_timeout=2",
                         ""}});
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
    // An empty port is no port, as in SQLAlchemy.
    expect_translation(database_kind::postgresql, "postgresql",
                       {{"postgresql://h:/d", "host=h dbname=d connect_timeout=2", ""}});
}

TEST(DbUrl, Ipv6Host) {
    expect_translation(
        database_kind::postgresql, "postgresql",
        {{"postgresql://u:pw@[::1]:5432/reg",
          "host=::1 port=5432 dbname=reg user=u password=pw connect_timeout=2",
          "postgresql database 'reg' on [::1]:5432 as user 'u'"},
         {"postgresql://[fe80::1%25eth0]/reg", "host=fe80::1%25eth0 dbname=reg connect_timeout=2",
          "postgresql database 'reg' on fe80::1%25eth0"}});
    expect_translation(database_kind::mysql, "mysql",
                       {{"mysql://[2001:db8::5]:3307/reg",
                         "host=2001:db8::5 port=3307 db=reg connect_timeout=2 read_timeout=2 "
                         "write_timeout=2",
                         "mysql database 'reg' on [2001:db8::5]:3307"}});
    expect_refusal("postgresql://[::1/reg", {"IPv6"});
    expect_refusal("postgresql://[]/reg", {"IPv6"});
    expect_refusal("postgresql://[::1]x/reg", {"unexpected"});
}

TEST(DbUrl, MissingPartsAreLeftToTheClientLibrary) {
    expect_translation(
        database_kind::postgresql, "postgresql",
        {{"postgresql:///dbname", "dbname=dbname connect_timeout=2",
          "postgresql database 'dbname' on the default host"},
         {"postgresql://host/db", "host=host dbname=db connect_timeout=2",
          "postgresql database 'db' on host"},
         {"postgresql://", "connect_timeout=2", "postgresql default database on the default host"},
         {"postgresql://svc@host", "host=host user=svc connect_timeout=2",
          "postgresql default database on host as user 'svc'"},
         {"postgresql://host:5433", "host=host port=5433 connect_timeout=2",
          "postgresql default database on host:5433"},
         {"postgresql://:5433/db", "port=5433 dbname=db connect_timeout=2",
          "postgresql database 'db' on the default host, port 5433"},
         {"postgresql://svc:@host/db", "host=host dbname=db user=svc connect_timeout=2", ""},
         {"postgresql://@host/db", "host=host dbname=db connect_timeout=2", ""}});
    expect_translation(database_kind::mysql, "mysql",
                       {{"mysql:///reg", "db=reg connect_timeout=2 read_timeout=2 write_timeout=2",
                         "mysql database 'reg' on the default host"}});
}

TEST(DbUrl, PostgresqlQueryParametersPassThrough) {
    expect_translation(
        database_kind::postgresql, "postgresql",
        {{"postgresql://h/d?sslmode=require&application_name=my%20app+1",
          "host=h dbname=d connect_timeout=2 sslmode=require application_name=\"'my app 1'\"", ""},
         {"postgresql://h/d?connect_timeout=10", "host=h dbname=d connect_timeout=10", ""},
         // The usual way to reach a Unix socket directory.
         {"postgresql://svc@/reg?host=/var/run/postgresql",
          "dbname=reg user=svc connect_timeout=2 host=/var/run/postgresql",
          "postgresql database 'reg' on /var/run/postgresql as user 'svc'"},
         {"postgresql://u@[::1]:5432/d?host=db2",
          "host=db2 port=5432 dbname=d user=u connect_timeout=2",
          "postgresql database 'd' on db2:5432 as user 'u'"}});
}

TEST(DbUrl, MysqlKnownQueryParametersPassThrough) {
    expect_translation(
        database_kind::mysql, "mysql",
        {{"mysql+pymysql://svc:pw@h/reg?charset=utf8mb4&ssl_ca=/etc/ca.pem&sslcert=/c.pem&"
          "ssl_key=/k%20ey.pem&local_infile=0&reconnect=1",
          "host=h db=reg user=svc password=pw connect_timeout=2 read_timeout=2 write_timeout=2 "
          "charset=utf8mb4 sslca=/etc/ca.pem sslcert=/c.pem sslkey='/k ey.pem' local_infile=0 "
          "reconnect=1",
          ""},
         {"mysql://h/reg?connect_timeout=5&write_timeout=9",
          "host=h db=reg connect_timeout=5 read_timeout=2 write_timeout=9", ""},
         {"mysql+mysqldb://svc@/reg?unix_socket=/run/mysqld/mysqld.sock",
          "db=reg user=svc connect_timeout=2 read_timeout=2 write_timeout=2 "
          "unix_socket=/run/mysqld/mysqld.sock",
          "mysql database 'reg' on socket /run/mysqld/mysqld.sock as user 'svc'"}});
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

TEST(DbUrl, PostgresqlValuesAreQuotedForSociAndLibpq) {
    // 'it's a \ test' percent-encoded in the password.
    const std::string password = "it%27s%20a%20%5C%20test";
    expect_translation(
        database_kind::postgresql, "postgresql",
        {{"postgresql://u:" + password + "@h/d",
          R"(host=h dbname=d user=u password="'it\'s a \\ test'" connect_timeout=2)", ""},
         {"postgresql://my%20user@h/my%20db",
          R"(host=h dbname=my%20db user="'my user'" connect_timeout=2)", ""},
         {"postgresql://u:x@h/d?options=-c%20search_path%3Dreg",
          R"(host=h dbname=d user=u password=x connect_timeout=2 options="'-c search_path=reg'")",
          ""},
         // Without whitespace: unquoted, with backslash escapes (a leading '"' included).
         {"postgresql://u:it%27s%5Cx%22q@h/d",
          R"(host=h dbname=d user=u password=it\'s\\x\"q connect_timeout=2)", ""},
         {"postgresql://u:%22lead@h/d",
          R"(host=h dbname=d user=u password=\"lead connect_timeout=2)", ""},
         {"postgresql://h/d?application_name=",
          "host=h dbname=d connect_timeout=2 application_name=''", ""},
         {"postgresql://u:tab%09in@h/d",
          "host=h dbname=d user=u password=\"'tab\tin'\" connect_timeout=2", ""}});
}

TEST(DbUrl, PostgresqlValueWithWhitespaceAndDoubleQuoteIsRefused) {
    auto r = translate_db_url("postgresql://u:S3c%22r%20et@h/d");
    ASSERT_FALSE(r.has_value()) << describe(r);
    EXPECT_NE(r.error().find("password"), std::string::npos) << r.error();
    EXPECT_EQ(r.error().find("S3c"), std::string::npos) << r.error();
    expect_refusal("postgresql://h/d?application_name=a%20%22b%22",
                   {"application_name", "whitespace"});
}

TEST(DbUrl, MysqlValuesAreQuoted) {
    const std::string password = "it%27s%20a%20%5C%20test";
    expect_translation(database_kind::mysql, "mysql",
                       {{"mysql://u:" + password + "@h/d",
                         R"(host=h db=d user=u password='it\'s a \\ test' connect_timeout=2 )"
                         R"(read_timeout=2 write_timeout=2)",
                         ""},
                        {"mysql://u:%22q%22@h/d",
                         R"(host=h db=d user=u password="q" connect_timeout=2 read_timeout=2 )"
                         R"(write_timeout=2)",
                         ""}});
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
            // The connect string is the one place the password belongs.
            EXPECT_NE(r->connect_string.find(pw), std::string::npos) << "url=" << url;
        }
    }
}

TEST(DbUrl, SecretsNameThePasswordForRedaction) {
    const std::vector<std::pair<std::string, std::vector<std::string>>> cases{
        {"postgresql://u:pw@h/d", {"pw"}},
        {"postgresql://u:a%20b%27c@h/d", {"a b'c", R"("'a b\'c'")"}},
        {"postgresql://h/d?password=q%27", {"q'", R"(q\')"}},
        {"mysql+pymysql://u:a%20b@h/d", {"a b", "'a b'"}},
        {"mysql://u@h/d", {}},
        {"postgresql://u:@h/d", {}},
        {"sqlite:///x.db", {}},
    };
    for (const auto& [url, secrets] : cases) {
        auto r = translate_db_url(url);
        ASSERT_TRUE(r.has_value()) << "url=" << url << " got " << describe(r);
        EXPECT_EQ(r->secrets, secrets) << "url=" << url << " got " << describe(r);
        if (!r->secrets.empty()) {
            // The last one is the spelling a log of the connect string would show.
            EXPECT_NE(r->connect_string.find(r->secrets.back()), std::string::npos)
                << "url=" << url << " secret=" << r->secrets.back()
                << " connect=" << r->connect_string;
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

namespace {

std::string percent_encode(const std::string& s) {
    static const char* hex = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : s) {
        if (std::isalnum(c) != 0) {
            out.push_back(static_cast<char>(c));
        } else {
            out += {'%', hex[c >> 4], hex[c & 15]};
        }
    }
    return out;
}

// Connects through a Unix socket that does not exist: the client library's error names the
// socket path exactly as it read it, which shows that a tricky value survived SOCI's and the
// library's parsing intact. Skips when the backend's shared library cannot be loaded.
void expect_round_trip(const std::string& url, const std::string& echoed) {
    auto r = translate_db_url(url);
    ASSERT_TRUE(r.has_value()) << "url=" << url << " got " << describe(r);
    try {
        soci::session session(r->backend, r->connect_string);
        FAIL() << "url=" << url << " connected to a missing socket";
    } catch (const soci::soci_error& e) {
        std::string what = e.what();
        if (what.find("shared library") != std::string::npos ||
            what.find("Failed to find") != std::string::npos) {
            GTEST_SKIP() << "backend " << r->backend << " not loadable: " << what;
        }
        EXPECT_NE(what.find(echoed), std::string::npos)
            << "url=" << url << " connect=" << r->connect_string << " error=" << what << " lacks "
            << echoed;
    }
}

const std::vector<std::string> tricky_dirs = {"/nonexistent/with space/it's a \\ dir",
                                              "/nonexistent/it's\\x\"q", "/nonexistent/tab\there"};

}  // namespace

TEST(DbUrl, PostgresqlValuesSurviveSociAndLibpq) {
    for (const auto& dir : tricky_dirs)
        expect_round_trip("postgresql://us%20er:it%27s%20a%20%5C%20test@:1/my%20db?host=" +
                              percent_encode(dir) + "&application_name=a%20b",
                          "\"" + dir + "/.s.PGSQL.1\"");
}

TEST(DbUrl, MysqlValuesSurviveSociAndTheClientLibrary) {
    for (const auto& dir : tricky_dirs)
        expect_round_trip(
            "mysql://us%20er:it%27s%20a%20%5C%20test@/my%20db?charset=utf8mb4&"
            "unix_socket=" +
                percent_encode(dir + "/mysqld.sock"),
            "'" + dir + "/mysqld.sock'");
}
