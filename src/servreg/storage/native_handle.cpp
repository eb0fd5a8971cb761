// The client libraries' socket behind a SOCI session. The server backends are loaded by SOCI at
// run time, so their libraries are looked up in the process rather than linked: servreg still
// builds and runs without them.
#include "servreg/storage/native_handle.h"

#include <dlfcn.h>
#include <soci/soci.h>
#include <soci/sqlite3/soci-sqlite3.h>
#include <sys/socket.h>

#include <functional>

#if SERVREG_HAVE_LIBPQ_HEADERS
#include <soci/postgresql/soci-postgresql.h>
#endif
#if SERVREG_HAVE_MYSQL_HEADERS
#include <soci/mysql/soci-mysql.h>
#endif

#include "servreg/storage/sqlite_fast_path.h"

namespace servreg::storage {
namespace {

// `symbol` of the already loaded `library`, or null.
void* loaded_symbol(const char* library, const char* symbol) {
    void* handle = dlopen(library, RTLD_LAZY | RTLD_NOLOAD);
    if (handle == nullptr) return nullptr;
    void* found = dlsym(handle, symbol);
    dlclose(handle);  // SOCI's backend keeps the library loaded
    return found;
}

std::function<void()> shutdown_of(int fd) {
    if (fd < 0) return {};
    return [fd] { ::shutdown(fd, SHUT_RDWR); };
}

int postgresql_socket([[maybe_unused]] soci::session& session) {
#if SERVREG_HAVE_LIBPQ_HEADERS
    using socket_fn = int (*)(const PGconn*);
    static const auto pq_socket =
        reinterpret_cast<socket_fn>(loaded_symbol("libpq.so.5", "PQsocket"));
    auto* backend = static_cast<soci::postgresql_session_backend*>(session.get_backend());
    if (pq_socket == nullptr || backend == nullptr || backend->conn_ == nullptr) return -1;
    return pq_socket(backend->conn_);
#else
    return -1;
#endif
}

int mysql_socket([[maybe_unused]] soci::session& session) {
#if SERVREG_HAVE_MYSQL_HEADERS
    // MariaDB Connector/C 3 exports mysql_get_socket, as MySQL's client library does.
    using socket_fn = int (*)(MYSQL*);
    static const auto get_socket =
        reinterpret_cast<socket_fn>(loaded_symbol("libmariadb.so.3", "mysql_get_socket"));
    auto* backend = static_cast<soci::mysql_session_backend*>(session.get_backend());
    if (get_socket == nullptr || backend == nullptr || backend->conn_ == nullptr) return -1;
    return get_socket(backend->conn_);
#else
    return -1;
#endif
}

}  // namespace

std::function<void()> abort_of(soci::session& session, config::database_kind kind) {
    if (session.get_backend() == nullptr) return {};
    switch (kind) {
        case config::database_kind::postgresql:
            return shutdown_of(postgresql_socket(session));
        case config::database_kind::mysql:
            return shutdown_of(mysql_socket(session));
        case config::database_kind::sqlite:
            break;
    }
    sqlite_api::sqlite3* db = sqlite_handle(session);
    return [db] { sqlite_api::sqlite3_interrupt(db); };
}

}  // namespace servreg::storage
