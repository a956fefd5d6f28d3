// The app's SQLite storage (open_sqlite_storage) when the database misbehaves: a conversation
// that cannot be read is left out and named while the others load, and a new conversation then
// gets a row of its own instead of taking over one the app does not show; a save that fails
// (here a trigger stands in for a full disk) is written with the next save, parents first, so
// the rest of the branch is not lost; deleting a conversation drops what still waits for it.
#include <sqlite3.h>

#include <QTemporaryDir>
#include <QtTest>
#include <string>

#include "conversation_storage.hpp"

using namespace ravel;
using namespace ravel::app;

namespace {

// A second connection to the same file, for what the app never does to its own database.
struct RawDb {
    sqlite3* db = nullptr;
    explicit RawDb(const QString& path) { sqlite3_open(path.toUtf8().constData(), &db); }
    ~RawDb() { sqlite3_close(db); }
    RawDb(const RawDb&) = delete;
    RawDb& operator=(const RawDb&) = delete;
    bool exec(const char* sql) {
        char* err = nullptr;
        const bool ok = sqlite3_exec(db, sql, nullptr, nullptr, &err) == SQLITE_OK;
        if (!ok) qWarning("sql failed: %s", err != nullptr ? err : "?");
        sqlite3_free(err);
        return ok;
    }
    qint64 number(const char* sql) {
        sqlite3_stmt* st = nullptr;
        qint64 out = -1;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            out = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        return out;
    }
    QString text(const char* sql) {
        sqlite3_stmt* st = nullptr;
        QString out;
        if (sqlite3_prepare_v2(db, sql, -1, &st, nullptr) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != nullptr) {
            out = QString::fromUtf8(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
        }
        sqlite3_finalize(st);
        return out;
    }
};

// Stands in for a full disk: every new message fails until it is dropped.
constexpr const char* kFailInserts =
    "CREATE TRIGGER test_full BEFORE INSERT ON messages "
    "BEGIN SELECT RAISE(ABORT, 'database or disk is full (test)'); END;";
constexpr const char* kStopFailing = "DROP TRIGGER test_full;";

StoredConversation conversation(qint64 id, const QString& title) {
    StoredConversation c;
    c.id = id;
    c.title = title;
    c.created = QDateTime::fromMSecsSinceEpoch(1700000000000 + id);
    c.updated = c.created;
    return c;
}

StoredMessage message(qint64 id, qint64 conversationId, qint64 parentId, Role role,
                      const QString& text) {
    StoredMessage m;
    m.id = id;
    m.conversationId = conversationId;
    m.parentId = parentId;
    m.role = role;
    m.text = text;
    m.created = QDateTime::fromMSecsSinceEpoch(1700000000000 + id);
    return m;
}

std::unique_ptr<ConversationStorage> open(const QString& path) {
    auto opened = open_sqlite_storage(path);
    if (!opened.ok()) {
        qWarning("%s", opened.message().c_str());
        return nullptr;
    }
    return std::move(opened).value();
}

}  // namespace

class TestAppSqliteStorage : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

  private slots:
    // A reply's record (its token ids and reply settings) is written with it and read back,
    // in the columns ravel-cli's conversations use; a user message has none.
    void aReplyKeepsItsRecord() {
        const QString path = dir_.filePath("record.db");
        ReplyRecord record;
        record.tokens = {72, 105, 0, 65535, 7};
        record.settings = R"({"ended_at_blank_line":false,"rng_state":[18446744073709551615,1,2,3]})";
        {
            auto storage = open(path);
            QVERIFY(storage);
            QVERIFY(storage->loadAll().ok());
            QVERIFY(storage->saveConversation(conversation(1, "recorded")).ok());
            QVERIFY(storage->saveMessage(message(1, 1, 0, Role::User, "Hi")).ok());
            StoredMessage reply = message(2, 1, 1, Role::Assistant, "Hi!");
            reply.reply = record;
            QVERIFY(storage->saveMessage(reply).ok());
        }
        RawDb raw(path);
        QCOMPARE(raw.number("SELECT token_count FROM messages WHERE role = 'assistant'"), 5);
        QCOMPARE(raw.number("SELECT length(tokens) FROM messages WHERE role = 'assistant'"), 20);
        auto storage = open(path);
        QVERIFY(storage);
        auto library = storage->loadAll();
        QVERIFY(library.ok());
        QCOMPARE(library->messages.size(), 2);
        for (const StoredMessage& m : library->messages) {
            if (m.role == Role::Assistant) {
                QCOMPARE(m.reply.tokens, record.tokens);
                QCOMPARE(m.reply.settings, record.settings);
            } else {
                QVERIFY(m.reply.empty());
            }
        }
    }

