#include "storage/store.hpp"

#include <algorithm>
#include <chrono>
#include <map>
#include <set>

#include "storage/rows.hpp"
#include "storage/schema.hpp"

namespace ravel::storage {

namespace {

using sql::Statement;
using sql::Transaction;

template <class T, class Reader>
Result<std::vector<T>> collect(Statement& st, Reader read) {
    std::vector<T> out;
    for (;;) {
        auto row = st.step();
        if (!row) return row.error();
        if (!*row) return out;
        auto value = read(st);
        if (!value) return value.error();
        out.push_back(std::move(*value));
    }
}

std::string select(const char* columns, const char* rest) {
    return std::string("SELECT ") + columns + " " + rest;
}

std::span<const std::byte> token_bytes(const std::vector<std::int32_t>& tokens) {
    return std::as_bytes(std::span<const std::int32_t>(tokens));
}

}  // namespace

Store::Store(std::filesystem::path path, sql::Db db, OpenOptions options)
    : path_(std::move(path)), db_(std::move(db)), options_(std::move(options)) {}

std::int64_t Store::now() const {
    if (options_.clock) return options_.clock();
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

Result<Store> Store::open(const std::filesystem::path& path, OpenOptions options) {
    auto db = sql::Db::open(path);
    if (!db) return db.error();
    // Another process (the app and ravel-cli) may hold the write lock briefly.
    if (auto r = db->exec("PRAGMA busy_timeout = 10000"); !r) return r.error();
    // WAL: readers never block the writer and a killed writer leaves the file consistent.
    // synchronous=FULL: a committed message survives power loss too, not only a crash.
    for (const char* pragma :
         {"PRAGMA journal_mode = WAL", "PRAGMA synchronous = FULL", "PRAGMA foreign_keys = ON"}) {
        if (auto r = db->exec(pragma); !r) {
            return make_error("cannot open database " + path.string() + ": " + r.message());
        }
    }
    if (auto r = schema::migrate(*db); !r) {
        return make_error("cannot open database " + path.string() + ": " + r.message());
    }
    return Store(path, std::move(*db), std::move(options));
}

Result<int> Store::schema_version() {
    return schema::user_version(db_);
}

Result<std::string> Store::integrity_check() {
    auto st = Statement::prepare(db_, "PRAGMA integrity_check");
    if (!st) return st.error();
    std::string out;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        if (!out.empty()) out += "\n";
        out += st->text(0);
    }
    return out;
}

// ---- conversations ----

Result<Conversation> Store::create_conversation(const std::string& title,
                                                const std::string& settings_json,
                                                std::optional<std::int64_t> created_ms) {
    const std::int64_t t = created_ms.value_or(now());
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_,
                                 "INSERT INTO conversations(title, created_ms, updated_ms, "
                                 "settings_json) VALUES(?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, title).bind(2, t).bind(3, t).bind(4, settings_json);
    if (auto r = st->run(); !r) return r.error();
    const std::int64_t id = db_.last_insert_id();
    if (auto r = tx->commit(); !r) return r.error();
    return conversation(id);
}

Result<Conversation> Store::conversation(std::int64_t id) {
    auto st = Statement::prepare(
        db_, select(rows::kConversationColumns, "FROM conversations WHERE id = ?"));
    if (!st) return st.error();
    st->bind(1, id);
    auto all = collect<Conversation>(*st, rows::conversation);
    if (!all) return all.error();
    if (all->empty()) return make_error("no conversation with id " + std::to_string(id));
    return std::move(all->front());
}

Result<std::vector<Conversation>> Store::list_conversations() {
    auto st = Statement::prepare(
        db_,
        select(rows::kConversationColumns, "FROM conversations ORDER BY updated_ms DESC, id DESC"));
    if (!st) return st.error();
    return collect<Conversation>(*st, rows::conversation);
}

Result<void> Store::rename_conversation(std::int64_t id, const std::string& title) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_,
                                 "UPDATE conversations SET title = ?, updated_ms = ? "
                                 "WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, title).bind(2, now()).bind(3, id);
    if (auto r = st->run(); !r) return r;
    if (db_.changes() == 0) {
        return make_error("no conversation with id " + std::to_string(id));
    }
    return tx->commit();
}

