// The conversation database: schema and pragmas, message trees, snapshots and their eviction,
// settings and presets, migration from a v1 database, and hostile rows.
#include <sqlite3.h>

#include <QTemporaryDir>
#include <QtTest>
#include <filesystem>
#include <map>
#include <set>

#include "storage/schema.hpp"
#include "storage/store.hpp"

using namespace ravel::storage;

namespace {

// Raw access for building fixtures and damaging rows behind the store's back.
struct RawDb {
    sqlite3* db = nullptr;
    explicit RawDb(const std::string& path) { sqlite3_open(path.c_str(), &db); }
    ~RawDb() { sqlite3_close(db); }
    bool exec(const std::string& sql) {
        char* err = nullptr;
        const bool ok = sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK;
        if (!ok) qWarning("sql failed: %s", err ? err : "?");
        sqlite3_free(err);
        return ok;
    }
    std::string text(const std::string& sql) {
        sqlite3_stmt* st = nullptr;
        sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr);
        std::string out;
        if (st && sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0)) {
            out = reinterpret_cast<const char*>(sqlite3_column_text(st, 0));
        }
        sqlite3_finalize(st);
        return out;
    }
    // Runs `sql` with `blob` bound to its one parameter.
    bool insert_blob(const std::string& sql, const std::vector<std::byte>& blob) {
        sqlite3_stmt* st = nullptr;
        if (sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) return false;
        sqlite3_bind_blob(st, 1, blob.data(), static_cast<int>(blob.size()), SQLITE_STATIC);
        const bool ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_finalize(st);
        return ok;
    }
};

std::vector<std::byte> bytes_of(std::size_t n, int seed) {
    std::vector<std::byte> b(n);
    for (std::size_t i = 0; i < n; ++i) b[i] = std::byte((i * 31 + seed) & 0xff);
    return b;
}

const std::string kFp = "00112233445566778899aabbccddeeff";

struct FakeClock {
    std::shared_ptr<std::int64_t> t = std::make_shared<std::int64_t>(1000);
    OpenOptions options() {
        OpenOptions o;
        auto p = t;
        o.clock = [p] { return *p; };
        return o;
    }
    void advance(std::int64_t ms = 10) { *t += ms; }
};

}  // namespace

