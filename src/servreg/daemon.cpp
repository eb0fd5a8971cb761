// Wiring of the daemon: storage, then the in-memory index loaded from it, the group-commit
// writer, the registry service, the JSON-RPC dispatcher and the HTTP server.
#include "servreg/daemon.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <memory>
#include <optional>

#include "servreg/http/access_log.h"
#include "servreg/http/metrics.h"
#include "servreg/http/router.h"
#include "servreg/http/server.h"
#include "servreg/jsonrpc/dispatcher.h"
#include "servreg/registry/clock.h"
#include "servreg/registry/index.h"
#include "servreg/registry/restart_grace.h"
#include "servreg/registry/service.h"
#include "servreg/registry/watch_hub.h"
#include "servreg/storage/deadline.h"
#include "servreg/storage/poller.h"
#include "servreg/storage/store.h"
#include "servreg/storage/writer.h"
#include "servreg/version.h"

namespace servreg {
namespace {

void setup_logging(config::log_level level) {
    // Diagnostics go to stderr, so that stdout can carry the access log ("--accesslog -").
    auto logger = spdlog::stderr_color_mt("servreg");
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    // Indexed by config::log_level: trace, debug, info, warn, error.
    static constexpr spdlog::level::level_enum levels[] = {
        spdlog::level::trace, spdlog::level::debug, spdlog::level::info, spdlog::level::warn,
        spdlog::level::err};
    logger->set_level(levels[static_cast<std::size_t>(level)]);
    logger->flush_on(spdlog::level::trace);
    spdlog::set_default_logger(std::move(logger));
}

void log_restart_grace(const registry::restart_grace& grace, std::int64_t now_ms) {
    if (grace.newest_ms == 0) return;
    const auto down_s = (now_ms - grace.newest_ms) / 1000;
    if (grace.until_ms == 0) {
        spdlog::info("restart grace: given to no instance (the newest ping is {} s old)", down_s);
        return;
    }
    spdlog::info(
        "restart grace: the registry was down for about {} s; {} instances alive then count as "
        "alive for {} s more unless they ping or are unregistered",
        down_s, grace.instances, (grace.until_ms - now_ms) / 1000);
}

// Every open connection is a descriptor, a watch_service call that waits too: the soft limit
// (1024 in most shells) is raised towards --max-connections and what the process needs
// besides, as far as the hard limit allows, as Go raises it for Consul and etcd.
void raise_descriptor_limit(std::size_t max_connections) {
    constexpr rlim_t spare = 64;  // the database, the access log, listeners, the loops
    rlimit limit{};
    if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
    const rlim_t wanted = static_cast<rlim_t>(max_connections) + spare;
    if (limit.rlim_cur >= wanted) return;
    const rlim_t raised =
        limit.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, limit.rlim_max);
    if (raised > limit.rlim_cur) {
        limit.rlim_cur = raised;
        ::setrlimit(RLIMIT_NOFILE, &limit);
    }
    if (raised < wanted) {
        spdlog::warn(
            "--max-connections {} needs about {} file descriptors, but the hard limit is {}: "
            "connections past that are refused (raise LimitNOFILE or ulimit -Hn)",
            max_connections, wanted, limit.rlim_max);
    }
}

}  // namespace

