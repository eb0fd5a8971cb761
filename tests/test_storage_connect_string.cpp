// Tests of the SOCI connect strings written from translated database URLs: byte for byte, and
// read back by SOCI's own backends, so that quoting is checked against the parsers that read it.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>

#include <cctype>
#include <expected>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "servreg/config/db_url.h"
#include "servreg/storage/connect_string.h"
#include "servreg/storage/dialect.h"
#include "servreg/storage/store.h"
#include "utils.h"

using servreg::config::database_kind;
using servreg::config::translate_db_url;

namespace {

// A URL as the store sees it: the target's kind and display, and its SOCI connection.
struct rendered {
    database_kind kind;
    std::string backend;
    std::string connect_string;
    std::string display;
    std::vector<std::string> secrets;
};

std::expected<rendered, std::string> render(const std::string& url) {
    auto target = translate_db_url(url);
    if (!target) return std::unexpected(target.error());
    auto connection = servreg::storage::soci_connection_for(*target);
    return rendered{target->kind, std::move(connection.backend),
                    std::move(connection.connect_string), target->display,
                    std::move(connection.secrets)};
}

std::string describe(const std::expected<rendered, std::string>& r) {
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
        auto r = render(c.url);
        ASSERT_TRUE(r.has_value()) << "url=" << c.url << " got " << describe(r);
        EXPECT_EQ(r->kind, kind) << "url=" << c.url << " got " << describe(r);
        EXPECT_EQ(r->backend, backend) << "url=" << c.url << " got " << describe(r);
        EXPECT_EQ(r->connect_string, c.connect) << "url=" << c.url << " got " << describe(r);
        if (!c.display.empty()) {
            EXPECT_EQ(r->display, c.display) << "url=" << c.url << " got " << describe(r);
        }
    }
}

// Opens the rendered connection with SOCI's sqlite3 backend, so that quoting is checked against
// the parser that will read it, not against our idea of it.
void open_sqlite(const rendered& target) {
    soci::session session(soci::sqlite3, target.connect_string);
    session << "create table if not exists t (x integer)";
}

}  // namespace

TEST(ConnectString, SqliteRelativePath) {
    expect_translation(
        database_kind::sqlite, "sqlite3",
        {{"sqlite:///relative/path.db", "db=relative/path.db timeout=1",
          "sqlite file relative/path.db"},
         {"sqlite:///servreg.db", "db=servreg.db timeout=1", "sqlite file servreg.db"},
         {"sqlite:///./sql_app.db", "db=./sql_app.db timeout=1", "sqlite file ./sql_app.db"}});
}

TEST(ConnectString, SqliteAbsolutePath) {
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"sqlite:////absolute/path.db", "db=/absolute/path.db timeout=1",
                         "sqlite file /absolute/path.db"}});
}

TEST(ConnectString, SqliteMemoryForms) {
    expect_translation(
        database_kind::sqlite, "sqlite3",
        {{"sqlite://", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite:///:memory:", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite://:memory:", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite:///", "db=:memory: timeout=1", "sqlite in memory"},
         {"sqlite:///:memory:?timeout=3", "db=:memory: timeout=3", "sqlite in memory"}});
}

TEST(ConnectString, SchemeIsCaseInsensitive) {
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"SQLite:///x.db", "db=x.db timeout=1", "sqlite file x.db"}});
    expect_translation(database_kind::postgresql, "postgresql",
                       {{"PostgreSQL://h/d", "host=h dbname=d connect_timeout=2", ""}});
}

TEST(ConnectString, SqliteKnownParametersPassOn) {
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

TEST(ConnectString, SqliteFalseFlagsAreLeftOut) {
    // SOCI turns readonly on at the mere sight of the key.
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"sqlite:///x.db?readonly=false", "db=x.db timeout=1", ""},
                        {"sqlite:///x.db?readonly=0&shared_cache=no", "db=x.db timeout=1", ""}});
}