class TestStorage : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    int n_ = 0;
    std::string fresh_path() {
        return dir_.filePath(QString("db%1.sqlite").arg(++n_)).toStdString();
    }

  private slots:
    void pragmasAndVersion() {
        const auto path = fresh_path();
        auto s = Store::open(path);
        QVERIFY2(s.ok(), s.ok() ? "" : s.message().c_str());
        QCOMPARE(*s->schema_version(), schema::kCurrentVersion);
        QCOMPARE(*s->integrity_check(), std::string("ok"));
        RawDb raw(path);
        QCOMPARE(raw.text("PRAGMA journal_mode"), std::string("wal"));
        QCOMPARE(raw.text("PRAGMA user_version"), std::to_string(schema::kCurrentVersion));
        // Foreign keys are per connection; check the store's own by violating one.
        NewMessage orphan;
        orphan.conversation_id = 999;
        orphan.text = "x";
        QVERIFY(!s->add_message(orphan).ok());
    }

    void messageTree() {
        FakeClock clock;
        auto s = Store::open(fresh_path(), clock.options());
        QVERIFY(s.ok());
        auto c = s->create_conversation("first", R"({"temperature":1})");
        QVERIFY(c.ok());
        QCOMPARE(c->title, std::string("first"));
        auto add = [&](std::optional<std::int64_t> parent, Role role, const std::string& text,
                       std::vector<std::int32_t> tokens = {}) {
            clock.advance();
            NewMessage m;
            m.conversation_id = c->id;
            m.parent_id = parent;
            m.role = role;
            m.text = text;
            m.tokens = std::move(tokens);
            m.settings_json = R"({"seed":1})";
            auto r = s->add_message(m);
            if (!r.ok()) qWarning("%s", r.message().c_str());
            return *r;
        };
        const Message sys = add({}, Role::System, "You are terse.", {1, 2, 3});
        const Message u1 = add(sys.id, Role::User, "Hi", {4, 5});
        const Message a1 = add(u1.id, Role::Assistant, "Hello.", {6, 7, 8, 9});
        const Message a1b = add(u1.id, Role::Assistant, "Hey.");  // regenerate
        const Message u1b = add(sys.id, Role::User, "Hi there");  // edit
        QCOMPARE(a1.sibling_order, std::int64_t(0));
        QCOMPARE(a1b.sibling_order, std::int64_t(1));
        QCOMPARE(u1.sibling_order, std::int64_t(0));
        QCOMPARE(u1b.sibling_order, std::int64_t(1));
        QCOMPARE(a1.token_count, std::int64_t(4));
        QVERIFY(a1.tokens == std::vector<std::int32_t>({6, 7, 8, 9}));
        QVERIFY(a1b.tokens.empty());

        // The message written last is where "continue" picks up, even when an imported one
        // carries a time ahead of the clock.
        NewMessage future;
        future.conversation_id = c->id;
        future.parent_id = u1b.id;
        future.role = Role::Assistant;
        future.text = "From the future.";
        future.created_ms = std::int64_t{4'000'000'000'000};
        auto imported = s->add_message(future);
        QVERIFY(imported.ok());
        const Message after = add(imported->id, Role::User, "And now?");
        auto continued = s->latest_message(c->id);
        QVERIFY(continued.ok() && continued->has_value());
        QCOMPARE((*continued)->id, after.id);
        QVERIFY(s->delete_message(imported->id).ok());

        auto kids = s->children(c->id, u1.id);
        QVERIFY(kids.ok());
        QCOMPARE(kids->size(), std::size_t(2));
        QCOMPARE((*kids)[0].id, a1.id);
        QCOMPARE((*kids)[1].id, a1b.id);
        auto roots = s->children(c->id, std::nullopt);
        QCOMPARE(roots->size(), std::size_t(1));

        auto path = s->path_to(a1b.id);
        QVERIFY(path.ok());
        QCOMPARE(path->size(), std::size_t(3));
        QCOMPARE((*path)[0].id, sys.id);
        QCOMPARE((*path)[1].id, u1.id);
        QCOMPARE((*path)[2].id, a1b.id);
        QVERIFY((*path)[2] == *s->message(a1b.id));

        auto latest = s->latest_message(c->id);
        QVERIFY(latest.ok() && latest->has_value());
        QCOMPARE((*latest)->id, u1b.id);

        // A parent from another conversation is refused.
        auto other = s->create_conversation("second");
        NewMessage cross;
        cross.conversation_id = other->id;
        cross.parent_id = a1.id;
        cross.text = "x";
        QVERIFY(!s->add_message(cross).ok());

        auto list = s->list_conversations();
        QCOMPARE(list->size(), std::size_t(2));
        QVERIFY(s->rename_conversation(c->id, "renamed").ok());
        QCOMPARE(s->conversation(c->id)->title, std::string("renamed"));
        QVERIFY(s->set_conversation_settings(c->id, R"({"t":1})").ok());
        QCOMPARE(s->conversation(c->id)->settings_json, std::string(R"({"t":1})"));
        QVERIFY(!s->set_conversation_settings(c->id + 1000, "{}").ok());

        // Deleting a message removes its subtree and its snapshots.
        QVERIFY(s->put_snapshot(a1.id, bytes_of(100, 1), kFp).ok());
        QVERIFY(s->delete_message(u1.id).ok());
        QVERIFY(!s->message(a1.id).ok());
        QCOMPARE(*s->snapshot_bytes_total(), std::int64_t(0));
        QVERIFY(s->delete_conversation(c->id).ok());
        QVERIFY(!s->message(sys.id).ok());
        QVERIFY(!s->conversation(c->id).ok());
    }

    // A conversation 1500 messages deep: each parent link cascades one nested level, and SQLite
    // stops at 1000, so deleting a deep subtree or conversation used to fail.
    void deepTreesCanBeDeleted() {
        const auto path = fresh_path();
        auto s = Store::open(path);
        QVERIFY(s.ok());
        auto c = s->create_conversation("deep");
        auto other = s->create_conversation("other");
        NewMessage root;
        root.conversation_id = c->id;
        root.text = "root";
        auto first = s->add_message(root);
        QVERIFY(first.ok());
        root.conversation_id = other->id;
        auto kept = s->add_message(root);
        QVERIFY(kept.ok());
        {
            RawDb raw(path);
            // Message kept + i hangs on kept + i - 1; the first of them is then moved under
            // `first`, so the chain is this conversation's.
            const std::string chain =
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1500) "
                "INSERT INTO messages (id, conversation_id, parent_id, role, text, created_ms, "
                "updated_ms) SELECT " +
                std::to_string(kept->id) + " + i, " + std::to_string(c->id) + ", " +
                std::to_string(kept->id) + " + i - 1, 'user', 'm' || i, 1, 1 FROM n";
            QVERIFY(raw.exec(chain));
            QVERIFY(raw.exec("UPDATE messages SET parent_id = " + std::to_string(first->id) +
                             " WHERE id = " + std::to_string(kept->id + 1)));
        }
        QVERIFY(s->put_snapshot(kept->id + 1400, bytes_of(100, 1), kFp).ok());
        QCOMPARE(s->messages(c->id)->size(), std::size_t(1501));

        // The subtree below message 100 of the chain: 1401 messages and the snapshot.
        auto cut = s->delete_message(kept->id + 100);
        QVERIFY2(cut.ok(), cut.ok() ? "" : cut.message().c_str());
        QCOMPARE(s->messages(c->id)->size(), std::size_t(100));
        QCOMPARE(*s->snapshot_bytes_total(), std::int64_t(0));
        QVERIFY(s->message(kept->id + 99).ok());
        QVERIFY(!s->message(kept->id + 100).ok());
        QCOMPARE(s->children(c->id, kept->id + 99)->size(), std::size_t(0));

        // A whole deep conversation: the rest of the chain, 1100 messages deep again.
        {
            RawDb raw(path);
            QVERIFY(raw.exec(
                "WITH RECURSIVE n(i) AS (SELECT 100 UNION ALL SELECT i + 1 FROM n WHERE i < 1200) "
                "INSERT INTO messages (id, conversation_id, parent_id, role, text, created_ms, "
                "updated_ms) SELECT " +
                std::to_string(kept->id) + " + i, " + std::to_string(c->id) + ", " +
                std::to_string(kept->id) + " + i - 1, 'user', 'm' || i, 1, 1 FROM n"));
        }
        QCOMPARE(s->messages(c->id)->size(), std::size_t(1201));
        auto gone = s->delete_conversation(c->id);
        QVERIFY2(gone.ok(), gone.ok() ? "" : gone.message().c_str());
        QVERIFY(!s->conversation(c->id).ok());
        QVERIFY(!s->message(first->id).ok());
        QCOMPARE(s->messages(other->id)->size(), std::size_t(1));
        QVERIFY(s->message(kept->id).ok());
    }

    // Row ids are reused after a delete, so what a conversation keeps in the settings table
    // goes with it; keys of other conversations (a longer id with the same digits first) stay.
    void deletingAConversationDeletesItsSettings() {
        auto s = Store::open(fresh_path());
        QVERIFY(s.ok());
        auto c = s->create_conversation("going");
        QVERIFY(c.ok());
        const std::string mine = conversation_setting_prefix(c->id);
        const std::string longer = conversation_setting_prefix(c->id * 10 + 2);
        const std::string bare = "conversation/" + std::to_string(c->id);
        for (const std::string& key : {mine + "settings", mine + "x/y", longer + "settings", bare,
                                       std::string("snapshot_cap_bytes")}) {
            QVERIFY(s->set_setting(key, "{}").ok());
        }
        QVERIFY(s->delete_conversation(c->id).ok());
        QVERIFY(!s->setting(mine + "settings")->has_value());
        QVERIFY(!s->setting(mine + "x/y")->has_value());
        QVERIFY(s->setting(longer + "settings")->has_value());
        QVERIFY(s->setting(bare)->has_value());
        QVERIFY(s->setting("snapshot_cap_bytes")->has_value());
        // The next conversation may get the same row id, and nothing of the old one.
        auto next = s->create_conversation("new");
        QVERIFY(next.ok());
        QVERIFY(!s->setting(conversation_setting_prefix(next->id) + "settings")->has_value());
    }

    void snapshotsAndEviction() {
        FakeClock clock;
        auto s = Store::open(fresh_path(), clock.options());
        auto c = s->create_conversation("snap");
        // A chain sys -> u1 -> a1 -> u2 -> a2, plus a branch u1 -> a1b.
        std::map<std::string, std::int64_t> id;
        auto add = [&](const std::string& name, std::optional<std::int64_t> parent) {
            NewMessage m;
            m.conversation_id = c->id;
            m.parent_id = parent;
            m.role = Role::User;
            m.text = name;
            id[name] = s->add_message(m)->id;
        };
        add("sys", {});
        add("u1", id["sys"]);
        add("a1", id["u1"]);
        add("u2", id["a1"]);
        add("a2", id["u2"]);
        add("a1b", id["u1"]);
        QVERIFY(!s->put_snapshot(id["a1"], bytes_of(10, 0), "not-hex").ok());

        // Least recently used first among interior messages: sys, a1; leaves a2, a1b go last.
        for (const char* name : {"a1b", "a2", "sys", "a1"}) {
            clock.advance();
            QVERIFY(s->put_snapshot(id[name], bytes_of(1000, int(id[name])), kFp).ok());
        }
        QCOMPARE(*s->snapshot_bytes_total(), std::int64_t(4000));
        clock.advance();
        auto got = s->snapshot(id["sys"]);
        QVERIFY(got.ok() && got->has_value());
        QVERIFY((*got)->blob == bytes_of(1000, int(id["sys"])));
        QCOMPARE((*got)->ref.model_fingerprint, kFp);
        QCOMPARE((*got)->ref.last_used_ms, *clock.t);
        clock.advance();
        (void)s->snapshot(id["a1b"]);  // touch a leaf: still evicted after interior ones

        // Now a1 was used longest ago among interior snapshots (sys was touched later).
        QVERIFY(s->set_snapshot_cap(3500).ok());
        auto refs = s->snapshot_refs(c->id);
        std::set<std::int64_t> left;
        for (const auto& r : *refs) left.insert(r.message_id);
        QCOMPARE(left, (std::set<std::int64_t>{id["sys"], id["a2"], id["a1b"]}));

        QVERIFY(s->set_snapshot_cap(2000).ok());
        refs = s->snapshot_refs(c->id);
        left.clear();
        for (const auto& r : *refs) left.insert(r.message_id);
        QCOMPARE(left, (std::set<std::int64_t>{id["a2"], id["a1b"]}));

        // Among leaves, least recently used first (a2 was never read since it was written).
        QVERIFY(s->set_snapshot_cap(1500).ok());
        refs = s->snapshot_refs(c->id);
        QCOMPARE(refs->size(), std::size_t(1));
        QCOMPARE(refs->front().message_id, id["a1b"]);

        // Pinned snapshots go last of all.
        QVERIFY(s->set_snapshot_cap(10000).ok());
        clock.advance();
        QVERIFY(s->put_snapshot(id["u2"], bytes_of(1000, 5), kFp).ok());
        QVERIFY(s->pin_snapshot(id["u2"], true).ok());
        clock.advance();
        QVERIFY(s->put_snapshot(id["a2"], bytes_of(1000, 6), kFp).ok());
        QVERIFY(s->set_snapshot_cap(1000).ok());
        refs = s->snapshot_refs(c->id);
        QCOMPARE(refs->size(), std::size_t(1));
        QCOMPARE(refs->front().message_id, id["u2"]);
        QVERIFY(refs->front().pinned);

        // Replacing a snapshot overwrites it.
        QVERIFY(s->set_snapshot_cap(kDefaultSnapshotCapBytes).ok());
        QVERIFY(s->put_snapshot(id["u2"], bytes_of(7, 9), kFp).ok());
        QCOMPARE((*s->snapshot(id["u2"]))->blob.size(), std::size_t(7));
        QVERIFY(s->delete_snapshot(id["u2"]).ok());
        QVERIFY(!s->snapshot(id["u2"])->has_value());
    }

    void snapshotCapIsASetting() {
        const auto path = fresh_path();
        {
            auto s = Store::open(path);
            QCOMPARE(*s->snapshot_cap(), kDefaultSnapshotCapBytes);
            QCOMPARE(kDefaultSnapshotCapBytes, std::int64_t(2147483648LL));
            QVERIFY(s->set_snapshot_cap(12345).ok());
        }
        auto s = Store::open(path);
        QCOMPARE(*s->snapshot_cap(), std::int64_t(12345));
        QVERIFY(s->set_setting(std::string(kSnapshotCapSetting), "garbage").ok());
        QCOMPARE(*s->snapshot_cap(), kDefaultSnapshotCapBytes);
    }

    void settingsAndPresets() {
        auto s = Store::open(fresh_path());
        QVERIFY(!s->setting("theme")->has_value());
        QVERIFY(s->set_setting("theme", "dark").ok());
        QVERIFY(s->set_setting("theme", "light").ok());
        QCOMPARE(**s->setting("theme"), std::string("light"));
        QVERIFY(s->save_preset("Creative", R"({"temperature":1.2})").ok());
        QVERIFY(s->save_preset("Precise", R"({"temperature":0.3})").ok());
        QVERIFY(s->save_preset("Creative", R"({"temperature":1.5})").ok());
        auto p = s->presets();
        QCOMPARE(p->size(), std::size_t(2));
        QCOMPARE(p->front().name, std::string("Creative"));
        QCOMPARE(p->front().settings_json, std::string(R"({"temperature":1.5})"));
        QVERIFY(s->delete_preset("Creative").ok());
        QCOMPARE(s->presets()->size(), std::size_t(1));
    }

    void startState() {
        auto s = Store::open(fresh_path());
        auto c = s->create_conversation("tuned");
        QVERIFY(!s->start_state(c->id)->has_value());
        QVERIFY(s->set_start_state(c->id, bytes_of(333, 2), "state.pth").ok());
        auto st = s->start_state(c->id);
        QVERIFY(st.ok() && st->has_value());
        QVERIFY(**st == bytes_of(333, 2));
        auto conv = s->conversation(c->id);
        QVERIFY(conv->has_start_state);
        QCOMPARE(conv->start_state_name, std::string("state.pth"));
    }

    // A database made by schema version 1 (built here from the v1 SQL) upgrades with no loss.
    void migrationFromV1() {
        const auto path = fresh_path();
        {
            RawDb raw(path);
            QVERIFY(raw.exec(std::string(schema::kV1)));
            QVERIFY(raw.exec("PRAGMA user_version = 1"));
            QVERIFY(raw.exec(
                "INSERT INTO conversations(id, title, created_ms, updated_ms, settings_json) "
                "VALUES(7, 'old chat', 100, 200, '{\"seed\":3}');"
                "INSERT INTO messages(id, conversation_id, parent_id, role, text, tokens, "
                "token_count, created_ms, updated_ms, settings_json, sibling_order) VALUES"
                "(1, 7, NULL, 'system', 'sys', NULL, 0, 101, 101, '{}', 0),"
                "(2, 7, 1, 'user', 'hello', x'0100000002000000', 2, 102, 102, '{}', 0),"
                "(3, 7, 2, 'assistant', 'hi!', NULL, 0, 103, 103, '{\"t\":1}', 0);"
                "INSERT INTO snapshots(message_id, blob, bytes, model_fingerprint, created_ms) "
                "VALUES(3, x'00010203', 4, '" +
                kFp +
                "', 150);"
                "INSERT INTO presets(name, settings_json, updated_ms) VALUES('p', '{}', 5);"
                "INSERT INTO settings(key, value) VALUES('k', 'v');"));
        }
        auto s = Store::open(path);
        QVERIFY2(s.ok(), s.ok() ? "" : s.message().c_str());
        QCOMPARE(*s->schema_version(), schema::kCurrentVersion);
        auto c = s->conversation(7);
        QVERIFY(c.ok());
        QCOMPARE(c->title, std::string("old chat"));
        QCOMPARE(c->settings_json, std::string("{\"seed\":3}"));
        auto msgs = s->messages(7);
        QVERIFY(msgs.ok());
        QCOMPARE(msgs->size(), std::size_t(3));
        QCOMPARE((*msgs)[1].text, std::string("hello"));
        QVERIFY((*msgs)[1].tokens == std::vector<std::int32_t>({1, 2}));
        QCOMPARE((*msgs)[2].settings_json, std::string("{\"t\":1}"));
        QCOMPARE(*(*msgs)[2].parent_id, std::int64_t(2));
        auto refs = s->snapshot_refs(7);
        QCOMPARE(refs->size(), std::size_t(1));
        QCOMPARE(refs->front().last_used_ms, std::int64_t(150));  // from created_ms
        QVERIFY(!refs->front().pinned);
        QCOMPARE((*s->snapshot(3))->blob.size(), std::size_t(4));
        QCOMPARE(**s->setting("k"), std::string("v"));
        QCOMPARE(s->presets()->size(), std::size_t(1));
        QCOMPARE(*s->integrity_check(), std::string("ok"));
    }

    // A version-2 database (snapshot bytes in the snapshots rows) upgrades to version 3: the
    // bytes move to snapshot_blobs whole, the metadata stays, and the snapshots rows no
    // longer hold them (so marking one as used rewrites a small row only).
    void migrationFromV2MovesSnapshotBytes() {
        const auto path = fresh_path();
        const auto big = bytes_of(3 << 20, 9);  // several MiB: overflow pages
        {
            RawDb raw(path);
            QVERIFY(raw.exec(std::string(schema::kV1)));
            QVERIFY(raw.exec(
                "ALTER TABLE snapshots ADD COLUMN last_used_ms INTEGER NOT NULL DEFAULT 0;"
                "ALTER TABLE snapshots ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0;"
                "PRAGMA user_version = 2;"
                "INSERT INTO conversations(id, title, created_ms, updated_ms) "
                "VALUES(1, 'c', 1, 1);"
                "INSERT INTO messages(id, conversation_id, parent_id, role, text, created_ms, "
                "updated_ms) VALUES(1, 1, NULL, 'user', 'a', 1, 1),"
                "(2, 1, 1, 'assistant', 'b', 2, 2);"
                "INSERT INTO snapshots(message_id, blob, bytes, model_fingerprint, created_ms, "
                "last_used_ms, pinned) VALUES(1, x'0a0b0c', 3, '" +
                kFp + "', 10, 40, 1);"));
            std::string insert =
                "INSERT INTO snapshots(message_id, blob, bytes, model_fingerprint, created_ms, "
                "last_used_ms, pinned) VALUES(2, ?, ";
            insert += std::to_string(big.size());
            insert += ", '";
            insert += kFp;
            insert += "', 20, 30, 0)";
            QVERIFY(raw.insert_blob(insert, big));
        }
        auto s = Store::open(path);
        QVERIFY2(s.ok(), s.ok() ? "" : s.message().c_str());
        QCOMPARE(*s->schema_version(), 3);
        auto refs = s->snapshot_refs(1);
        QVERIFY(refs.ok());
        QCOMPARE(refs->size(), std::size_t(2));
        auto small = s->snapshot(1);
        QVERIFY(small.ok() && small->has_value());
        QVERIFY((*small)->blob ==
                std::vector<std::byte>({std::byte{10}, std::byte{11}, std::byte{12}}));
        QVERIFY((*small)->ref.pinned);
        QCOMPARE((*small)->ref.created_ms, std::int64_t(10));
        auto large = s->snapshot(2);
        QVERIFY(large.ok() && large->has_value());
        QVERIFY((*large)->blob == big);
        QCOMPARE(*s->snapshot_bytes_total(), std::int64_t(big.size() + 3));
        QCOMPARE(*s->integrity_check(), std::string("ok"));
        RawDb raw(path);
        QCOMPARE(
            raw.text("SELECT COUNT(*) FROM pragma_table_info('snapshots') WHERE name = 'blob'"),
            std::string("0"));
        QCOMPARE(raw.text("SELECT COUNT(*) FROM snapshot_blobs"), std::string("2"));
        // Deleting a snapshot takes its bytes with it.
        QVERIFY(s->delete_snapshot(2).ok());
        QCOMPARE(raw.text("SELECT COUNT(*) FROM snapshot_blobs"), std::string("1"));
    }

    // Reading a snapshot marks it used in its small metadata row: the bytes are neither in that
    // row (schema v3) nor written again, so the WAL stays far below the snapshot's size.
    void markingASnapshotUsedLeavesItsBytesAlone() {
        const auto path = fresh_path();
        auto s = Store::open(path);
        QVERIFY(s.ok());
        auto c = s->create_conversation("c");
        NewMessage m;
        m.conversation_id = c->id;
        m.text = "hello";
        auto msg = s->add_message(m);
        QVERIFY(msg.ok());
        const auto big = bytes_of(std::size_t{3} << 20, 4);
        QVERIFY(s->put_snapshot(msg->id, big, kFp).ok());
        RawDb raw(path);
        QVERIFY(raw.exec("PRAGMA wal_checkpoint(TRUNCATE)"));
        const auto wal = path + "-wal";
        QCOMPARE(std::filesystem::file_size(wal), std::uintmax_t{0});
        auto snap = s->snapshot(msg->id);
        QVERIFY(snap.ok() && snap->has_value());
        QVERIFY((*snap)->blob == big);
        QVERIFY(std::filesystem::file_size(wal) < (std::uintmax_t{1} << 20));
        QCOMPARE(
            raw.text("SELECT COUNT(*) FROM pragma_table_info('snapshots') WHERE name = 'blob'"),
            std::string("0"));
        // Deleting the message takes the snapshot's bytes along.
        QVERIFY(s->delete_message(msg->id).ok());
        QCOMPARE(raw.text("SELECT COUNT(*) FROM snapshot_blobs"), std::string("0"));
    }

    void newerSchemaIsRefused() {
        const auto path = fresh_path();
        {
            RawDb raw(path);
            QVERIFY(raw.exec("PRAGMA user_version = 99"));
        }
        auto s = Store::open(path);
        QVERIFY(!s.ok());
        QVERIFY(s.message().find("newer") != std::string::npos);
    }

    void notADatabase() {
        const auto path = fresh_path();
        {
            QFile f(QString::fromStdString(path));
            QVERIFY(f.open(QIODevice::WriteOnly));
            f.write(QByteArray(4096, 'z'));
        }
        auto s = Store::open(path);
        QVERIFY(!s.ok());
    }

    // Rows written by something else are validated, never trusted.
    void hostileRows() {
        const auto path = fresh_path();
        auto s = Store::open(path);
        auto c = s->create_conversation("h");
        NewMessage m;
        m.conversation_id = c->id;
        m.text = "a";
        const auto a = *s->add_message(m);
        m.parent_id = a.id;
        const auto b = *s->add_message(m);
        QVERIFY(s->put_snapshot(b.id, bytes_of(10, 1), kFp).ok());
        {
            RawDb raw(path);
            raw.exec("PRAGMA foreign_keys = OFF");
            // A cycle in the parent chain.
            QVERIFY(raw.exec("UPDATE messages SET parent_id = " + std::to_string(b.id) +
                             " WHERE id = " + std::to_string(a.id)));
        }
        auto p = s->path_to(b.id);
        QVERIFY(!p.ok());
        QVERIFY(p.message().find("cycle") != std::string::npos);
        {
            RawDb raw(path);
            QVERIFY(raw.exec("UPDATE messages SET parent_id = NULL WHERE id = " +
                             std::to_string(a.id)));
            QVERIFY(raw.exec("UPDATE messages SET token_count = 'lots' WHERE id = " +
                             std::to_string(a.id)));
            QVERIFY(raw.exec("UPDATE messages SET tokens = x'010203' WHERE id = " +
                             std::to_string(b.id)));
            QVERIFY(raw.exec("UPDATE snapshots SET model_fingerprint = 'zz'"));
        }
        auto ma = s->message(a.id);
        QVERIFY(!ma.ok());
        QVERIFY(ma.message().find("token count") != std::string::npos);
        QVERIFY(!s->message(b.id).ok());
        QVERIFY(!s->messages(c->id).ok());
        QVERIFY(!s->snapshot_refs(c->id).ok());
        QVERIFY(!s->snapshot(b.id).ok());
    }

    // Snapshot rows whose sizes lie. A blob larger than its row says is not read (the read
    // would allocate what the cache never counted); sizes that are negative, not integers or
    // near INT64_MAX neither overflow the cache's accounting nor stop later writes: those rows
    // are evicted first.
    void hostileSnapshotSizes() {
        const auto path = fresh_path();
        auto s = Store::open(path);
        auto c = s->create_conversation("sizes");
        NewMessage m;
        m.conversation_id = c->id;
        m.text = "x";
        std::vector<std::int64_t> ids;
        for (int i = 0; i < 5; ++i) {
            ids.push_back(s->add_message(m)->id);
            QVERIFY(s->put_snapshot(ids.back(), bytes_of(100, i), kFp).ok());
        }
        {
            RawDb raw(path);
            const auto set = [&](std::int64_t id, const std::string& value) {
                return raw.exec("UPDATE snapshots SET bytes = " + value +
                                " WHERE message_id = " + std::to_string(id));
            };
            QVERIFY(set(ids[0], "10"));  // the blob holds 100
            QVERIFY(set(ids[1], "9223372036854775797"));
            QVERIFY(set(ids[2], "-20"));
            QVERIFY(set(ids[3], "'lots'"));
        }
        auto lying = s->snapshot(ids[0]);
        QVERIFY(!lying.ok());
        QVERIFY(lying.message().find("holds 100 bytes") != std::string::npos);
        QVERIFY(s->snapshot(ids[4]).ok());
        auto total = s->snapshot_bytes_total();
        QVERIFY(total.ok());
        QVERIFY(*total >= std::int64_t(9) << 60);  // saturated, not wrapped
        // The next write evicts the damaged rows and the one too large for any cap, and works.
        m.text = "y";
        const auto next = *s->add_message(m);
        QVERIFY(s->put_snapshot(next.id, bytes_of(100, 9), kFp).ok());
        auto refs = s->snapshot_refs(c->id);
        QVERIFY2(refs.ok(), refs.ok() ? "" : refs.message().c_str());
        std::set<std::int64_t> kept;
        for (const auto& r : *refs) kept.insert(r.message_id);
        QVERIFY(!kept.count(ids[1]) && !kept.count(ids[2]) && !kept.count(ids[3]));
        QVERIFY(kept.count(next.id));
        QVERIFY(*s->snapshot_bytes_total() < (std::int64_t(1) << 30));
    }
};

QTEST_GUILESS_MAIN(TestStorage)
#include "test_storage.moc"
