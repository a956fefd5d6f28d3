#include "storage/schema.hpp"

#include <string>

namespace ravel::storage::schema {

const std::string_view kV1 = R"sql(
CREATE TABLE conversations (
    id            INTEGER PRIMARY KEY,
    title         TEXT    NOT NULL,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL,
    settings_json TEXT    NOT NULL DEFAULT '{}',
    start_state      BLOB,
    start_state_name TEXT
);
CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    conversation_id INTEGER NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    parent_id       INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    role            TEXT    NOT NULL CHECK (role IN ('system', 'user', 'assistant')),
    text            TEXT    NOT NULL,
    tokens          BLOB,
    token_count     INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL,
    settings_json   TEXT    NOT NULL DEFAULT '{}',
    sibling_order   INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX messages_by_conversation ON messages(conversation_id, id);
CREATE INDEX messages_by_parent ON messages(parent_id, sibling_order);
CREATE TABLE snapshots (
    message_id        INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    blob              BLOB    NOT NULL,
    bytes             INTEGER NOT NULL,
    model_fingerprint TEXT    NOT NULL,
    created_ms        INTEGER NOT NULL
);
CREATE TABLE presets (
    id            INTEGER PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    settings_json TEXT    NOT NULL,
    updated_ms    INTEGER NOT NULL
);
CREATE TABLE settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
)sql";

namespace {

// v2: snapshots learn when they were last used (least-recently-used eviction) and whether the
// user pinned them; existing snapshots count as used when they were made.
constexpr std::string_view kV1toV2 = R"sql(
ALTER TABLE snapshots ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE snapshots ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0 CHECK (pinned IN (0, 1));
UPDATE snapshots SET last_used_ms = created_ms;
CREATE INDEX snapshots_by_use ON snapshots(pinned, last_used_ms);
)sql";

// v3: a snapshot's bytes move to a table of their own. Updating any column of a row makes
// SQLite walk the row's overflow chain (it rewrites only the pages that changed, but reads and
// compares them all): marking a 2.7 MB snapshot as used on every resume took 15 ms of a 41-47
// ms resume in ravel's benchmark (2.8 ms with the pages cached). The metadata row is now small.
constexpr std::string_view kV2toV3 = R"sql(
CREATE TABLE snapshot_blobs (
    message_id INTEGER PRIMARY KEY REFERENCES snapshots(message_id) ON DELETE CASCADE,
    blob       BLOB    NOT NULL
);
INSERT INTO snapshot_blobs(message_id, blob) SELECT message_id, blob FROM snapshots;
ALTER TABLE snapshots DROP COLUMN blob;
)sql";

// migrations[i] upgrades version i to i + 1; index 0 creates version 1 from nothing.
// (const, not constexpr: kV1 is defined out of line for the tests, so it is no constant.)
const std::string_view kMigrations[] = {kV1, kV1toV2, kV2toV3};
static_assert(sizeof kMigrations / sizeof kMigrations[0] == kCurrentVersion);

}  // namespace

Result<int> user_version(sql::Db& db) {
    auto st = sql::Statement::prepare(db, "PRAGMA user_version");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    if (!*row || st->type(0) != sql::ColumnType::Integer) {
        return make_error("database: cannot read the schema version");
    }
    return static_cast<int>(st->integer(0));
}

Result<void> migrate(sql::Db& db) {
    for (;;) {
        auto tx = sql::Transaction::begin(db);
        if (!tx) return tx.error();
        // Read inside the write transaction so two processes never run the same step twice.
        auto version = user_version(db);
        if (!version) return version.error();
        if (*version == kCurrentVersion) return tx->commit();
        if (*version < 0 || *version > kCurrentVersion) {
            return make_error("database schema version " + std::to_string(*version) +
                              " is newer than this build understands (" +
                              std::to_string(kCurrentVersion) + "); update Ravel");
        }
        if (auto r = db.exec(kMigrations[*version]); !r) {
            return make_error("database upgrade to version " + std::to_string(*version + 1) +
                              " failed: " + r.message());
        }
        if (auto r = db.exec("PRAGMA user_version = " + std::to_string(*version + 1)); !r) {
            return r.error();
        }
        if (auto r = tx->commit(); !r) return r.error();
    }
}

}  // namespace ravel::storage::schema
