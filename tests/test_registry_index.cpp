// Tests of registry::index: ordering, pattern scans, moves, unregister, prune, counts,
// generations, a randomized comparison with a plain model, concurrency and memory use.
#include <gtest/gtest.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "servreg/registry/glob.h"
#include "servreg/registry/index.h"
#include "show.h"
#include "write_ops.h"

namespace {

using servreg::registry::endpoint;
using servreg::registry::glob;
using servreg::registry::index;
using servreg::storage::instance_row;

using servreg::test::show;
using servreg::test::url_at;

std::vector<std::tuple<std::string, std::string, int>> keys(const std::vector<instance_row>& rows) {
    std::vector<std::tuple<std::string, std::string, int>> out;
    for (const auto& r : rows) out.emplace_back(r.name, r.host, r.port);
    return out;
}

constexpr std::int64_t everything = std::numeric_limits<std::int64_t>::min();

TEST(Index, ListsByNameThenHostBytewiseThenPortNumerically) {
    index idx;
    idx.apply_ping("svc.b", "10.0.0.1", 80, 1);
    idx.apply_ping("svc.a", "9.0.0.1", 8080, 1);
    idx.apply_ping("svc.a", "10.0.0.2", 443, 1);
    idx.apply_ping("svc.a", "10.0.0.2", 80, 1);
    idx.apply_ping("svc.a", "10.0.0.2", 8080, 1);
    idx.apply_ping("Svc.a", "h", 1, 1);
    idx.apply_ping("svc.\xc3\xa9", "h", 2, 1);
    idx.apply_ping("svc.a", "B", 1, 1);
    idx.apply_ping("svc.a", "a", 1, 1);

    const auto rows = idx.list(glob("*"));
    const std::vector<std::tuple<std::string, std::string, int>> expected = {
        {"Svc.a", "h", 1},           {"svc.a", "10.0.0.2", 80},  {"svc.a", "10.0.0.2", 443},
        {"svc.a", "10.0.0.2", 8080}, {"svc.a", "9.0.0.1", 8080}, {"svc.a", "B", 1},
        {"svc.a", "a", 1},           {"svc.b", "10.0.0.1", 80},  {"svc.\xc3\xa9", "h", 2},
    };
    EXPECT_EQ(keys(rows), expected) << show(rows);

    const auto located = idx.locate(glob("svc.a"), everything);
    const std::vector<endpoint> expected_located = {
        {"10.0.0.2", 80},  {"10.0.0.2", 443}, {"10.0.0.2", 8080},
        {"9.0.0.1", 8080}, {"B", 1},          {"a", 1},
    };
    EXPECT_EQ(located, expected_located) << show(located);
}

TEST(Index, LocateKeepsOnlyInstancesSeenSinceTheCutoff) {
    index idx;
    idx.apply_ping("svc", "h", 1, 1000);
    idx.apply_ping("svc", "h", 2, 999);
    idx.apply_ping("svc", "h", 3, 1001);
    const auto located = idx.locate(glob("svc"), 1000);
    const std::vector<endpoint> expected = {{"h", 1}, {"h", 3}};
    EXPECT_EQ(located, expected) << show(located);
    // list ignores liveness.
    EXPECT_EQ(idx.list(glob("svc")).size(), 3u) << show(idx.list(glob("svc")));
}

TEST(Index, PrefixPatternsFindExactlyTheNamesWithThatPrefix) {
    index idx;
    for (const char* name : {"svc.4", "svc.42", "svc.42.a", "svc.42.b", "svc.420", "svc.43",
                             "svc.41.42", "svc", "svd.42.a"}) {
        idx.apply_ping(name, std::string("host-") + name, 1, 5);
    }
    const auto names = [&](const char* pattern) {
        std::vector<std::string> out;
        for (const auto& row : idx.list(glob(pattern))) out.push_back(row.name);
        return out;
    };
    using v = std::vector<std::string>;
    EXPECT_EQ(names("svc.42.*"), (v{"svc.42.a", "svc.42.b"}));
    EXPECT_EQ(names("svc.42*"), (v{"svc.42", "svc.42.a", "svc.42.b", "svc.420"}));
    EXPECT_EQ(names("svc.42.?"), (v{"svc.42.a", "svc.42.b"}));
    EXPECT_EQ(names("svc.4[0-2]"), (v{"svc.42"}));
    EXPECT_EQ(names("*42*"),
              (v{"svc.41.42", "svc.42", "svc.42.a", "svc.42.b", "svc.420", "svd.42.a"}));
    EXPECT_EQ(names("*.a"), (v{"svc.42.a", "svd.42.a"}));
    EXPECT_EQ(names("svc.5*"), v{});
    EXPECT_EQ(names("zzz*"), v{});
    EXPECT_EQ(names("svc*"), (v{"svc", "svc.4", "svc.41.42", "svc.42", "svc.42.a", "svc.42.b",
                                "svc.420", "svc.43"}));
}

TEST(Index, LiteralPatternsFindOneName) {
    index idx;
    idx.apply_ping("svc.42", "a", 1, 5);
    idx.apply_ping("svc.42.x", "b", 1, 5);
    idx.apply_ping("a*b", "c", 1, 5);
    idx.apply_ping("axb", "d", 1, 5);
    EXPECT_EQ(idx.locate(glob("svc.42"), everything), (std::vector<endpoint>{{"a", 1}}));
    EXPECT_EQ(idx.locate(glob("a[*]b"), everything), (std::vector<endpoint>{{"c", 1}}));
    EXPECT_EQ(idx.locate(glob("a*b"), everything), (std::vector<endpoint>{{"c", 1}, {"d", 1}}));
    EXPECT_TRUE(idx.locate(glob("svc.4"), everything).empty());
    EXPECT_TRUE(idx.locate(glob("nothing"), everything).empty());
}

TEST(Index, PingRefreshesLastSeenAndKeepsFirstSeen) {
    index idx;
    idx.apply_ping("svc", "h", 1, 100);
    const auto generation = idx.generation();
    idx.apply_ping("svc", "h", 1, 250);
    const auto rows = idx.list(glob("svc"));
    ASSERT_EQ(rows.size(), 1u) << show(rows);
    EXPECT_EQ(rows[0].first_seen_ms, 100) << show(rows);
    EXPECT_EQ(rows[0].last_seen_ms, 250) << show(rows);
    EXPECT_EQ(idx.generation(), generation) << "a refresh must not change the generation";
    EXPECT_EQ(idx.size(), 1u);
}

TEST(Index, PingUnderANewNameMovesTheEndpoint) {
    index idx;
    idx.apply_ping("old", "h", 1, 100);
    idx.apply_ping("other", "h", 2, 100);
    const auto before = idx.generation();
    idx.apply_ping("new", "h", 1, 300);
    EXPECT_GT(idx.generation(), before);
    EXPECT_EQ(idx.size(), 2u);
    EXPECT_TRUE(idx.list(glob("old")).empty()) << show(idx.list(glob("old")));
    const auto rows = idx.list(glob("*"));
    ASSERT_EQ(rows.size(), 2u) << show(rows);
    EXPECT_EQ(rows[0].name, "new") << show(rows);
    EXPECT_EQ(rows[0].first_seen_ms, 300) << "first_seen restarts on a move: " << show(rows);
    EXPECT_EQ(rows[0].last_seen_ms, 300) << show(rows);
    EXPECT_EQ(rows[1].name, "other") << show(rows);
    // The old name is gone entirely, not left empty: a literal lookup finds nothing.
    EXPECT_TRUE(idx.locate(glob("old"), everything).empty());
}

TEST(Index, UnregisterRemovesTheEndpointOnce) {
    index idx;
    idx.apply_ping("svc", "h", 1, 100);
    idx.apply_ping("svc", "h", 2, 100);
    const auto before = idx.generation();
    EXPECT_TRUE(idx.apply_unregister(url_at("h", 1)));
    EXPECT_GT(idx.generation(), before);
    const auto after = idx.generation();
    EXPECT_FALSE(idx.apply_unregister(url_at("h", 1)));
    EXPECT_FALSE(idx.apply_unregister(url_at("h", 3)));
    EXPECT_FALSE(idx.apply_unregister(url_at("H", 2)));  // hosts compare exactly
    EXPECT_EQ(idx.generation(), after) << "nothing removed, nothing changed";
    EXPECT_EQ(idx.locate(glob("svc"), everything), (std::vector<endpoint>{{"h", 2}}));
    EXPECT_TRUE(idx.apply_unregister(url_at("h", 2)));
    EXPECT_EQ(idx.size(), 0u);
    EXPECT_TRUE(idx.list(glob("*")).empty()) << show(idx.list(glob("*")));
    // The slot is reused cleanly.
    idx.apply_ping("svc2", "h", 1, 500);
    EXPECT_EQ(show(idx.list(glob("*"))), "[ {svc2 h:1 500 500} ]");
}

TEST(Index, PruneForgetsInstancesLastSeenBeforeTheCutoff) {
    index idx;
    idx.apply_ping("a", "h", 1, 99);
    idx.apply_ping("a", "h", 2, 100);
    idx.apply_ping("b", "h", 3, 50);
    idx.apply_ping("c", "h", 4, 200);
    const auto before = idx.generation();
    EXPECT_EQ(idx.prune(100), 2u);
    EXPECT_GT(idx.generation(), before);
    const auto rows = idx.list(glob("*"));
    EXPECT_EQ(show(rows), "[ {a h:2 100 100} {c h:4 200 200} ]");
    EXPECT_TRUE(idx.list(glob("b")).empty()) << "an emptied name disappears";
    EXPECT_EQ(idx.size(), 2u);

    const auto unchanged = idx.generation();
    EXPECT_EQ(idx.prune(100), 0u);
    EXPECT_EQ(idx.generation(), unchanged) << "a prune that removed nothing changes nothing";
    EXPECT_FALSE(idx.apply_unregister(url_at("h", 1))) << "pruned endpoints are really gone";
    EXPECT_TRUE(idx.apply_unregister(url_at("h", 2)));
}

TEST(Index, CountsAliveAndDead) {
    index idx;
    EXPECT_EQ(idx.count(0).alive, 0u);
    idx.apply_ping("a", "h", 1, 10);
    idx.apply_ping("a", "h", 2, 20);
    idx.apply_ping("b", "h", 3, 30);
    auto c = idx.count(20);
    EXPECT_EQ(c.alive, 2u);
    EXPECT_EQ(c.dead, 1u);
    idx.apply_unregister(url_at("h", 3));
    c = idx.count(20);
    EXPECT_EQ(c.alive, 1u);
    EXPECT_EQ(c.dead, 1u);
    EXPECT_EQ(idx.size(), 2u);
}

TEST(Index, ResetReplacesEverything) {
    index idx;
    idx.apply_ping("gone", "x", 9, 1);
    const auto before = idx.generation();
    idx.reset({
        {"svc", "h2", 1, 10, 20},
        {"svc", "h1", 1, 11, 21},
        {"web", "h3", 1, 12, 22},
        {"dup", "h4", 1, 13, 23},
        {"dup2", "h4", 1, 14, 24},  // the same endpoint again: the later row wins
        {"url1", "alias", 80, 15, 25, "http://alias/x"},
        {"url2", "alias", 80, 16, 26, "http://alias/x"},  // the same URL, not host:port's
    });
    EXPECT_GT(idx.generation(), before);
    EXPECT_EQ(idx.size(), 5u);
    EXPECT_EQ(show(idx.list(glob("*"))),
              "[ {dup2 h4:1 14 24} {svc h1:1 11 21} {svc h2:1 10 20} {url2 alias:80 16 26} "
              "{web h3:1 12 22} ]");
    EXPECT_TRUE(idx.apply_unregister("http://alias/x"));
    EXPECT_EQ(idx.size(), 4u);
    EXPECT_FALSE(idx.apply_unregister(url_at("x", 9)));
    // The index keeps working normally after a reset.
    idx.apply_ping("svc", "h0", 1, 30);
    idx.apply_ping("web", "h1", 1, 30);  // a move out of a reset-built name
    EXPECT_EQ(show(idx.list(glob("*"))),
              "[ {dup2 h4:1 14 24} {svc h0:1 30 30} {svc h2:1 10 20} {web h1:1 30 30} "
              "{web h3:1 12 22} ]");
    idx.reset({});
    EXPECT_EQ(idx.size(), 0u);
    EXPECT_TRUE(idx.list(glob("*")).empty());
}

TEST(Index, GenerationChangesOnInsertOnly) {
    index idx;
    auto g = idx.generation();
    idx.apply_ping("a", "h", 1, 1);
    EXPECT_NE(idx.generation(), g) << "insert";
    g = idx.generation();
    idx.apply_ping("a", "h", 1, 2);
    EXPECT_EQ(idx.generation(), g) << "refresh";
    idx.apply_ping("b", "h", 1, 3);
    EXPECT_NE(idx.generation(), g) << "move";
}

// Random operations applied both to the index and to a plain map, compared as they go. With
// few hosts and ports the endpoint table sees many inserts, moves and deletions.
TEST(Index, AgreesWithAPlainModelUnderRandomOperations) {
    struct model_row {
        std::string name;
        std::int64_t first = 0;
        std::int64_t last = 0;
    };
    std::map<std::pair<std::string, int>, model_row> model;
    index idx;
    std::mt19937 rng(12345);
    const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    const std::vector<std::string> names = {"a", "a.b", "a.c", "b", "b.a", "c"};
    const std::vector<std::string> hosts = {"10.0.0.1", "10.0.0.2", "9.9.9.9",
                                            "host-with-a-name-longer-than-sso.example.com"};
    std::int64_t now = 0;
    for (int step = 0; step < 30'000; ++step) {
        now += pick(3);
        const int op = pick(100);
        const std::string& host = hosts[static_cast<std::size_t>(pick(4))];
        const int port = 1 + pick(40);
        if (op < 70) {
            const std::string& name = names[static_cast<std::size_t>(pick(6))];
            idx.apply_ping(name, host, static_cast<std::uint16_t>(port), now);
            auto [it, inserted] = model.try_emplace({host, port}, model_row{name, now, now});
            if (!inserted) {
                if (it->second.name != name) it->second = {name, now, now};
                it->second.last = now;
            }
        } else if (op < 95) {
            const bool existed = model.erase({host, port}) > 0;
            ASSERT_EQ(idx.apply_unregister(url_at(host, static_cast<std::uint16_t>(port))), existed)
                << "step " << step << " unregister " << host << ':' << port;
        } else {
            const std::int64_t cutoff = now - 50;
            std::size_t expected = 0;
            for (auto it = model.begin(); it != model.end();) {
                if (it->second.last < cutoff) {
                    it = model.erase(it);
                    ++expected;
                } else {
                    ++it;
                }
            }
            ASSERT_EQ(idx.prune(cutoff), expected) << "step " << step;
        }
        if (step % 97 == 0 || step > 29'900) {
            std::vector<instance_row> expected;
            for (const auto& [key, row] : model) {
                expected.push_back({row.name, key.first, static_cast<std::uint16_t>(key.second),
                                    row.first, row.last});
            }
            std::sort(expected.begin(), expected.end(), [](const auto& x, const auto& y) {
                return std::tie(x.name, x.host, x.port) < std::tie(y.name, y.host, y.port);
            });
            const auto got = idx.list(glob("*"));
            ASSERT_EQ(show(got), show(expected)) << "step " << step;
            ASSERT_EQ(idx.size(), model.size()) << "step " << step;
        }
    }
}

// A pattern no prefix narrows scans every name; what it matched is remembered until a name
// comes or goes. These check that what is remembered never shows a stale answer.
TEST(Index, RememberedScansSeeNewAndRemovedNamesAndExpiry) {
    index idx;
    for (int i = 0; i < 200; ++i) {
        idx.apply_ping("svc." + std::to_string(i) + ".x", "10.0.0.1",
                       static_cast<std::uint16_t>(1000 + i), 100);
    }
    const glob pattern("*.42.*");
    const auto first = idx.locate(pattern, 0);
    ASSERT_EQ(show(first), "[ 10.0.0.1:1042 ]");
    ASSERT_EQ(show(idx.locate(pattern, 0)), show(first)) << "asked again, from memory";

    idx.apply_ping("other.42.y", "10.0.0.2", 7, 150);
    EXPECT_EQ(show(idx.locate(pattern, 0)), "[ 10.0.0.2:7 10.0.0.1:1042 ]")
        << "a new name that matches must appear";

    EXPECT_TRUE(idx.apply_unregister(url_at("10.0.0.2", 7)));
    EXPECT_EQ(show(idx.locate(pattern, 0)), "[ 10.0.0.1:1042 ]") << "a removed name must disappear";

    idx.apply_ping("svc.9.x", "10.0.0.1", 1042, 160);
    EXPECT_EQ(show(idx.locate(pattern, 0)), "[ ]") << "an endpoint moved to a non-matching name";
    idx.apply_ping("svc.42.x", "10.0.0.9", 9, 170);
    EXPECT_EQ(show(idx.locate(pattern, 0)), "[ 10.0.0.9:9 ]");

    // Liveness is judged at each call, not remembered: a refresh brings an instance back
    // without any name coming or going.
    EXPECT_EQ(show(idx.locate(pattern, 171)), "[ ]") << "last seen at 170, alive since 171";
    idx.apply_ping("svc.42.x", "10.0.0.9", 9, 180);
    EXPECT_EQ(show(idx.locate(pattern, 171)), "[ 10.0.0.9:9 ]") << "refreshed at 180";

    EXPECT_EQ(idx.prune(175), 200u) << "all but the one refreshed at 180";
    EXPECT_EQ(show(idx.locate(pattern, 0)), "[ 10.0.0.9:9 ]");
    EXPECT_EQ(show(idx.locate(glob("*.x"), 0)), "[ 10.0.0.9:9 ]");
}

TEST(Index, RememberedScansAgreeWithAPlainModelUnderRandomOperations) {
    std::map<std::pair<std::string, int>, std::pair<std::string, std::int64_t>> model;
    index idx;
    std::mt19937 rng(4242);
    const auto pick = [&](int n) { return std::uniform_int_distribution<int>(0, n - 1)(rng); };
    // 300 names, so that every pattern below scans more than the index bothers to remember.
    const auto name_of = [](int i) {
        return "s" + std::to_string(i % 30) + "." + std::to_string(i / 30);
    };
    const std::vector<std::string> patterns = {"*", "*.1", "*3.*", "s?.[0-4]", "*[!5]", "s1*.9"};
    std::int64_t now = 0;
    for (int step = 0; step < 20'000; ++step) {
        now += pick(2);
        const int op = pick(100);
        const std::string host = "h" + std::to_string(pick(20));
        const int port = 1 + pick(40);
        if (op < 80) {
            const std::string name = name_of(pick(300));
            idx.apply_ping(name, host, static_cast<std::uint16_t>(port), now);
            model[{host, port}] = {name, now};
        } else if (op < 98) {
            const bool existed = model.erase({host, port}) > 0;
            ASSERT_EQ(idx.apply_unregister(url_at(host, static_cast<std::uint16_t>(port))),
                      existed);
        } else {
            const std::int64_t cutoff = now - 100;
            std::erase_if(model, [&](const auto& entry) { return entry.second.second < cutoff; });
            idx.prune(cutoff);
        }
        const std::string& text =
            patterns[static_cast<std::size_t>(pick(static_cast<int>(patterns.size())))];
        const glob pattern(text);
        const std::int64_t alive_since = now - pick(200);
        std::vector<std::tuple<std::string, std::string, int>> expected_rows;
        for (const auto& [key, row] : model) {
            if (pattern.matches(row.first) && row.second >= alive_since) {
                expected_rows.emplace_back(row.first, key.first, key.second);
            }
        }
        std::sort(expected_rows.begin(), expected_rows.end());
        std::vector<endpoint> expected;
        for (const auto& [name, h, p] : expected_rows) {
            expected.push_back({h, static_cast<std::uint16_t>(p)});
        }
        ASSERT_EQ(show(idx.locate(pattern, alive_since)), show(expected))
            << "step " << step << " locate " << text << " alive since " << alive_since;
    }
}

TEST(Index, ManyEndpointsSurviveGrowthAndDeletion) {
    index idx;
    constexpr int n = 20'000;
    for (int i = 0; i < n; ++i) {
        idx.apply_ping("svc." + std::to_string(i % 100), "10.0." + std::to_string(i / 250),
                       static_cast<std::uint16_t>(1 + i % 250), i);
    }
    ASSERT_EQ(idx.size(), static_cast<std::size_t>(n));
    // Remove every other endpoint in a scrambled order, then check each one's fate.
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
    std::shuffle(order.begin(), order.end(), std::mt19937(7));
    for (int i : order) {
        if (i % 2 == 0) {
            ASSERT_TRUE(idx.apply_unregister(
                url_at("10.0." + std::to_string(i / 250), static_cast<std::uint16_t>(1 + i % 250))))
                << "i=" << i;
        }
    }
    for (int i = 0; i < n; ++i) {
        EXPECT_EQ(idx.apply_unregister(url_at("10.0." + std::to_string(i / 250),
                                              static_cast<std::uint16_t>(1 + i % 250))),
                  i % 2 == 1)
            << "i=" << i;
    }
    EXPECT_EQ(idx.size(), 0u);
}

TEST(Index, ConcurrentReadersAndWritersStayConsistent) {
    index idx;
    constexpr int writers = 3;
    constexpr int ports = 200;
    std::atomic<bool> stop{false};
    std::atomic<std::size_t> reads{0};
    std::atomic<bool> reader_saw_disorder{false};

    std::vector<std::thread> threads;
    // Each writer owns one host: pings (refreshes and moves between two names) and unregisters.
    for (int w = 0; w < writers; ++w) {
        threads.emplace_back([&, w] {
            const std::string host = "writer-" + std::to_string(w);
            std::mt19937 rng(static_cast<unsigned>(w));
            std::int64_t now = 0;
            while (!stop.load()) {
                const auto port = static_cast<std::uint16_t>(1 + rng() % ports);
                const auto op = rng() % 10;
                if (op < 7) {
                    idx.apply_ping(op < 5 ? "svc.a" : "svc.b", host, port, ++now);
                } else {
                    idx.apply_unregister(url_at(host, port));
                }
            }
            // Leave a known final state: every port of this host alive under svc.a.
            for (int p = 1; p <= ports; ++p) {
                idx.apply_ping("svc.a", host, static_cast<std::uint16_t>(p), 1'000'000);
            }
        });
    }
    for (int r = 0; r < 2; ++r) {
        threads.emplace_back([&] {
            while (!stop.load()) {
                // One scan is one snapshot: an endpoint belongs to one name at a time.
                std::set<std::pair<std::string, std::uint16_t>> seen;
                for (const auto& e : idx.locate(glob("svc.*"), 0)) {
                    if (!seen.emplace(e.host, e.port).second) reader_saw_disorder = true;
                }
                const auto rows = idx.list(glob("svc.a"));
                for (std::size_t i = 1; i < rows.size(); ++i) {
                    if (std::tie(rows[i - 1].host, rows[i - 1].port) >=
                        std::tie(rows[i].host, rows[i].port)) {
                        reader_saw_disorder = true;
                    }
                }
                const auto c = idx.count(0);
                if (c.alive + c.dead > static_cast<std::size_t>(writers * ports)) {
                    reader_saw_disorder = true;
                }
                ++reads;
            }
        });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    stop = true;
    for (auto& t : threads) t.join();

    EXPECT_FALSE(reader_saw_disorder.load());
    EXPECT_GT(reads.load(), 0u);
    EXPECT_EQ(idx.size(), static_cast<std::size_t>(writers * ports));
    EXPECT_TRUE(idx.list(glob("svc.b")).empty()) << show(idx.list(glob("svc.b")));
    const auto rows = idx.list(glob("svc.a"));
    ASSERT_EQ(rows.size(), static_cast<std::size_t>(writers * ports));
    for (const auto& row : rows) {
        EXPECT_EQ(row.last_seen_ms, 1'000'000) << row.host << ':' << row.port;
    }
    const auto c = idx.count(1'000'000);
    EXPECT_EQ(c.alive, static_cast<std::size_t>(writers * ports));
    EXPECT_EQ(c.dead, 0u);
}

std::size_t heap_in_use() {
    const auto info = mallinfo2();
    return info.uordblks + info.hblkhd;
}

TEST(Index, HundredThousandInstancesCostWellUnderThirtyMegabytes) {
    // 10,000 names of 10 instances each, and the worst case of one name per instance.
    for (const int per_name : {10, 1}) {
        malloc_trim(0);
        const std::size_t before = heap_in_use();
        {
            index idx;
            for (int i = 0; i < 100'000; ++i) {
                idx.apply_ping("service.number." + std::to_string(i / per_name),
                               "10." + std::to_string(i / 65536) + "." +
                                   std::to_string(i / 256 % 256) + "." + std::to_string(i % 256),
                               static_cast<std::uint16_t>(8000 + i % 7), i);
            }
            ASSERT_EQ(idx.size(), 100'000u);
            const std::size_t used = heap_in_use() - before;
            EXPECT_LT(used, 30u << 20) << "per_name=" << per_name << " used=" << used;
            std::printf("100,000 instances, %d per name: %.1f MiB\n", per_name,
                        static_cast<double>(used) / (1 << 20));
        }
    }
}

}  // namespace