Result<void> Store::set_conversation_settings(std::int64_t id, const std::string& settings_json) {
    auto st = Statement::prepare(db_, "UPDATE conversations SET settings_json = ? WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, settings_json).bind(2, id);
    if (auto r = st->run(); !r) return r;
    if (db_.changes() == 0) {
        return make_error("no conversation with id " + std::to_string(id));
    }
    return {};
}

// messages.parent_id cascades one level per nested action, and SQLite stops at 1000 levels
// ("too many levels of trigger recursion"), so a conversation or subtree more than 1000
// messages deep could not be deleted. Its parent links are cut first, in the same transaction:
// the deletion then cascades one level (to snapshots and their bytes) whatever the depth.
Result<void> Store::delete_conversation(std::int64_t id) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto detach = Statement::prepare(
        db_,
        "UPDATE messages SET parent_id = NULL WHERE conversation_id = ? AND parent_id IS NOT NULL");
    if (!detach) return detach.error();
    detach->bind(1, id);
    if (auto r = detach->run(); !r) return r;
    auto st = Statement::prepare(db_, "DELETE FROM conversations WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, id);
    if (auto r = st->run(); !r) return r;
    // Settings under the conversation's key prefix go with it: its row id can be reused, and a
    // new conversation must not pick up what a deleted one left.
    const std::string prefix = conversation_setting_prefix(id);
    auto settings = Statement::prepare(db_, "DELETE FROM settings WHERE key >= ? AND key < ?");
    if (!settings) return settings.error();
    // Every key that starts with the prefix sorts in [prefix, prefix with its '/' raised to '0').
    std::string past = prefix;
    past.back() = '0';
    settings->bind(1, prefix).bind(2, past);
    if (auto r = settings->run(); !r) return r;
    return tx->commit();
}

Result<void> Store::set_start_state(std::int64_t id, std::span<const std::byte> blob,
                                    const std::string& name) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_,
                                 "UPDATE conversations SET start_state = ?, "
                                 "start_state_name = ?, updated_ms = ? WHERE id = ?");
    if (!st) return st.error();
    st->bind_blob(1, blob).bind(2, name).bind(3, now()).bind(4, id);
    if (auto r = st->run(); !r) return r;
    if (db_.changes() == 0) {
        return make_error("no conversation with id " + std::to_string(id));
    }
    return tx->commit();
}

