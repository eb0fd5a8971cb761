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

// The socket of the client library's connection in SOCI's backend `Backend`, through the
// library's `get_socket(connection)` named `symbol`; -1 when any of it is missing.
template <typename Backend, typename Connection>
int socket_of(soci::session& session, Connection* Backend::*connection, const char* library,
              const char* symbol) {
    using socket_fn = int (*)(Connection*);
    // Per instantiation: one lookup per client library for the process's life.
    static const auto get_socket = reinterpret_cast<socket_fn>(loaded_symbol(library, symbol));
    auto* backend = static_cast<Backend*>(session.get_backend());
    if (get_socket == nullptr || backend == nullptr || backend->*connection == nullptr) return -1;
    return get_socket(backend->*connection);
}

int postgresql_socket([[maybe_unused]] soci::session& session) {
#if SERVREG_HAVE_LIBPQ_HEADERS
    return socket_of(session, &soci::postgresql_session_backend::conn_, "libpq.so.5", "PQsocket");
#else
    return -1;
#endif
}

int mysql_socket([[maybe_unused]] soci::session& session) {
#if SERVREG_HAVE_MYSQL_HEADERS
    // MariaDB Connector/C 3 exports mysql_get_socket, as MySQL's client library does.
    return socket_of(session, &soci::mysql_session_backend::conn_, "libmariadb.so.3",
                     "mysql_get_socket");
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
