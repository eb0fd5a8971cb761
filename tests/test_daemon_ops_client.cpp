// The command-line client (SPEC section 8) against a running daemon: every subcommand, as a
// table and with --json, the registry URL from the option or the environment, the API token,
// and each exit status (0 success, 1 registry error, 2 bad usage, 3 unreachable). Also the
// subcommands of SPEC 4.1 (ping and unregister by URL, drain, undrain, --meta), against a
// scripted registry that answers as the SPEC writes, and against the daemon; and watch (SPEC
// 4.2), read as it prints, change by change.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <future>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "utils.h"

namespace servreg::test {
namespace {

using nlohmann::json;

constexpr const char* token = "cl1ent-t0ken";

// Whether the daemon has SPEC 4.1's methods and parameters (ping with url and meta, drain,
// undrain, the new list_services fields). The tests that need them skip until it does: set it
// to true, the one place, once the daemon has them.
constexpr bool daemon_has_url_pings = true;
#define SKIP_WITHOUT_URL_PINGS() \
    if (!daemon_has_url_pings) GTEST_SKIP() << "needs the daemon's url pings"

// servreg watch in the background. Its stdout goes to a file, read line by line as it grows:
// a file, like a pipe, is fully buffered, so a change shows only if the client flushes it.
class watch_process {
public:
    explicit watch_process(std::vector<std::string> args)
        : args_(std::move(args)), out_path_(dir_.file("out")), err_path_(dir_.file("err")) {
        pid_ = spawn_servreg(args_, {}, out_path_, err_path_);
    }
    ~watch_process() {
        if (!exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    watch_process(const watch_process&) = delete;
    watch_process& operator=(const watch_process&) = delete;

    // The next line printed, without its newline; nothing when none comes within `limit`.
    std::optional<std::string> next_line(
        std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        std::optional<std::string> line;
        wait_until(
            [&] {
                const std::string out = read_file(out_path_);
                const auto end = out.find('\n', consumed_);
                if (end == std::string::npos) return false;
                line = out.substr(consumed_, end - consumed_);
                consumed_ = end + 1;
                return true;
            },
            limit);
        return line;
    }

    // The next change of the table form: its "--- TIME, index N: ..." line and the table of
    // locate below it (none for "no alive instance"); nothing when it is not all there in time.
    struct change {
        std::uint64_t index = 0;
        std::string heading;
        std::vector<std::string> table;
    };
    std::optional<change> next_change(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        static const std::regex heading(
            R"(--- \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, index (\d+): (no alive instance|(\d+) alive instances?))");
        auto line = next_line(limit);
        std::smatch m;
        if (!line || !std::regex_match(*line, m, heading)) return std::nullopt;
        change c{std::stoull(m[1].str()), *line, {}};
        const std::size_t rows = m[3].matched ? std::stoul(m[3].str()) + 1 : 0;
        while (c.table.size() < rows) {
            auto row = next_line(limit);
            if (!row) return std::nullopt;
            c.table.push_back(*row);
        }
        return c;
    }

    // Waits for the process to end: its exit status, 128 + the signal that ended it, or -1
    // when it still runs after `limit`.
    int wait(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        if (!exited_) {
            wait_until([&] { return exited_ = ::waitpid(pid_, &status_, WNOHANG) == pid_; }, limit);
            if (!exited_) return -1;
        }
        if (WIFEXITED(status_)) return WEXITSTATUS(status_);
        return WIFSIGNALED(status_) ? 128 + WTERMSIG(status_) : -1;
    }
    void signal(int sig) const { ::kill(pid_, sig); }

    std::string describe() {
        run_result r;
        r.status = wait(std::chrono::milliseconds(0));  // -1 while it runs
        r.out = read_file(out_path_);
        r.err = read_file(err_path_);
        return servreg::test::describe(args_, r);
    }

private:
    temp_dir dir_;
    std::vector<std::string> args_;
    std::string out_path_;
    std::string err_path_;
    pid_t pid_ = -1;
    bool exited_ = false;
    int status_ = 0;
    std::size_t consumed_ = 0;
};

class DaemonClient : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        daemon_ = std::make_unique<registry_daemon>(std::vector<std::string>{"--api-token", token});
    }
    static void TearDownTestSuite() { daemon_.reset(); }
    static std::string url() {
        return "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/api";
    }
    // Runs a subcommand against the daemon, with the token unless `with_token` is false.
    static run_result client(std::vector<std::string> args, bool with_token = true) {
        args.insert(args.begin() + 1, {"--registry", url()});
        if (with_token) args.insert(args.begin() + 1, {"--api-token", token});
        last_args_ = args;
        return run_servreg(args);
    }
    // Runs a subcommand that must succeed; a failure shows the command and its output.
    static ::testing::AssertionResult succeeds(std::vector<std::string> args) {
        auto r = client(std::move(args));
        if (r.status == 0) return ::testing::AssertionSuccess();
        return ::testing::AssertionFailure() << describe(last_args_, r);
    }
    static inline std::unique_ptr<registry_daemon> daemon_;
    static inline std::vector<std::string> last_args_;
};

TEST_F(DaemonClient, PingRegistersAndSaysSo) {
    auto r = client({"ping", "client.ping", "10.40.0.1", "8001"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "pinged client.ping at 10.40.0.1:8001\n") << describe(last_args_, r);
    auto x = call(daemon_->port(), "locate_service", {"client.ping"});
    EXPECT_EQ(x.result(), json::array({{{"host", "10.40.0.1"}, {"port", 8001}}})) << x.describe();
}

TEST_F(DaemonClient, PingJsonPrintsTheResult) {
    auto r = client({"ping", "--json", "client.pingjson", "10.40.0.2", "1"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), true) << describe(last_args_, r);
}

TEST_F(DaemonClient, LocatePrintsATableOfAliveInstances) {
    ASSERT_EQ(client({"ping", "client.loc", "10.40.1.2", "9002"}).status, 0);
    ASSERT_EQ(client({"ping", "client.loc", "10.40.1.1", "9001"}).status, 0);
    auto r = client({"locate", "client.lo?"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out,
              "HOST       PORT\n"
              "10.40.1.1  9001\n"
              "10.40.1.2  9002\n")
        << describe(last_args_, r);

    r = client({"locate", "--json", "client.loc"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false),
              json::parse(R"([{"host":"10.40.1.1","port":9001},{"host":"10.40.1.2","port":9002}])"))
        << describe(last_args_, r);
}

TEST_F(DaemonClient, LocateWithoutMatchSucceedsWithNothingOnStdout) {
    auto r = client({"locate", "client.nothing.*"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "") << describe(last_args_, r);
    EXPECT_NE(r.err.find("no alive instance matches"), std::string::npos)
        << describe(last_args_, r);
    r = client({"locate", "--json", "client.nothing.*"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), json::array()) << describe(last_args_, r);
}

TEST_F(DaemonClient, ListShowsEveryInstanceWithStateAndTimes) {
    ASSERT_EQ(client({"ping", "client.list.a", "10.40.2.1", "1"}).status, 0);
    ASSERT_EQ(client({"ping", "client.list.b", "10.40.2.2", "2"}).status, 0);
    auto r = client({"list", "client.list.*"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    const std::regex table(
        "NAME +HOST +PORT +STATE +FIRST SEEN +LAST SEEN\n"
        "client\\.list\\.a +10\\.40\\.2\\.1 +1 +alive +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d "
        "UTC +\\d+ s ago\n"
        "client\\.list\\.b +10\\.40\\.2\\.2 +2 +alive +\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d "
        "UTC +\\d+ s ago\n");
    EXPECT_TRUE(std::regex_match(r.out, table)) << describe(last_args_, r);

    r = client({"list", "--json", "client.list.*"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    auto listed = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(listed.is_array()) << describe(last_args_, r);
    ASSERT_EQ(listed.size(), 2u) << describe(last_args_, r);
    EXPECT_EQ(listed[0]["name"], "client.list.a");
    EXPECT_EQ(listed[0]["alive"], true);
    EXPECT_TRUE(listed[0]["first_seen"].is_string()) << listed.dump();
}

TEST_F(DaemonClient, ListWithoutPatternListsEverything) {
    ASSERT_EQ(client({"ping", "client.all", "10.40.3.1", "1"}).status, 0);
    auto r = client({"list", "--json"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    auto listed = json::parse(r.out, nullptr, false);
    auto everything = call(daemon_->port(), "list_services").result();
    EXPECT_EQ(listed.size(), everything.size()) << describe(last_args_, r);
}

TEST_F(DaemonClient, UnregisterSaysWhetherTheInstanceWasKnown) {
    ASSERT_EQ(client({"ping", "client.unreg", "10.40.4.1", "7"}).status, 0);
    auto r = client({"unregister", "10.40.4.1", "7"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "unregistered 10.40.4.1:7\n") << describe(last_args_, r);
    r = client({"unregister", "10.40.4.1", "7"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "10.40.4.1:7 was not registered\n") << describe(last_args_, r);
    r = client({"unregister", "--json", "10.40.4.1", "7"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), false) << describe(last_args_, r);
}

TEST_F(DaemonClient, PingByUrlAndLocateShowsTheUrl) {
    SKIP_WITHOUT_URL_PINGS();
    // Not the http://host:port/api a host-and-port ping names, so `list` needs its URL column.
    const std::string at = "http://10.41.0.1:8001/v2/rpc";
    auto r = client({"ping", "client.url", at});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "pinged client.url at " + at + "\n") << describe(last_args_, r);
    auto x = call(daemon_->port(), "locate_service", {"client.url"});
    EXPECT_EQ(x.result(), json::array({at})) << x.describe();

    ASSERT_TRUE(succeeds({"ping", "client.url", "10.41.0.2", "8002"}));
    r = client({"locate", "client.url"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "URL\n" + at + "\nhttp://10.41.0.2:8002/api\n") << describe(last_args_, r);
    r = client({"locate", "--json", "client.url"});
    EXPECT_EQ(
        json::parse(r.out, nullptr, false),
        json::parse(R"(["http://10.41.0.1:8001/v2/rpc", {"host": "10.41.0.2", "port": 8002}])"))
        << describe(last_args_, r);

    r = client({"list", "client.url"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_NE(r.out.find("URL"), std::string::npos) << describe(last_args_, r);
    EXPECT_NE(r.out.find(at), std::string::npos) << describe(last_args_, r);

    r = client({"unregister", at});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "unregistered " + at + "\n") << describe(last_args_, r);
    r = client({"unregister", "http://10.41.0.2:8002/api"});
    EXPECT_EQ(r.out, "unregistered http://10.41.0.2:8002/api\n")
        << "the same instance as 10.41.0.2 8002" << describe(last_args_, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.url"}).result(), json::array());
}

TEST_F(DaemonClient, PingMetaAndLocateByMeta) {
    SKIP_WITHOUT_URL_PINGS();
    ASSERT_TRUE(succeeds({"ping", "--meta", "zone=a", "client.meta", "10.42.0.1", "1"}));
    ASSERT_TRUE(succeeds({"ping", "--meta", "zone=b", "--meta", "tier=gold", "client.meta",
                          "http://10.42.0.2:2/api"}));
    auto r = client({"locate", "--meta", "zone=a", "client.meta"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "HOST       PORT\n10.42.0.1  1\n") << describe(last_args_, r);
    r = client({"locate", "--json", "--meta", "zone=b", "--meta", "tier=gold", "client.meta"});
    EXPECT_EQ(json::parse(r.out, nullptr, false), json::array({"http://10.42.0.2:2/api"}))
        << describe(last_args_, r);
    r = client({"locate", "--meta", "zone=c", "client.meta"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "") << describe(last_args_, r);

    r = client({"list", "--json", "client.meta"});
    auto listed = json::parse(r.out, nullptr, false);
    ASSERT_TRUE(listed.is_array() && listed.size() == 2) << describe(last_args_, r);
    EXPECT_EQ(listed[0]["meta"], json({{"zone", "a"}})) << describe(last_args_, r);
    r = client({"list", "client.meta"});
    EXPECT_NE(r.out.find("tier=gold,zone=b"), std::string::npos) << describe(last_args_, r);

    // The registry refuses a key the client lets through: exit status 1.
    r = client({"ping", "--meta", "bad key=1", "client.meta", "10.42.0.1", "1"});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32602"), std::string::npos) << describe(last_args_, r);
}

TEST_F(DaemonClient, DrainLeavesAnInstanceOutUntilUndrain) {
    SKIP_WITHOUT_URL_PINGS();
    ASSERT_TRUE(succeeds({"ping", "client.drain", "10.43.0.1", "1"}));
    ASSERT_TRUE(succeeds({"ping", "client.drain", "http://10.43.0.2:2/api"}));
    auto r = client({"drain", "10.43.0.1", "1"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "drained 10.43.0.1:1\n") << describe(last_args_, r);
    r = client({"drain", "--json", "http://10.43.0.2:2/api"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), true) << describe(last_args_, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.drain"}).result(), json::array());

    r = client({"list", "client.drain"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_NE(r.out.find("draining"), std::string::npos) << describe(last_args_, r);
    EXPECT_EQ(r.out.find(" alive "), std::string::npos) << describe(last_args_, r);

    r = client({"undrain", "http://10.43.0.1:1/api"});
    ASSERT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "undrained http://10.43.0.1:1/api\n") << describe(last_args_, r);
    auto x = call(daemon_->port(), "locate_service", {"client.drain"});
    EXPECT_EQ(x.result(), json::array({{{"host", "10.43.0.1"}, {"port", 1}}})) << x.describe();

    // An unknown instance: said so, exit status 0 as for unregister; false with --json.
    r = client({"drain", "10.43.9.9", "9"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(r.out, "10.43.9.9:9 is not registered: nothing to drain\n")
        << describe(last_args_, r);
    r = client({"undrain", "--json", "http://10.43.9.9:9/api"});
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false), false) << describe(last_args_, r);

    // Writes: without the token, refused and nothing changes.
    r = client({"undrain", "http://10.43.0.2:2/api"}, false);
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32001"), std::string::npos) << describe(last_args_, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.drain"}).result().size(), 1u);
}

TEST_F(DaemonClient, WatchPrintsTheAnswerAtOnceAndAgainAtEveryChange) {
    ASSERT_TRUE(succeeds({"ping", "client.watch", "10.44.0.2", "2"}));
    watch_process watch({"watch", "--registry", url(), "client.wat?h"});
    auto first = watch.next_change();
    ASSERT_TRUE(first) << watch.describe();
    EXPECT_NE(first->heading.find(": 1 alive instance"), std::string::npos) << watch.describe();
    EXPECT_EQ(first->table, (std::vector<std::string>{"HOST       PORT", "10.44.0.2  2"}))
        << watch.describe();

    // A new instance: printed again, with a new index, well within the 30 s of --wait.
    auto started = std::chrono::steady_clock::now();
    ASSERT_TRUE(succeeds({"ping", "client.watch", "10.44.0.1", "1"}));
    auto second = watch.next_change();
    const auto took = std::chrono::steady_clock::now() - started;
    ASSERT_TRUE(second) << watch.describe();
    EXPECT_NE(second->index, first->index) << watch.describe();
    EXPECT_EQ(second->table,
              (std::vector<std::string>{"HOST       PORT", "10.44.0.1  1", "10.44.0.2  2"}))
        << watch.describe();
    EXPECT_LT(took, std::chrono::seconds(5)) << watch.describe();

    // A heartbeat changes nothing; a drain and an unregister do.
    ASSERT_TRUE(succeeds({"ping", "client.watch", "10.44.0.1", "1"}));
    ASSERT_TRUE(succeeds({"drain", "10.44.0.1", "1"}));
    auto third = watch.next_change();
    ASSERT_TRUE(third) << watch.describe();
    EXPECT_EQ(third->table, (std::vector<std::string>{"HOST       PORT", "10.44.0.2  2"}))
        << "the drain, and nothing for the heartbeat before it" << watch.describe();
    ASSERT_TRUE(succeeds({"unregister", "10.44.0.2", "2"}));
    auto fourth = watch.next_change();
    ASSERT_TRUE(fourth) << watch.describe();
    EXPECT_NE(fourth->heading.find(": no alive instance"), std::string::npos) << watch.describe();
    EXPECT_TRUE(fourth->table.empty()) << watch.describe();

    // SIGTERM ends it between two prints, with exit status 0.
    watch.signal(SIGTERM);
    EXPECT_EQ(watch.wait(), 0) << watch.describe();
    EXPECT_FALSE(watch.next_line(std::chrono::milliseconds(0))) << watch.describe();
}

TEST_F(DaemonClient, WatchJsonPrintsOneReplyALine) {
    ASSERT_TRUE(succeeds({"ping", "--meta", "zone=a", "client.wjson", "10.44.1.1", "1"}));
    ASSERT_TRUE(succeeds({"ping", "--meta", "zone=b", "client.wjson", "10.44.1.2", "2"}));
    watch_process watch(
        {"watch", "--json", "--registry", url(), "--meta", "zone=a", "--wait", "5", "client.wjs*"});
    const auto next = [&watch]() -> json {
        auto line = watch.next_line();
        return line ? json::parse(*line, nullptr, false) : json();
    };
    json first = next();
    ASSERT_TRUE(first.is_object()) << watch.describe();
    EXPECT_EQ(first["instances"], json::parse(R"([{"host": "10.44.1.1", "port": 1}])"))
        << watch.describe();
    ASSERT_TRUE(first["index"].is_number_unsigned()) << watch.describe();
    EXPECT_GT(first["index"].get<std::uint64_t>(), 0u) << watch.describe();
    EXPECT_EQ(first.size(), 2u) << watch.describe();

    // An instance without zone=a changes nothing this watch sees; one with it does.
    ASSERT_TRUE(succeeds({"ping", "--meta", "zone=b", "client.wjson", "10.44.1.3", "3"}));
    ASSERT_TRUE(succeeds({"ping", "--meta", "zone=a", "client.wjson", "http://10.44.1.4:4/x"}));
    json second = next();
    ASSERT_TRUE(second.is_object()) << watch.describe();
    EXPECT_NE(second["index"], first["index"]) << watch.describe();
    EXPECT_EQ(second["instances"],
              json::parse(R"([{"host": "10.44.1.1", "port": 1}, "http://10.44.1.4:4/x"])"))
        << watch.describe();

    watch.signal(SIGINT);
    EXPECT_EQ(watch.wait(), 0) << watch.describe();
}

TEST_F(DaemonClient, WatchGoesOnAfterCallsThatWaitedInVain) {
    watch_process watch({"watch", "--wait", "1", "--registry", url(), "client.wvain"});
    auto first = watch.next_change();
    ASSERT_TRUE(first) << watch.describe();
    EXPECT_NE(first->heading.find("no alive instance"), std::string::npos) << watch.describe();
    // Two calls or more end at their --wait with the same index: nothing printed, no exit.
    EXPECT_FALSE(watch.next_line(std::chrono::milliseconds(2500))) << watch.describe();
    EXPECT_EQ(watch.wait(std::chrono::milliseconds(0)), -1) << watch.describe();
    ASSERT_TRUE(succeeds({"ping", "client.wvain", "10.44.2.1", "1"}));
    auto second = watch.next_change();
    ASSERT_TRUE(second) << watch.describe();
    EXPECT_EQ(second->table, (std::vector<std::string>{"HOST       PORT", "10.44.2.1  1"}))
        << watch.describe();
    watch.signal(SIGTERM);
    EXPECT_EQ(watch.wait(), 0) << watch.describe();
}

// `servreg watch ... | head -n 1`: once the reader has gone the watch ends, with status 0 (not
// 141, killed by SIGPIPE, which fails a pipefail script), although nothing changes.
TEST_F(DaemonClient, WatchWhoseReaderGoesAwayEndsAtOnceWithStatusZero) {
    temp_dir dir;
    const std::string fifo = dir.file("out");
    ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0) << std::strerror(errno);
    // The read end first, without waiting for a writer: the child's open of the other end
    // then returns at once. Not inherited: the watch itself must not hold a reader.
    const int in = ::open(fifo.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    ASSERT_GE(in, 0) << std::strerror(errno);
    const std::vector<std::string> args{"watch", "--json", "--registry", url(), "client.wpipe"};
    run_result r;
    const pid_t pid = spawn_servreg(args, {}, fifo, dir.file("err"));
    const auto reap = [&](std::chrono::milliseconds limit) {
        int status = 0;
        const bool ended =
            wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, limit).has_value();
        if (!ended) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, nullptr, 0);
            return -1;
        }
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    };

    // What `head -n 1` reads.
    std::string first;
    wait_until(
        [&] {
            char c = 0;
            while (::read(in, &c, 1) == 1) {
                if (c == '\n') return true;
                first += c;
            }
            return false;
        },
        std::chrono::seconds(10));
    ::close(in);
    r.out = first;
    const json answer = json::parse(first, nullptr, false);
    EXPECT_TRUE(answer.is_object() && answer["instances"] == json::array()) << describe(args, r);

    r.status = reap(std::chrono::seconds(10));
    r.err = read_file(dir.file("err"));
    EXPECT_EQ(r.status, 0) << "-1: still running after 10 s" << describe(args, r);
    EXPECT_EQ(r.err, "") << describe(args, r);
}

TEST_F(DaemonClient, WatchOfABadPatternExitsOne) {
    auto r = client({"watch", std::string(300, 'p')});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32602"), std::string::npos) << describe(last_args_, r);
    EXPECT_EQ(r.out, "") << describe(last_args_, r);
    r = client({"watch", "--json", std::string(300, 'p')});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_EQ(json::parse(r.out, nullptr, false)["error"]["code"], -32602)
        << describe(last_args_, r);
}

TEST_F(DaemonClient, RegistryErrorExitsOneWithTheReason) {
    // A name of 300 characters passes the client's usage checks; the registry refuses it.
    auto r = client({"ping", std::string(300, 'n'), "10.40.5.1", "1"});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32602"), std::string::npos) << describe(last_args_, r);
    EXPECT_NE(r.err.find("name"), std::string::npos) << describe(last_args_, r);

    r = client({"ping", "--json", std::string(300, 'n'), "10.40.5.1", "1"});
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    auto out = json::parse(r.out, nullptr, false);
    EXPECT_EQ(out["error"]["code"], -32602) << describe(last_args_, r);
}

TEST_F(DaemonClient, MissingOrWrongTokenExitsOneAndWritesNothing) {
    auto r = client({"ping", "client.denied", "10.40.6.1", "1"}, false);
    EXPECT_EQ(r.status, 1) << describe(last_args_, r);
    EXPECT_NE(r.err.find("-32001"), std::string::npos) << describe(last_args_, r);
    std::vector<std::string> args{"unregister",  "--registry", url(), "--api-token",
                                  "wrong-token", "10.40.0.1",  "8001"};
    r = run_servreg(args);
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_EQ(r.err.find("wrong-token"), std::string::npos)
        << "the token is not echoed" << describe(args, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.denied"}).result(), json::array());

    // Reads need no token.
    r = client({"list", "client.*"}, false);
    EXPECT_EQ(r.status, 0) << describe(last_args_, r);
}

TEST_F(DaemonClient, RegistryAndTokenComeFromTheEnvironment) {
    std::vector<std::string> args{"ping", "client.env", "10.40.7.1", "1"};
    auto r =
        run_servreg(args, {"SERVREG_REGISTRY=" + url(), std::string("SERVREG_API_TOKEN=") + token});
    ASSERT_EQ(r.status, 0) << describe(args, r);
    EXPECT_EQ(call(daemon_->port(), "locate_service", {"client.env"}).result().size(), 1u);

    // The option wins over the environment.
    args = {"locate", "--registry", url(), "client.env"};
    r = run_servreg(args, {"SERVREG_REGISTRY=http://127.0.0.1:1/api"});
    EXPECT_EQ(r.status, 0) << describe(args, r);
}

TEST_F(DaemonClient, WrongPathOnTheRegistryExitsOne) {
    std::vector<std::string> args{"list", "--registry",
                                  "http://127.0.0.1:" + std::to_string(daemon_->port()) + "/nope"};
    auto r = run_servreg(args);
    EXPECT_EQ(r.status, 1) << describe(args, r);
    EXPECT_NE(r.err.find("HTTP 404"), std::string::npos) << describe(args, r);
}

TEST(Client, BadUsageExitsTwo) {
    const std::vector<std::vector<std::string>> cases{
        {"ping", "only-a-name"},
        {"ping", "a", "b", "70000"},
        {"ping", "a", "b", "1", "extra"},
        {"unregister", "host"},
        {"locate"},
        {"list", "--no-such-option"},
        {"list", "--registry", "ftp://127.0.0.1/api"},
        {"list", "--registry", "https://127.0.0.1/api"},
        {"list", "--registry", "http://127.0.0.1:99999/api"},
        {"list", "--registry", "http:///api"},
        {"list", "--api-token", ""},
        {"ping", "a", "b"},
        {"ping", "a", "http://b/api", "1"},
        {"ping", "--meta", "zone", "a", "b", "1"},
        {"ping", "--meta", "=a", "a", "http://b/api"},
        {"locate", "--meta", "k=1", "--meta", "k=2", "a"},
        {"list", "--meta", "k=1"},
        {"unregister", "ftp://b/api"},
        {"drain"},
        {"drain", "b"},
        {"drain", "b", "0"},
        {"undrain", "b", "1", "extra"},
        {"undrain", "--meta", "k=1", "http://b/api"},
        {"watch"},
        {"watch", "a", "b"},
        {"watch", "--wait", "0", "a"},
        {"watch", "--wait", "601", "a"},
        {"watch", "--meta", "k", "a"},
        {"watch", "--registry", "ftp://127.0.0.1/api", "a"},
    };
    for (const auto& args : cases) {
        auto r = run_servreg(args);
        EXPECT_EQ(r.status, 2) << describe(args, r);
        EXPECT_FALSE(r.err.empty()) << "a usage error says why" << describe(args, r);
        EXPECT_EQ(r.out, "") << describe(args, r);
    }
}

TEST(Client, UnreachableRegistryExitsThree) {
    // A port that was just free: nothing listens there.
    std::uint16_t port = 0;
    {
        registry_daemon daemon;
        port = daemon.port();
    }
    const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/api";
    for (std::vector<std::string> args :
         {std::vector<std::string>{"ping", "--registry", url, "a", "b", "1"},
          std::vector<std::string>{"locate", "--registry", url, "--json", "a"},
          std::vector<std::string>{"list", "--registry", url},
          std::vector<std::string>{"unregister", "--registry", url, "b", "1"},
          std::vector<std::string>{"ping", "--registry", url, "--meta", "k=v", "a", "http://b/"},
          std::vector<std::string>{"drain", "--registry", url, "b", "1"},
          std::vector<std::string>{"undrain", "--registry", url, "http://b/api"},
          std::vector<std::string>{"watch", "--registry", url, "a"},
          std::vector<std::string>{"watch", "--registry", url, "--json", "a"},
          std::vector<std::string>{"list", "--registry", "http://no-such-host.invalid:5000/api"}}) {
        auto r = run_servreg(args);
        EXPECT_EQ(r.status, 3) << describe(args, r);
        EXPECT_NE(r.err.find("cannot reach the registry"), std::string::npos) << describe(args, r);
        EXPECT_EQ(r.out, "") << describe(args, r);
    }
}

// A registry that answers each connection's one request with the next of `replies` (JSON-RPC
// results, as the SPEC writes them) and keeps the requests, for the subcommands that the
// daemon does not answer yet.
class scripted_registry {
public:
    explicit scripted_registry(std::vector<std::string> results) : socket_(true) {
        served_ = std::async(std::launch::async, [this, results = std::move(results)] {
            std::vector<std::string> requests;
            for (const std::string& result : results) {
                std::string request = serve_one(result);
                if (request.empty()) break;
                requests.push_back(std::move(request));
            }
            return requests;
        });
    }
    std::string url() const {
        return "http://127.0.0.1:" + std::to_string(socket_.port()) + "/api";
    }
    // The requests received, head and body, once every reply is sent (or 10 s passed).
    std::vector<std::string> requests() { return served_.get(); }

private:
    std::string serve_one(const std::string& result) {
        pollfd p{socket_.fd(), POLLIN, 0};
        if (::poll(&p, 1, 10'000) != 1) return {};
        const int fd = ::accept(socket_.fd(), nullptr, nullptr);
        if (fd < 0) return {};
        std::string request;
        char buffer[4096];
        for (;;) {
            const auto head_end = request.find("\r\n\r\n");
            if (head_end != std::string::npos) {
                const auto length_at = lower(request).find("content-length:");
                const std::size_t length =
                    length_at == std::string::npos ? 0 : std::stoul(request.substr(length_at + 15));
                if (request.size() >= head_end + 4 + length) break;
            }
            pollfd c{fd, POLLIN, 0};
            if (::poll(&c, 1, 10'000) != 1) break;
            const ssize_t n = ::read(fd, buffer, sizeof buffer);
            if (n <= 0) break;
            request.append(buffer, static_cast<std::size_t>(n));
        }
        const std::string body =
            R"({"jsonrpc": "2.0", "result": )" + result + R"(, "error": null, "id": 1})";
        const std::string reply =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
            "Content-Length: " +
            std::to_string(body.size()) + "\r\n\r\n" + body;
        [[maybe_unused]] auto sent = ::write(fd, reply.data(), reply.size());
        ::close(fd);
        return request;
    }
    static std::string lower(std::string s) {
        for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        return s;
    }

    idle_socket socket_;
    std::future<std::vector<std::string>> served_;
};

TEST(Client, NewSubcommandsSendTheirCallsWithTheToken) {
    struct exchange {
        std::vector<std::string> args;  // after --registry and --api-token
        std::string method;
        json params;
        std::string result;
        std::string out;
    };
    const std::vector<exchange> exchanges{
        {{"ping", "--meta", "zone=a", "svc", "http://10.0.0.5:8001/api"},
         "ping",
         {{"name", "svc"}, {"url", "http://10.0.0.5:8001/api"}, {"meta", {{"zone", "a"}}}},
         "true",
         "pinged svc at http://10.0.0.5:8001/api\n"},
        {{"ping", "svc", "10.0.0.5", "8001", "--meta", "zone=b"},
         "ping",
         {{"name", "svc"}, {"host", "10.0.0.5"}, {"port", 8001}, {"meta", {{"zone", "b"}}}},
         "true",
         "pinged svc at 10.0.0.5:8001\n"},
        {{"locate", "--meta", "zone=a", "s*"},
         "locate_service",
         {{"name", "s*"}, {"meta", {{"zone", "a"}}}},
         R"(["http://10.0.0.5:8001/api"])",
         "URL\nhttp://10.0.0.5:8001/api\n"},
        {{"unregister", "http://10.0.0.5:8001/api"},
         "unregister",
         {{"url", "http://10.0.0.5:8001/api"}},
         "true",
         "unregistered http://10.0.0.5:8001/api\n"},
        {{"drain", "10.0.0.5", "8001"},
         "drain",
         {{"host", "10.0.0.5"}, {"port", 8001}},
         "true",
         "drained 10.0.0.5:8001\n"},
        {{"drain", "http://10.0.0.6/api"},
         "drain",
         {{"url", "http://10.0.0.6/api"}},
         "false",
         "http://10.0.0.6/api is not registered: nothing to drain\n"},
        {{"undrain", "http://10.0.0.5:8001/api"},
         "undrain",
         {{"url", "http://10.0.0.5:8001/api"}},
         "true",
         "undrained http://10.0.0.5:8001/api\n"},
        {{"undrain", "10.0.0.6", "1"},
         "undrain",
         {{"host", "10.0.0.6"}, {"port", 1}},
         "false",
         "10.0.0.6:1 is not registered: nothing to undrain\n"},
    };
    std::vector<std::string> results;
    for (const auto& e : exchanges) results.push_back(e.result);
    scripted_registry registry(results);
    std::vector<run_result> runs;
    std::vector<std::vector<std::string>> commands;
    for (const auto& e : exchanges) {
        std::vector<std::string> args = e.args;
        args.insert(args.begin() + 1, {"--registry", registry.url(), "--api-token", token});
        commands.push_back(args);
        runs.push_back(run_servreg(args));
    }
    const std::vector<std::string> requests = registry.requests();
    ASSERT_EQ(requests.size(), exchanges.size()) << [&] {
        std::string all;
        for (std::size_t i = 0; i < runs.size(); ++i) all += describe(commands[i], runs[i]);
        return all;
    }();
    for (std::size_t i = 0; i < exchanges.size(); ++i) {
        const std::string& request = requests[i];
        const json body = json::parse(request.substr(request.find("\r\n\r\n") + 4), nullptr, false);
        const json wanted = {{"jsonrpc", "2.0"},
                             {"method", exchanges[i].method},
                             {"params", exchanges[i].params},
                             {"id", 1}};
        EXPECT_EQ(body, wanted) << "request:\n" << request << describe(commands[i], runs[i]);
        EXPECT_NE(request.find(std::string("\r\nX-Api-Token: ") + token + "\r\n"),
                  std::string::npos)
            << "request:\n"
            << request << describe(commands[i], runs[i]);
        EXPECT_EQ(runs[i].status, 0) << describe(commands[i], runs[i]);
        EXPECT_EQ(runs[i].out, exchanges[i].out) << describe(commands[i], runs[i]);
    }
}

TEST(Client, WatchExitsThreeWhenTheRegistryGoesAway) {
    auto daemon = std::make_unique<registry_daemon>();
    const std::string url = "http://127.0.0.1:" + std::to_string(daemon->port()) + "/api";
    watch_process watch({"watch", "--registry", url, "gone.*"});
    auto first = watch.next_change();
    ASSERT_TRUE(first) << watch.describe();
    EXPECT_NE(first->heading.find("no alive instance"), std::string::npos) << watch.describe();
    // Stopped while the watch waits for a change: the call is answered or cut, and the next
    // one finds nobody.
    daemon->process().signal(SIGTERM);
    EXPECT_EQ(daemon->process().wait(), 0) << daemon->process().log();
    EXPECT_EQ(watch.wait(), 3) << watch.describe();
    EXPECT_NE(watch.describe().find("cannot reach the registry"), std::string::npos)
        << watch.describe();
}

TEST(Client, SilentServerTimesOutAndExitsThree) {
    // A listener that accepts (through the backlog) but never answers.
    std::optional<idle_socket> silent(std::in_place, true);
    ASSERT_TRUE(silent->bound());
    ASSERT_TRUE(silent->listening());
    const std::string url = "http://127.0.0.1:" + std::to_string(silent->port()) + "/api";
    std::vector<std::string> args{"list", "--registry", url};
    auto start = std::chrono::steady_clock::now();
    auto r = run_servreg(args);
    auto took = std::chrono::steady_clock::now() - start;
    silent.reset();
    EXPECT_EQ(r.status, 3) << describe(args, r);
    EXPECT_NE(r.err.find("timed out"), std::string::npos) << describe(args, r);
    EXPECT_LT(took, std::chrono::seconds(15)) << describe(args, r);
}

TEST(Client, NoSubcommandStaysTheDaemon) {
    registry_daemon daemon;
    auto x = call(daemon.port(), "get_service_specs");
    EXPECT_EQ(x.result()["name"], "servreg") << x.describe();
}

}  // namespace
}  // namespace servreg::test