Result<std::optional<std::vector<std::byte>>> Store::start_state(std::int64_t id) {
    auto st = Statement::prepare(db_, "SELECT start_state FROM conversations WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, id);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return make_error("no conversation with id " + std::to_string(id));
    if (st->type(0) == sql::ColumnType::Null) return std::optional<std::vector<std::byte>>{};
    if (st->type(0) != sql::ColumnType::Blob) {
        return make_error("database row conversations " + std::to_string(id) +
                          " is invalid: start state is not a blob");
    }
    const auto b = st->blob(0);
    return std::optional<std::vector<std::byte>>(std::vector<std::byte>(b.begin(), b.end()));
}

Result<void> Store::touch_conversation(std::int64_t id) {
    auto st = Statement::prepare(db_, "UPDATE conversations SET updated_ms = ? WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, now()).bind(2, id);
    return st->run();
}

// ---- messages ----

Result<Message> Store::add_message(const NewMessage& m) {
    const std::int64_t t = m.created_ms.value_or(now());
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    if (m.parent_id) {
        auto parent = message(*m.parent_id);
        if (!parent) return parent.error();
        if (parent->conversation_id != m.conversation_id) {
            return make_error("message " + std::to_string(*m.parent_id) +
                              " belongs to another conversation");
        }
    }
    // Next sibling position under the same parent (roots are siblings of each other).
    auto order = Statement::prepare(
        db_,
        "SELECT COALESCE(MAX(sibling_order) + 1, 0) FROM messages WHERE conversation_id = ? "
        "AND parent_id IS ?");
    if (!order) return order.error();
    order->bind(1, m.conversation_id).bind(2, m.parent_id);
    auto row = order->step();
    if (!row) return row.error();
    const std::int64_t sibling =
        (*row && order->type(0) == sql::ColumnType::Integer) ? order->integer(0) : 0;
    auto st = Statement::prepare(
        db_,
        "INSERT INTO messages(conversation_id, parent_id, role, text, tokens, token_count, "
        "created_ms, updated_ms, settings_json, sibling_order) "
        "VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
    if (!st) return st.error();
    st->bind(1, m.conversation_id).bind(2, m.parent_id).bind(3, role_name(m.role)).bind(4, m.text);
    if (m.tokens.empty()) {
        st->bind_null(5);
    } else {
        st->bind_blob(5, token_bytes(m.tokens));
    }
    st->bind(6, static_cast<std::int64_t>(m.tokens.size()))
        .bind(7, t)
        .bind(8, t)
        .bind(9, m.settings_json)
        .bind(10, sibling);
    if (auto r = st->run(); !r) return r.error();
    const std::int64_t id = db_.last_insert_id();
    if (auto r = touch_conversation(m.conversation_id); !r) return r.error();
    if (auto r = tx->commit(); !r) return r.error();
    return message(id);
}

Result<Message> Store::message(std::int64_t id) {
    auto st = Statement::prepare(db_, select(rows::kMessageColumns, "FROM messages WHERE id = ?"));
    if (!st) return st.error();
    st->bind(1, id);
    auto all = collect<Message>(*st, rows::message);
    if (!all) return all.error();
    if (all->empty()) return make_error("no message with id " + std::to_string(id));
    return std::move(all->front());
}

Result<std::vector<Message>> Store::messages(std::int64_t conversation_id) {
    auto st = Statement::prepare(
        db_, select(rows::kMessageColumns, "FROM messages WHERE conversation_id = ? ORDER BY id"));
    if (!st) return st.error();
    st->bind(1, conversation_id);
    return collect<Message>(*st, rows::message);
}

Result<std::vector<Message>> Store::children(std::int64_t conversation_id,
                                             std::optional<std::int64_t> parent_id) {
    auto st =
        Statement::prepare(db_, select(rows::kMessageColumns,
                                       "FROM messages WHERE conversation_id = ? AND parent_id IS ? "
                                       "ORDER BY sibling_order, id"));
    if (!st) return st.error();
    st->bind(1, conversation_id).bind(2, parent_id);
    return collect<Message>(*st, rows::message);
}

Result<std::vector<Message>> Store::path_to(std::int64_t message_id) {
    auto leaf = message(message_id);
    if (!leaf) return leaf.error();
    auto all = messages(leaf->conversation_id);
    if (!all) return all.error();
    std::map<std::int64_t, const Message*> by_id;
    for (const auto& m : *all) by_id[m.id] = &m;
    // Walked in memory with a visited set: a hostile parent chain may loop.
    std::vector<Message> path;
    std::set<std::int64_t> seen;
    std::optional<std::int64_t> cur = message_id;
    while (cur) {
        if (!seen.insert(*cur).second) {
            return make_error("conversation " + std::to_string(leaf->conversation_id) +
                              ": message parents form a cycle at message " + std::to_string(*cur));
        }
        auto it = by_id.find(*cur);
        if (it == by_id.end()) {
            return make_error("conversation " + std::to_string(leaf->conversation_id) +
                              ": message " + std::to_string(*cur) + " is missing from the chain");
        }
        path.push_back(*it->second);
        cur = it->second->parent_id;
    }
    return std::vector<Message>(path.rbegin(), path.rend());
}

Result<std::optional<Message>> Store::latest_message(std::int64_t conversation_id) {
    auto st = Statement::prepare(
        db_, select(rows::kMessageColumns,
                    "FROM messages WHERE conversation_id = ? ORDER BY id DESC LIMIT 1"));
    if (!st) return st.error();
    st->bind(1, conversation_id);
    auto all = collect<Message>(*st, rows::message);
    if (!all) return all.error();
    if (all->empty()) return std::optional<Message>{};
    return std::optional<Message>(std::move(all->front()));
}

// Every message below `id` is first hung directly on `id` (the recursive query has no depth
// limit and is computed before the update), so deleting `id` cascades one level whatever the
// subtree's depth: see delete_conversation. UNION ends a corrupt cycle.
Result<void> Store::delete_message(std::int64_t id) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto flatten = Statement::prepare(
        db_,
        "WITH RECURSIVE subtree(id) AS (SELECT id FROM messages WHERE parent_id = ?1 UNION "
        "SELECT m.id FROM messages m JOIN subtree s ON m.parent_id = s.id) "
        "UPDATE messages SET parent_id = ?1 WHERE id IN (SELECT id FROM subtree) AND id != ?1");
    if (!flatten) return flatten.error();
    flatten->bind(1, id);
    if (auto r = flatten->run(); !r) return r;
    auto st = Statement::prepare(db_, "DELETE FROM messages WHERE id = ?");
    if (!st) return st.error();
    st->bind(1, id);
    if (auto r = st->run(); !r) return r;
    return tx->commit();
}

// ---- snapshots ----

Result<void> Store::put_snapshot(std::int64_t message_id, std::span<const std::byte> blob,
                                 const std::string& model_fingerprint_hex) {
    if (!rows::valid_fingerprint_hex(model_fingerprint_hex)) {
        return make_error("snapshot: model fingerprint must be 32 lowercase hex digits");
    }
    auto cap = snapshot_cap();
    if (!cap) return cap.error();
    const std::int64_t t = now();
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(
        db_,
        "INSERT INTO snapshots(message_id, bytes, model_fingerprint, created_ms, last_used_ms, "
        "pinned) VALUES(?, ?, ?, ?, ?, 0) "
        "ON CONFLICT(message_id) DO UPDATE SET bytes = excluded.bytes, "
        "model_fingerprint = excluded.model_fingerprint, created_ms = excluded.created_ms, "
        "last_used_ms = excluded.last_used_ms");
    if (!st) return st.error();
    st->bind(1, message_id)
        .bind(2, static_cast<std::int64_t>(blob.size()))
        .bind(3, model_fingerprint_hex)
        .bind(4, t)
        .bind(5, t);
    if (auto r = st->run(); !r) return r;
    st = Statement::prepare(db_,
                            "INSERT INTO snapshot_blobs(message_id, blob) VALUES(?, ?) "
                            "ON CONFLICT(message_id) DO UPDATE SET blob = excluded.blob");
    if (!st) return st.error();
    st->bind(1, message_id).bind_blob(2, blob);
    if (auto r = st->run(); !r) return r;
    // Eviction in the same transaction: the cap holds at every commit.
    if (auto r = evict_locked(*cap); !r) return r.error();
    return tx->commit();
}

Result<std::optional<Snapshot>> Store::snapshot(std::int64_t message_id) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(
        db_, select(rows::kSnapshotColumns,
                    ", typeof(b.blob), length(b.blob) FROM snapshots JOIN snapshot_blobs b "
                    "USING (message_id) WHERE message_id = ?"));
    if (!st) return st.error();
    st->bind(1, message_id);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<Snapshot>{};
    auto ref = rows::snapshot_ref(*st);
    if (!ref) return ref.error();
    if (st->text(6) != "blob") {
        return make_error("database row snapshots " + std::to_string(message_id) +
                          " is invalid: blob");
    }
    // The size the cache accounts for is the size read: a row whose blob is larger than it says
    // would make the read allocate past the cap.
    if (st->integer(7) != ref->bytes) {
        return make_error("database row snapshots " + std::to_string(message_id) +
                          " is invalid: the blob holds " + std::to_string(st->integer(7)) +
                          " bytes, the row says " + std::to_string(ref->bytes));
    }
    auto bytes = db_.read_blob("snapshot_blobs", "blob", message_id);
    if (!bytes) return bytes.error();
    Snapshot snap{*ref, std::move(*bytes)};
    st = Statement::prepare(db_, "UPDATE snapshots SET last_used_ms = ? WHERE message_id = ?");
    if (!st) return st.error();
    snap.ref.last_used_ms = now();
    st->bind(1, snap.ref.last_used_ms).bind(2, message_id);
    if (auto r = st->run(); !r) return r.error();
    if (auto r = tx->commit(); !r) return r.error();
    return std::optional<Snapshot>(std::move(snap));
}

Result<std::vector<SnapshotRef>> Store::snapshot_refs(std::int64_t conversation_id) {
    auto st = Statement::prepare(
        db_,
        "SELECT s.message_id, s.bytes, s.model_fingerprint, s.created_ms, s.last_used_ms, "
        "s.pinned FROM snapshots s JOIN messages m ON m.id = s.message_id "
        "WHERE m.conversation_id = ? ORDER BY s.message_id");
    if (!st) return st.error();
    st->bind(1, conversation_id);
    return collect<SnapshotRef>(*st, rows::snapshot_ref);
}

Result<void> Store::delete_snapshot(std::int64_t message_id) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_, "DELETE FROM snapshots WHERE message_id = ?");
    if (!st) return st.error();
    st->bind(1, message_id);
    if (auto r = st->run(); !r) return r;
    return tx->commit();
}

