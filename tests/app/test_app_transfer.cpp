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
