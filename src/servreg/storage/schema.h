// servreg's tables, their versions and the migrations between them.
#pragma once

#include <soci/soci.h>

#include <functional>
#include <string_view>

#include "servreg/storage/dialect.h"

namespace servreg::storage {

// The schema version this binary creates and upgrades to (the number of migrations it knows).
inline constexpr int schema_version = 3;

inline constexpr const char* select_all_rows =
    "SELECT name, host, port, first_seen, last_seen, url, url_form, drained, meta, changed "
    "FROM servreg_services";

// Creates the schema of an empty database, or upgrades an older one, serialised against other
// processes doing the same; `begin` and `commit` are the store's, which track the transaction.
// Throws storage_error for a schema newer than this binary's, and whatever the database throws
// otherwise (the caller retries the races).
void ensure_schema(soci::session& sql, const dialect& d, std::string_view display,
                   const std::function<void()>& begin, const std::function<void()>& commit);

}  // namespace servreg::storage