Result<void> Store::pin_snapshot(std::int64_t message_id, bool pinned) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_, "UPDATE snapshots SET pinned = ? WHERE message_id = ?");
    if (!st) return st.error();
    st->bind(1, std::int64_t{pinned ? 1 : 0}).bind(2, message_id);
    if (auto r = st->run(); !r) return r;
    return tx->commit();
}

// Over the rows whose size is a non-negative integer (others are evicted first), added up in
// floating point (TOTAL) so that hostile sizes cannot overflow the sum and fail every later
// snapshot write; the result saturates.
Result<std::int64_t> Store::snapshot_bytes_total() {
    auto st = Statement::prepare(
        db_, "SELECT TOTAL(bytes) FROM snapshots WHERE typeof(bytes) = 'integer' AND bytes >= 0");
    if (!st) return st.error();
    auto row = st->step();
    if (!row) return row.error();
    if (!*row || st->type(0) != sql::ColumnType::Float) {
        return make_error("database: cannot sum snapshot sizes");
    }
    const double total = st->real(0);
    constexpr double kMax = 9.0e18;  // below INT64_MAX, exactly representable as a double
    return total >= kMax ? static_cast<std::int64_t>(kMax) : static_cast<std::int64_t>(total);
}

Result<std::int64_t> Store::snapshot_cap() {
    auto v = setting(std::string(kSnapshotCapSetting));
    if (!v) return v.error();
    if (!*v) return kDefaultSnapshotCapBytes;
    // A damaged setting falls back to the default rather than evicting everything.
    try {
        std::size_t used = 0;
        const long long n = std::stoll(**v, &used);
        if (used != (*v)->size() || n < 0) return kDefaultSnapshotCapBytes;
        return static_cast<std::int64_t>(n);
    } catch (...) {
        return kDefaultSnapshotCapBytes;
    }
}