int run_daemon(const config::options& opts) {
    using steady = std::chrono::steady_clock;
    const auto started = steady::now();
    setup_logging(opts.level);
    // A file-size limit (ulimit -f) or a reader gone from the pipe behind "--accesslog -" must
    // fail the write at hand, not kill the process, as SIGXFSZ and SIGPIPE do by default.
    std::signal(SIGXFSZ, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);
    raise_descriptor_limit(opts.limits.max_connections);

    std::unique_ptr<http::access_log> access;
    if (opts.accesslog) {
        try {
            access = std::make_unique<http::access_log>(*opts.accesslog);
        } catch (const std::exception& e) {
            spdlog::error("--accesslog: {}", e.what());
            return 2;
        }
    }

    // Before the stores, the writer and the dispatcher, which report to it until they are gone.
    http::metrics metrics(version);
    // Before the stores, whose calls it times.
    storage::watchdog deadlines(opts.db_timeout,
                                {.on_timeout = [&metrics] { metrics.record_db_timeout(); },
                                 .on_reconnect = [&metrics] { metrics.record_db_reconnect(); }});
    registry::system_clock clock;
    registry::index index;
    std::unique_ptr<storage::store> db;
    std::unique_ptr<storage::store> sync_db;
    std::int64_t loaded_at_ms = 0;
    const storage::writer_settings writer_settings;
    try {
        db = storage::open_store(opts.database, deadlines);
        loaded_at_ms = clock.now_ms();
        registry::index::loader loaded;
        loaded.take_all(*db);
        if (opts.restart_grace) {
            const auto grace = registry::apply_restart_grace(loaded, loaded_at_ms, opts.ttl,
                                                             writer_settings.prune_after);
            log_restart_grace(grace, loaded_at_ms);
            metrics.set_restart_grace(grace.instances, steady::now() + opts.ttl);
        }
        index.reset(loaded);
        // Other servreg processes may share a server database (never an SQLite file, which
        // one process owns): a second connection reads their changes, so writes never wait.
        if (opts.database.kind != config::database_kind::sqlite) {
            sync_db = storage::open_store(opts.database, deadlines);
        }
    } catch (const storage::storage_error& e) {
        spdlog::error("cannot use the database ({}): {}", opts.database.display, e.what());
        return 1;
    }

    // Watchers are woken by the index's changes (local writes and other processes' alike) and
    // by the expiries the hub keeps in time order. Before the writer and the poller, whose
    // threads change the index.
    registry::watch_hub hub(index, clock, opts.ttl);
    index.observe(&hub, std::chrono::duration_cast<std::chrono::milliseconds>(opts.ttl).count());
    hub.start();

    std::optional<http::server> server;
    try {
        server.emplace(http::server_settings{opts.host, opts.port, opts.threads, opts.limits},
                       access.get());
    } catch (const std::exception& e) {
        spdlog::error("{}", e.what());
        return 1;
    }

    storage::writer::hooks hooks;
    hooks.on_prune = [&index](std::int64_t cutoff) { index.prune(cutoff); };
    hooks.on_commit = [&metrics](std::chrono::nanoseconds took, std::size_t writes, bool ok) {
        metrics.record_commit(took, writes, ok);
    };
    hooks.late = [&deadlines] { return deadlines.late(); };
    hooks.mark_stored = [&index](std::span<storage::write_op> ops) { index.mark_stored(ops); };
    storage::writer writer(
        std::move(db), writer_settings, [&clock] { return clock.now_ms(); }, std::move(hooks));
    registry::service service(index, writer, clock, opts.ttl);

    std::optional<storage::poller> sync;
    if (sync_db) {
        index.track_deletions(true);
        const storage::poller_settings sync_settings;
        sync.emplace(
            std::move(sync_db), sync_settings, [&clock] { return clock.now_ms(); }, loaded_at_ms,
            [&index](const storage::changes& changes, std::int64_t since_ms) {
                index.merge(changes, since_ms);
            },
            [&index](storage::store& source) {
                registry::index::loader loaded;
                loaded.take_all(source);
                index.reset(loaded);
            });
        spdlog::info("reading other servreg processes' changes every {} ms",
                     sync_settings.interval.count());
    }

    jsonrpc::settings rpc_settings;
    rpc_settings.style =
        opts.strict_jsonrpc ? jsonrpc::reply_style::strict : jsonrpc::reply_style::compatible;
    rpc_settings.batch_limit = opts.limits.batch_limit;
    rpc_settings.host = opts.host;
    rpc_settings.port = server->port();
    rpc_settings.max_parallel_blocking_tasks = opts.threads;
    jsonrpc::dispatcher dispatcher(
        service, rpc_settings,
        [&metrics](std::string_view method, int code, std::chrono::nanoseconds took) {
            metrics.record_call(method, code, took);
        },
        &hub);
    http::router router(
        dispatcher, service, opts.api_token, &metrics, [&server] { return server->stats(); }, &hub);

    auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - started);
    spdlog::info("servreg {} on {} with {} instances, ttl {} s, {} threads; ready in {} ms",
                 version, opts.database.display, index.size(), opts.ttl.count(), opts.threads,
                 elapsed.count());
    {
        // Scripts and tests wait for this line: it is written whatever --log-level says.
        auto logger = spdlog::default_logger();
        const auto level = logger->level();
        logger->set_level(spdlog::level::info);
        logger->info("listening on {}", server->url());
        logger->set_level(level);
    }

    server->run(
        router,
        [&access] {
            if (access) {
                access->reopen();
                spdlog::info("SIGHUP: reopening the access log");
            }
        },
        [&hub] { hub.stop(); });  // waiting calls answered at once
    // Every request has been answered or abandoned; commit what is still queued, then let
    // the server (whose executors the writer's completions post to) go.
    if (sync) sync->stop();
    writer.stop();
    index.observe(nullptr, 0);
    server.reset();
    spdlog::info("stopped");
    return 0;
}

}  // namespace servreg
