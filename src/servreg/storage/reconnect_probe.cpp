// Connection attempts on a thread of their own: the session opened is closed again at once; it
// only shows that the server answers (and, with target_session_attrs, takes writes).
#include "servreg/storage/reconnect_probe.h"

#include <soci/soci.h>

#include <utility>

namespace servreg::storage {

reconnect_probe::reconnect_probe(std::string backend, std::string connect_string)
    : backend_(std::move(backend)), connect_string_(std::move(connect_string)) {}

reconnect_probe::~reconnect_probe() {
    if (attempt_.valid()) attempt_.wait();
}

bool reconnect_probe::succeeded(std::chrono::milliseconds wait) {
    if (!attempt_.valid()) {
        attempt_ = std::async(std::launch::async, [backend = backend_, cs = connect_string_] {
            soci::session probe(backend, cs);
        });
    }
    if (attempt_.wait_for(wait) != std::future_status::ready) return false;
    auto done = std::move(attempt_);
    done.get();  // rethrows what connecting threw
    return true;
}

}  // namespace servreg::storage