Result<void> Store::set_snapshot_cap(std::int64_t bytes) {
    if (bytes < 0) return make_error("snapshot cap must not be negative");
    if (auto r = set_setting(std::string(kSnapshotCapSetting), std::to_string(bytes)); !r) return r;
    auto evicted = enforce_snapshot_cap();
    if (!evicted) return evicted.error();
    return {};
}

Result<std::vector<std::int64_t>> Store::enforce_snapshot_cap() {
    auto cap = snapshot_cap();
    if (!cap) return cap.error();
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto evicted = evict_locked(*cap);
    if (!evicted) return evicted.error();
    if (auto r = tx->commit(); !r) return r.error();
    return evicted;
}

// Eviction order: unpinned before pinned; snapshots of messages that have children (the
// middle of a branch) before those of leaves (the newest message of each branch, where the
// user continues); then least recently used first.
Result<std::vector<std::int64_t>> Store::evict_locked(std::int64_t cap) {
    auto total = snapshot_bytes_total();
    if (!total) return total.error();
    std::vector<std::int64_t> evicted;
    if (*total <= cap) return evicted;
    auto st = Statement::prepare(
        db_,
        "SELECT s.message_id, CASE WHEN typeof(s.bytes) = 'integer' AND s.bytes >= 0 "
        "THEN s.bytes ELSE -1 END FROM snapshots s ORDER BY s.bytes < 0 DESC, s.pinned ASC, "
        "EXISTS(SELECT 1 FROM messages c WHERE c.parent_id = s.message_id) DESC, "
        "s.last_used_ms ASC, s.message_id ASC");
    if (!st) return st.error();
    // A row whose size is not a non-negative integer (-1 here, listed first) is damaged: it
    // goes whatever the total, as it is only a cache.
    std::vector<std::pair<std::int64_t, std::int64_t>> order;
    for (;;) {
        auto row = st->step();
        if (!row) return row.error();
        if (!*row) break;
        order.emplace_back(st->integer(0), st->integer(1));
    }
    auto del = Statement::prepare(db_, "DELETE FROM snapshots WHERE message_id = ?");
    if (!del) return del.error();
    std::int64_t left = *total;
    for (const auto& [id, bytes] : order) {
        if (left <= cap && bytes >= 0) break;
        del->reset();
        del->bind(1, id);
        if (auto r = del->run(); !r) return r.error();
        if (bytes > 0) left -= std::min(bytes, left);
        evicted.push_back(id);
    }
    return evicted;
}