    void anUnreadableConversationLeavesTheOthers() {
        const QString path = dir_.filePath("unreadable.sqlite");
        {
            auto storage = open(path);
            QVERIFY(storage);
            QVERIFY(storage->saveConversation(conversation(1, "Kept")).ok());
            QVERIFY(storage->saveMessage(message(1, 1, 0, Role::User, "hello")).ok());
            QVERIFY(storage->saveConversation(conversation(2, "Damaged")).ok());
            QVERIFY(storage->saveMessage(message(2, 2, 0, Role::User, "hi")).ok());
            QVERIFY(storage->saveConversation(conversation(3, "Also kept")).ok());
            QVERIFY(storage->saveMessage(message(3, 3, 0, Role::User, "hey")).ok());
        }
        RawDb raw(path);
        QCOMPARE(raw.number("SELECT count(*) FROM conversations"), qint64(3));
        QVERIFY(raw.exec("UPDATE messages SET created_ms = 1.5 WHERE text = 'hi'"));

        auto storage = open(path);
        QVERIFY(storage);
        auto library = storage->loadAll();
        QVERIFY2(library.ok(), library.ok() ? "" : library.message().c_str());
        QCOMPARE(library->conversations.size(), 2);
        QStringList titles;
        qint64 highest = 0;
        for (const StoredConversation& c : library->conversations) {
            titles << c.title;
            highest = std::max(highest, c.id);
        }
        titles.sort();
        QCOMPARE(titles, QStringList({"Also kept", "Kept"}));
        QCOMPARE(library->messages.size(), 2);
        QCOMPARE(library->unreadable.size(), 1);
        QVERIFY(library->unreadable.front().contains("Damaged"));

        // The app numbers a new conversation after the highest id it was given. It gets a row
        // of its own: the conversation left out keeps its title and its message.
        const qint64 fresh = highest + 1;
        QVERIFY(storage->saveConversation(conversation(fresh, "New")).ok());
        QVERIFY(storage->saveMessage(message(100, fresh, 0, Role::User, "new text")).ok());
        QCOMPARE(raw.number("SELECT count(*) FROM conversations"), qint64(4));
        QCOMPARE(raw.text("SELECT title FROM conversations WHERE id = 2"), QString("Damaged"));
        QCOMPARE(raw.number("SELECT count(*) FROM messages WHERE conversation_id = 2"), qint64(1));
        QCOMPARE(raw.number("SELECT count(*) FROM messages WHERE conversation_id = "
                            "(SELECT id FROM conversations WHERE title = 'New')"),
                 qint64(1));
    }

    void aFailedSaveIsWrittenWithTheNext() {
        const QString path = dir_.filePath("retry.sqlite");
        {
            auto storage = open(path);
            QVERIFY(storage);
            QVERIFY(storage->loadAll().ok());
            QVERIFY(storage->saveConversation(conversation(1, "Chat")).ok());
            QVERIFY(storage->saveMessage(message(1, 1, 0, Role::User, "question 1")).ok());

            RawDb raw(path);
            QVERIFY(raw.exec(kFailInserts));
            QVERIFY(!storage->saveMessage(message(2, 1, 1, Role::Assistant, "answer 1")).ok());
            QVERIFY(!storage->saveMessage(message(3, 1, 2, Role::User, "question 2")).ok());
            QCOMPARE(raw.number("SELECT count(*) FROM messages"), qint64(1));
            QVERIFY(raw.exec(kStopFailing));
            // The disk has room again: the next save writes the two that failed, then itself.
            QVERIFY(storage->saveMessage(message(4, 1, 3, Role::Assistant, "answer 2")).ok());
            QCOMPARE(raw.number("SELECT count(*) FROM messages"), qint64(4));
        }
        auto storage = open(path);
        QVERIFY(storage);
        auto library = storage->loadAll();
        QVERIFY(library.ok());
        QCOMPARE(library->messages.size(), 4);
        // One chain, in order: each message's parent is the one before it.
        QHash<qint64, StoredMessage> byId;
        for (const StoredMessage& m : library->messages) byId.insert(m.id, m);
        QStringList chain;
        for (const StoredMessage& m : library->messages) {
            if (m.parentId != 0) continue;
            for (qint64 id = m.id; id != 0;) {
                chain << byId.value(id).text;
                qint64 child = 0;
                for (const StoredMessage& c : library->messages) {
                    if (c.parentId == id) child = c.id;
                }
                id = child;
            }
        }
        QCOMPARE(chain, QStringList({"question 1", "answer 1", "question 2", "answer 2"}));
    }

    void deletingAConversationDropsItsWaitingSaves() {
        const QString path = dir_.filePath("delete.sqlite");
        auto storage = open(path);
        QVERIFY(storage);
        QVERIFY(storage->loadAll().ok());
        QVERIFY(storage->saveConversation(conversation(1, "Staying")).ok());
        RawDb raw(path);
        QVERIFY(
            raw.exec("CREATE TRIGGER test_full_c BEFORE INSERT ON conversations "
                     "BEGIN SELECT RAISE(ABORT, 'database or disk is full (test)'); END;"));
        QVERIFY(!storage->saveConversation(conversation(2, "Deleted while unsaved")).ok());
        QVERIFY(!storage->saveMessage(message(1, 2, 0, Role::User, "lost on purpose")).ok());
        QVERIFY(storage->deleteConversation(2).ok());
        QVERIFY(raw.exec("DROP TRIGGER test_full_c;"));
        QVERIFY(storage->saveMessage(message(2, 1, 0, Role::User, "kept")).ok());
        QCOMPARE(raw.text("SELECT group_concat(title) FROM conversations"), QString("Staying"));
        QCOMPARE(raw.text("SELECT group_concat(text) FROM messages"), QString("kept"));
    }
};

QTEST_GUILESS_MAIN(TestAppSqliteStorage)
#include "test_app_sqlite_storage.moc"
