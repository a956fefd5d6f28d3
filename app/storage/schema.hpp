// The database schema and its ordered migrations. PRAGMA user_version holds the version; each
// migration moves it up by exactly one, inside one transaction, so a crash mid-upgrade leaves
// the previous version intact.
#pragma once

#include <string_view>

#include "ravel/result.hpp"
#include "storage/sqlite_handle.hpp"

namespace ravel::storage::schema {

// Schema version 1 exactly as first released. Kept verbatim so tests can build a v1 database
// and check that the upgrade keeps every row.
extern const std::string_view kV1;

inline constexpr int kCurrentVersion = 3;

Result<int> user_version(sql::Db& db);
// Creates a fresh database at the current version or upgrades an older one. A database from a
// newer build is refused rather than modified.
Result<void> migrate(sql::Db& db);

}  // namespace ravel::storage::schema