// ---- settings and presets ----

Result<std::optional<std::string>> Store::setting(const std::string& key) {
    auto st = Statement::prepare(db_, "SELECT value FROM settings WHERE key = ?");
    if (!st) return st.error();
    st->bind(1, key);
    auto row = st->step();
    if (!row) return row.error();
    if (!*row) return std::optional<std::string>{};
    if (st->type(0) != sql::ColumnType::Text) {
        return make_error("database row settings '" + key + "' is invalid: value is not text");
    }
    return std::optional<std::string>(st->text(0));
}

Result<void> Store::set_setting(const std::string& key, const std::string& value) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_,
                                 "INSERT INTO settings(key, value) VALUES(?, ?) "
                                 "ON CONFLICT(key) DO UPDATE SET value = excluded.value");
    if (!st) return st.error();
    st->bind(1, key).bind(2, value);
    if (auto r = st->run(); !r) return r;
    return tx->commit();
}

Result<std::vector<Preset>> Store::presets() {
    auto st = Statement::prepare(db_, select(rows::kPresetColumns, "FROM presets ORDER BY name"));
    if (!st) return st.error();
    return collect<Preset>(*st, rows::preset);
}

Result<Preset> Store::save_preset(const std::string& name, const std::string& settings_json) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(
        db_,
        "INSERT INTO presets(name, settings_json, updated_ms) VALUES(?, ?, ?) "
        "ON CONFLICT(name) DO UPDATE SET settings_json = excluded.settings_json, "
        "updated_ms = excluded.updated_ms");
    if (!st) return st.error();
    st->bind(1, name).bind(2, settings_json).bind(3, now());
    if (auto r = st->run(); !r) return r.error();
    if (auto r = tx->commit(); !r) return r.error();
    auto q = Statement::prepare(db_, select(rows::kPresetColumns, "FROM presets WHERE name = ?"));
    if (!q) return q.error();
    q->bind(1, name);
    auto all = collect<Preset>(*q, rows::preset);
    if (!all) return all.error();
    if (all->empty()) return make_error("preset '" + name + "' vanished after saving");
    return std::move(all->front());
}

Result<void> Store::delete_preset(const std::string& name) {
    auto tx = Transaction::begin(db_);
    if (!tx) return tx.error();
    auto st = Statement::prepare(db_, "DELETE FROM presets WHERE name = ?");
    if (!st) return st.error();
    st->bind(1, name);
    if (auto r = st->run(); !r) return r;
    return tx->commit();
}

}  // namespace ravel::storage