TEST(ConnectString, SqlitePathWithSpacesIsDoubleQuoted) {
    expect_translation(database_kind::sqlite, "sqlite3",
                       {{"sqlite:///my data/reg.db", "db=\"my data/reg.db\" timeout=1",
                         "sqlite file my data/reg.db"},
                        {"sqlite:///\"odd.db", "db=\"\"odd.db\" timeout=1", ""},
                        {"sqlite:///a=b.db", "db=a=b.db timeout=1", ""}});
}

TEST(ConnectString, SqliteConnectStringOpensTheRightFileInSoci) {
    servreg::test::temp_dir dir;
    for (const std::string name : {"plain.db", "with space.db", "two  spaces .db", "a=b.db",
                                   "\"quote-first.db", "quote\"inside.db", "tab\there.db"}) {
        std::filesystem::path path = dir.path() / name;
        auto r = render("sqlite:///" + path.string());
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

TEST(ConnectString, SqliteBusyTimeoutReachesSqlite) {
    for (const auto& [url, millis] : std::vector<std::pair<std::string, int>>{
             {"sqlite://", 1000}, {"sqlite:///:memory:?timeout=7", 7000}}) {
        auto r = render(url);
        ASSERT_TRUE(r.has_value()) << "url=" << url << " got " << describe(r);
        soci::session session(soci::sqlite3, r->connect_string);
        int timeout = -1;
        session << "pragma busy_timeout", soci::into(timeout);
        EXPECT_EQ(timeout, millis) << "url=" << url << " connect=" << r->connect_string;
    }
}

TEST(ConnectString, PostgresqlEveryPrefix) {
    for (const std::string scheme : {"postgresql", "postgresql+psycopg2", "postgresql+pg8000"}) {
        expect_translation(
            database_kind::postgresql, "postgresql",
            {{scheme + "://svc:secret@db.example:5432/reg",
              "host=db.example port=5432 dbname=reg user=svc password=secret connect_timeout=2",
              "postgresql database 'reg' on db.example:5432 as user 'svc'"}});
    }
}

TEST(ConnectString, MysqlEveryPrefix) {
    for (const std::string scheme : {"mysql", "mysql+mysqldb", "mysql+pymysql"}) {
        expect_translation(database_kind::mysql, "mysql",
                           {{scheme + "://svc:secret@db.example:3306/reg",
                             "host=db.example port=3306 db=reg user=svc password=secret "
                             "connect_timeout=2 read_timeout=2 write_timeout=2",
                             "mysql database 'reg' on db.example:3306 as user 'svc'"}});
    }
}

TEST(ConnectString, UserAndPasswordArePercentDecoded) {
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

TEST(ConnectString, Ipv6Host) {
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
}

TEST(ConnectString, EmptyPortIsNoPort) {
    // An empty port is no port, as in SQLAlchemy.
    expect_translation(database_kind::postgresql, "postgresql",
                       {{"postgresql://h:/d", "host=h dbname=d connect_timeout=2", ""}});
}

TEST(ConnectString, MissingPartsAreLeftToTheClientLibrary) {
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

TEST(ConnectString, PostgresqlQueryParametersPassThrough) {
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

TEST(ConnectString, MysqlKnownQueryParametersPassThrough) {
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

TEST(ConnectString, PostgresqlValuesAreQuotedForSociAndLibpq) {
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

TEST(ConnectString, MysqlValuesAreQuoted) {
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

TEST(ConnectString, SecretsNameThePasswordForRedaction) {
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
        auto r = render(url);
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
    auto r = render(url);
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

TEST(ConnectString, PostgresqlValuesSurviveSociAndLibpq) {
    for (const auto& dir : tricky_dirs)
        expect_round_trip("postgresql://us%20er:it%27s%20a%20%5C%20test@:1/my%20db?host=" +
                              percent_encode(dir) + "&application_name=a%20b",
                          "\"" + dir + "/.s.PGSQL.1\"");
}

TEST(ConnectString, MysqlValuesSurviveSociAndTheClientLibrary) {
    for (const auto& dir : tricky_dirs)
        expect_round_trip(
            "mysql://us%20er:it%27s%20a%20%5C%20test@/my%20db?charset=utf8mb4&"
            "unix_socket=" +
                percent_encode(dir + "/mysqld.sock"),
            "'" + dir + "/mysqld.sock'");
}

namespace {

TEST(ConnectString, FindsValuesAsSociReadsThem) {
    using servreg::storage::connect_string_value;
    struct value_case {
        std::string connect_string;
        std::string key;
        std::optional<std::string> want;
    };
    const std::vector<value_case> cases{
        {"db=/tmp/x.db timeout=1", "timeout", "1"},
        {"db=/tmp/x.db timeout=1", "synchronous", std::nullopt},
        {"db=/tmp/x.db timeout=1 synchronous=full", "synchronous", "full"},
        {"db=\"/tmp/a synchronous=full.db\" timeout=1", "synchronous", std::nullopt},
        {"db=\"/tmp/a synchronous=full.db\" timeout=1", "db", "/tmp/a synchronous=full.db"},
        {"db=/tmp/synchronous=1.db", "synchronous", std::nullopt},
        {"host=db dbname=reg user=u password=s3cret", "password", "s3cret"},
        {"host=db password='p w\\'x' user=u", "password", "p w'x"},
        {"host=db password='p w\\'x' user=u", "user", "u"},
        {"readonly", "readonly", ""},
        {"", "db", std::nullopt},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(connect_string_value(c.connect_string, c.key), c.want)
            << "connect_string=" << c.connect_string << " key=" << c.key;
    }
}

}  // namespace

namespace {

TEST(ConnectString, SeveralHostsAreWrittenAsLibpqLists) {
    servreg::config::database_target target;
    target.kind = database_kind::postgresql;
    target.hosts = {{.name = "a", .port = 5432, .ipv6 = false},
                    {.name = "b", .port = 5433, .ipv6 = false}};
    target.database = "reg";
    const auto c = servreg::storage::soci_connection_for(target);
    EXPECT_EQ(c.connect_string, "host=a,b port=5432,5433 dbname=reg connect_timeout=2")
        << "connect=" << c.connect_string;
}

TEST(ConnectString, AValueThatCannotBeWrittenIsAStorageError) {
    // translate_db_url refuses such URLs; a target built by hand reaches the store's check.
    servreg::config::database_target target;
    target.kind = database_kind::postgresql;
    target.password = "S3c \"ret";
    target.display = "postgresql default database on the default host";
    try {
        const auto c = servreg::storage::soci_connection_for(target);
        ADD_FAILURE() << "wrote " << c.connect_string;
    } catch (const servreg::storage::storage_error& e) {
        const std::string what = e.what();
        EXPECT_NE(what.find("password"), std::string::npos) << what;
        EXPECT_EQ(what.find("S3c"), std::string::npos) << what;
    }
}

TEST(ConnectString, ConnectDefaultsGoWhereTheUrlGivesNone) {
    const auto& pg = servreg::storage::dialect_for(database_kind::postgresql);
    auto r = translate_db_url("postgresql://h/d?keepalives_idle=5");
    ASSERT_TRUE(r.has_value()) << r.error();
    auto c = servreg::storage::soci_connection_for(*r);
    servreg::storage::add_connect_defaults(c, pg);
    EXPECT_EQ(c.connect_string,
              "host=h dbname=d connect_timeout=2 keepalives_idle=5 keepalives=1 "
              "keepalives_interval=1 keepalives_count=1 tcp_user_timeout=1500")
        << "connect=" << c.connect_string;
    auto s = servreg::storage::soci_connection_for(*translate_db_url("sqlite:///x.db"));
    servreg::storage::add_connect_defaults(s, servreg::storage::dialect_for(database_kind::sqlite));
    EXPECT_EQ(s.connect_string, "db=x.db timeout=1") << "connect=" << s.connect_string;
}

// The client libraries' own waits follow --db-timeout (the round trip's deadline), within it;
// a URL parameter still replaces each.
TEST(ConnectString, TheServersTimeoutsFollowTheRoundTripsDeadline) {
    using std::chrono::milliseconds;
    const auto& pg = servreg::storage::dialect_for(database_kind::postgresql);
    const auto postgres = [&pg](const char* url, milliseconds round_trip) {
        auto c = servreg::storage::soci_connection_for(*translate_db_url(url), round_trip);
        servreg::storage::add_connect_defaults(c, pg, round_trip);
        return c.connect_string;
    };
    EXPECT_EQ(postgres("postgresql://h/d", milliseconds(10'000)),
              "host=h dbname=d connect_timeout=10 keepalives=1 keepalives_idle=3 "
              "keepalives_interval=3 keepalives_count=1 tcp_user_timeout=7500");
    EXPECT_EQ(postgres("postgresql://h/d", milliseconds(500)),
              "host=h dbname=d connect_timeout=2 keepalives=1 keepalives_idle=1 "
              "keepalives_interval=1 keepalives_count=1 tcp_user_timeout=375");
    EXPECT_EQ(postgres("postgresql://h/d?tcp_user_timeout=900&connect_timeout=4",
                       milliseconds(10'000)),
              "host=h dbname=d connect_timeout=4 tcp_user_timeout=900 keepalives=1 "
              "keepalives_idle=3 keepalives_interval=3 keepalives_count=1");

    const auto mysql = [](const char* url, milliseconds round_trip) {
        return servreg::storage::soci_connection_for(*translate_db_url(url), round_trip)
            .connect_string;
    };
    EXPECT_EQ(mysql("mysql://h/d", milliseconds(10'000)),
              "host=h db=d connect_timeout=10 read_timeout=10 write_timeout=10");
    EXPECT_EQ(mysql("mysql://h/d", milliseconds(2'500)),
              "host=h db=d connect_timeout=3 read_timeout=3 write_timeout=3");
    EXPECT_EQ(mysql("mysql://h/d", milliseconds(500)),
              "host=h db=d connect_timeout=2 read_timeout=1 write_timeout=1");
    EXPECT_EQ(mysql("mysql://h/d?read_timeout=30", milliseconds(10'000)),
              "host=h db=d connect_timeout=10 read_timeout=30 write_timeout=10");
}

}  // namespace

namespace {

TEST(ConnectString, HostListsOfBothUrlFormsBecomeLibpqLists) {
    expect_translation(
        database_kind::postgresql, "postgresql",
        {{"postgresql://u:pw@h1:5432,h2:5433/reg?target_session_attrs=read-write",
          "host=h1,h2 port=5432,5433 dbname=reg user=u password=pw connect_timeout=2 "
          "target_session_attrs=read-write",
          "postgresql database 'reg' on h1:5432,h2:5433 as user 'u'"},
         {"postgresql://u:pw@/reg?host=h1:5432&host=h2:5433&target_session_attrs=read-write",
          "host=h1,h2 port=5432,5433 dbname=reg user=u password=pw connect_timeout=2 "
          "target_session_attrs=read-write",
          "postgresql database 'reg' on h1:5432,h2:5433 as user 'u'"},
         // A host without a port is an empty entry of the port list: libpq's default port.
         {"postgresql://u@h1,h2:5433/reg",
          "host=h1,h2 port=,5433 dbname=reg user=u connect_timeout=2",
          "postgresql database 'reg' on h1,h2:5433 as user 'u'"},
         {"postgresql://u@h1,h2/reg", "host=h1,h2 dbname=reg user=u connect_timeout=2",
          "postgresql database 'reg' on h1,h2 as user 'u'"}});
}

}  // namespace
