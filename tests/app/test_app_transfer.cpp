// Export and import through ChatController and the storage thread on a SQLite database: the file
// written, the conversation added back under ids of the app's own, and messages added to it
// afterwards saved under its rows (seen after a restart). Failures are messages, never a partial
// conversation.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QSignalSpy>
#include <QtTest>

#include "controller_fixture.hpp"
#include "ravel/resume_record.hpp"

using namespace ravel;
using namespace ravel::app;

namespace {

QString rowText(const MessageListModel* m, int row) {
    return m->data(m->index(row), MessageListModel::TextRole).toString();
}

QStringList shownTexts(ChatController& chat) {
    QStringList out;
    for (int row = 0; row < chat.messages()->rowCount(); ++row) {
        out << rowText(chat.messages(), row);
    }
    return out;
}

// The fake backend's snapshots are not resume records, so the database refuses them with an
// error of its own; only transfer errors count here.
bool transferFailed(const ChatController& chat) {
    const QString e = chat.errorMessage();
    return e.contains("export") || e.contains("import") || e.contains("Could not write");
}

}  // namespace

class TestAppTransfer : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;
    QString settingsFile() const { return dir_.filePath("settings.ini"); }
    static StorageFactory sqlite(const QString& file) {
        return [file] { return open_sqlite_storage(file); };
    }

  private slots:
    void exportThenImportJsonAndContinue() {
        const QString db = dir_.filePath("json.sqlite");
        const QString file = dir_.filePath("conversation.json");
        QStringList original_texts;
        {
            test::AppFixture app(sqlite(db), settingsFile());
            QVERIFY(app.waitStorage());
            QVERIFY(app.loadModel());
            QVERIFY(app.chat->send("first question"));
            QVERIFY(app.waitIdle());
            const qint64 original = app.chat->currentConversationId();
            original_texts = shownTexts(*app.chat);
            QCOMPARE(original_texts.size(), 2);

            app.chat->exportConversation(original, QUrl::fromLocalFile(file).toString());
            QTRY_VERIFY_WITH_TIMEOUT(app.chat->notice().contains("Exported"), 5000);
            QVERIFY2(!transferFailed(*app.chat), qPrintable(app.chat->errorMessage()));
            QFile written(file);
            QVERIFY(written.open(QIODevice::ReadOnly));
            const QJsonObject doc = QJsonDocument::fromJson(written.readAll()).object();
            QCOMPARE(doc.value("format").toString(), QString("ravel-conversation"));
            const QJsonArray rows = doc.value("messages").toArray();
            QCOMPARE(rows.size(), 2);
            QCOMPARE(rows.at(0).toObject().value("text").toString(), QString("first question"));

            app.chat->importConversation(file);
            QTRY_COMPARE_WITH_TIMEOUT(app.chat->conversations()->rowCount(), 2, 5000);
            QVERIFY2(!transferFailed(*app.chat), qPrintable(app.chat->errorMessage()));
            QVERIFY(app.chat->notice().contains("Imported"));
            const qint64 imported = app.chat->currentConversationId();
            QVERIFY(imported != original);
            QCOMPARE(app.chat->conversations()->idAt(0), imported);  // newest in this library
            QCOMPARE(shownTexts(*app.chat), original_texts);

            // Continuing the copy saves the new messages under the copy's rows.
            QVERIFY(app.chat->send("second question"));
            QVERIFY(app.waitIdle());
            QCOMPARE(app.chat->messages()->rowCount(), 4);
            QVERIFY(!app.chat->errorMessage().contains("never saved"));
        }
        test::AppFixture app(sqlite(db), settingsFile());
        QVERIFY(app.waitStorage());
        QCOMPARE(app.chat->conversations()->rowCount(), 2);
        QList<QStringList> seen;
        for (int row = 0; row < 2; ++row) {
            app.chat->selectConversation(app.chat->conversations()->idAt(row));
            seen << shownTexts(*app.chat);
        }
        std::sort(seen.begin(), seen.end(),
                  [](const QStringList& a, const QStringList& b) { return a.size() < b.size(); });
        QCOMPARE(seen[0], original_texts);
        QCOMPARE(seen[1].size(), 4);
        QCOMPARE(seen[1].mid(0, 2), original_texts);
        QCOMPARE(seen[1][2], QString("second question"));
    }

    // The database's JSON export carries a message's state snapshot only when asked, and the
    // import of such a file gives the copy's message that snapshot, so the copy resumes where
    // the original stopped; Markdown never carries one.
    void snapshotsTravelOnlyWhenAsked() {
        auto opened = open_sqlite_storage(dir_.filePath("snapshots.sqlite"));
        QVERIFY2(opened.ok(), opened.ok() ? "" : opened.message().c_str());
        ConversationStorage& storage = *opened.value();
        QVERIFY(storage.loadAll().ok());
        const QDateTime now = QDateTime::currentDateTimeUtc();
        QVERIFY(storage.saveConversation({1, "With a state", now, now, {}, {}}).ok());
        QVERIFY(storage.saveMessage({1, 1, 0, Role::User, "question", now, 3, {}}).ok());
        QVERIFY(storage.saveMessage({2, 1, 1, Role::Assistant, "answer", now, 5, {}}).ok());

        const ModelConfig config = synthetic_config({Arch::V4, 2, 8, 16});
        ResumeRecord record{State(config), std::vector<float>(16, 0.25f), {}, 8, {}, "byte"};
        record.model.bytes[0] = 7;
        record.state.values()[3] = 1.5f;
        const ResumeBlob encoded = encode_resume_record(record);
        const QByteArray blob(reinterpret_cast<const char*>(encoded.data()),
                              static_cast<qsizetype>(encoded.size()));
        QVERIFY(storage.saveSnapshot(1, 2, blob).ok());

        auto plain_file = storage.exportConversation(1, TransferFormat::Json, 0, false);
        QVERIFY(plain_file.ok());
        const std::string plain = plain_file.value().text;
        QVERIFY(plain.find("\"snapshot\"") == std::string::npos);
        QCOMPARE(plain_file.value().snapshots, 0);
        auto markdown = storage.exportConversation(1, TransferFormat::Markdown, 0, true);
        QVERIFY(markdown.ok());
        QVERIFY(markdown.value().text.find(record.model.hex()) == std::string::npos);
        QCOMPARE(markdown.value().snapshots, 0);
        auto with_file = storage.exportConversation(1, TransferFormat::Json, 0, true);
        QVERIFY(with_file.ok());
        QCOMPARE(with_file.value().snapshots, 1);
        const std::string with = with_file.value().text;
        const QJsonArray rows =
            QJsonDocument::fromJson(QByteArray::fromStdString(with))["messages"].toArray();
        QCOMPARE(rows.size(), 2);
        QVERIFY(!rows.at(0).toObject().contains("snapshot"));
        QCOMPARE(rows.at(1)["snapshot"]["model_fingerprint"].toString(),
                 QString::fromStdString(record.model.hex()));

        // Imports `text` and names its conversation `id`, its question id + 1, its answer id + 2.
        const auto importAs = [&](const std::string& text, qint64 id) {
            auto imported = storage.importConversation(text, TransferFormat::Json);
            QVERIFY2(imported.ok(), imported.ok() ? "" : imported.message().c_str());
            QCOMPARE(imported.value().messages.size(), 2);
            ImportedIds ids;
            ids.conversations.append({id, imported.value().conversations.at(0).id});
            for (const StoredMessage& m : imported.value().messages) {
                ids.messages.append({m.role == Role::User ? id + 1 : id + 2, m.id});
            }
            storage.adoptIds(ids);
        };
        importAs(with, 10);
        auto copied = storage.loadSnapshot(10, 12);
        QVERIFY(copied.ok());
        QCOMPARE(copied.value(), blob);
        auto none = storage.loadSnapshot(10, 11);
        QVERIFY(none.ok() && none.value().isEmpty());

        importAs(plain, 20);
        auto missing = storage.loadSnapshot(20, 22);
        QVERIFY(missing.ok() && missing.value().isEmpty());
    }

    // The app's export asks for the snapshots only of JSON and says how many the file has.
    void exportWithSnapshotsSaysSo() {
        test::AppFixture app(sqlite(dir_.filePath("notice.sqlite")), settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("a"));
        QVERIFY(app.waitIdle());
        const qint64 id = app.chat->currentConversationId();
        app.chat->exportConversation(id, dir_.filePath("with.json"), true);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->notice().contains("Exported"), 5000);
        // The fake backend's snapshots are refused by the database, so there are none to carry.
        QVERIFY(app.chat->notice().contains("None of its messages had a state snapshot"));
        app.chat->exportConversation(id, dir_.filePath("with.md"), true);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->notice().contains("with.md"), 5000);
        QVERIFY(!app.chat->notice().contains("snapshot"));
        QVERIFY(QFile::exists(dir_.filePath("with.json")));
        QVERIFY2(!transferFailed(*app.chat), qPrintable(app.chat->errorMessage()));
    }

    // The file carries the conversation's settings as they are now, and an imported
    // conversation never picks up those of a deleted one whose row id it reuses.
    void settingsTravelAndStaleOnesDoNot() {
        test::AppFixture app(sqlite(dir_.filePath("settings.sqlite")), settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("a"));
        QVERIFY(app.waitIdle());
        const qint64 a = app.chat->currentConversationId();
        app.generation->setTemperature(0.2);
        app.generation->setSystemPrompt("Be brief.");
        const QString file = dir_.filePath("settings.json");
        app.chat->exportConversation(a, file);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->notice().contains("Exported"), 5000);

        // The newest row, with other settings, deleted: its id is free again.
        app.chat->newConversation();
        QVERIFY(app.chat->send("b"));
        QVERIFY(app.waitIdle());
        const qint64 b = app.chat->currentConversationId();
        app.generation->setTemperature(1.5);
        app.generation->setSystemPrompt("Stale.");
        app.chat->deleteConversation(b);
        app.chat->commitPendingDelete();

        app.chat->importConversation(file);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->notice().contains("Imported"), 5000);
        QVERIFY(app.chat->currentConversationId() != a);
        QCOMPARE(app.generation->temperature(), 0.2);
        QCOMPARE(app.generation->systemPrompt(), QString("Be brief."));
    }

    void markdownFollowsTheShownBranch() {
        test::AppFixture app(sqlite(dir_.filePath("md.sqlite")), settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("original wording"));
        QVERIFY(app.waitIdle());
        const qint64 first = app.chat->messages()
                                 ->data(app.chat->messages()->index(0), MessageListModel::IdRole)
                                 .toLongLong();
        QVERIFY(app.chat->editMessage(first, "edited wording"));
        QVERIFY(app.waitIdle());
        const QString file = dir_.filePath("branch.md");
        app.chat->exportConversation(app.chat->currentConversationId(), file);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->notice().contains("Exported"), 5000);
        QFile written(file);
        QVERIFY(written.open(QIODevice::ReadOnly));
        // The title (the first line) still names the first wording.
        const QString text = QString::fromUtf8(written.readAll()).section(QLatin1Char('\n'), 1);
        QVERIFY2(text.contains("edited wording"), qPrintable(text));
        QVERIFY2(!text.contains("original wording"), qPrintable(text));

        // And back: one branch, as a new conversation.
        app.chat->importConversation(file);
        QTRY_COMPARE_WITH_TIMEOUT(app.chat->conversations()->rowCount(), 2, 5000);
        QCOMPARE(shownTexts(*app.chat).value(0), QString("edited wording"));
    }

    void badFilesAreErrorsAndAddNothing() {
        test::AppFixture app(sqlite(dir_.filePath("bad.sqlite")), settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("keep me"));
        QVERIFY(app.waitIdle());

        const QString broken = dir_.filePath("broken.json");
        QFile out(broken);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write(R"({"format": "ravel-conversation", "version": 1, "title": "x", "messages": [)"
                  R"({"id": 1, "parent": 7, "role": "user", "text": "orphan"}]})");
        out.close();
        app.chat->importConversation(broken);
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->errorMessage().contains("Could not import"), 5000);
        app.chat->clearError();
        app.chat->importConversation(dir_.filePath("missing.json"));
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->errorMessage().contains("Could not import"), 5000);
        QCOMPARE(app.chat->conversations()->rowCount(), 1);
        QCOMPARE(shownTexts(*app.chat).value(0), QString("keep me"));

        app.chat->clearError();
        app.chat->exportConversation(app.chat->currentConversationId(),
                                     dir_.filePath("no/such/folder/out.json"));
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->errorMessage().contains("Could not write"), 5000);

        app.chat->clearError();
        app.knobs.tokenDelayMs = 20;
        QVERIFY(app.chat->send(QString(200, QLatin1Char('w'))));
        QVERIFY(app.chat->busy());
        app.chat->exportConversation(app.chat->currentConversationId(), dir_.filePath("busy.json"));
        QVERIFY(app.chat->errorMessage().contains("Wait for the reply"));
        app.chat->stop();
        QVERIFY(app.waitIdle());
        app.knobs.tokenDelayMs = 1;
        QVERIFY(!QFile::exists(dir_.filePath("busy.json")));

        app.chat->clearError();
        app.chat->exportConversation(app.chat->currentConversationId(), dir_.filePath(".json"));
        QVERIFY(app.chat->errorMessage().contains("Choose a file name"));
        QVERIFY(!QFile::exists(dir_.filePath(".json")));

        app.chat->clearError();
        app.chat->newConversation();
        app.chat->exportConversation(app.chat->currentConversationId(),
                                     dir_.filePath("empty.json"));
        QVERIFY(app.chat->errorMessage().contains("nothing to export"));
        QVERIFY(!QFile::exists(dir_.filePath("empty.json")));
    }

    void withoutTheDatabaseItSaysWhy() {
        MemoryStorage data;
        test::AppFixture app(&data, settingsFile());
        QVERIFY(app.waitStorage());
        QVERIFY(app.loadModel());
        QVERIFY(app.chat->send("in memory"));
        QVERIFY(app.waitIdle());
        app.chat->exportConversation(app.chat->currentConversationId(),
                                     dir_.filePath("memory.json"));
        QTRY_VERIFY_WITH_TIMEOUT(app.chat->errorMessage().contains("conversation database"), 5000);
        QVERIFY(!QFile::exists(dir_.filePath("memory.json")));
    }
};

QTEST_GUILESS_MAIN(TestAppTransfer)
#include "test_app_transfer.moc"
