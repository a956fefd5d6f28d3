// The list models under QAbstractItemModelTester, the conversation tree's branching rules,
// Markdown splitting, and the typed settings.
#include <QAbstractItemModelTester>
#include <QSignalSpy>
#include <QTemporaryDir>
#include <QtTest>
#include <ctime>

#include "app_settings.hpp"
#include "conversation_list_model.hpp"
#include "conversation_tree.hpp"
#include "markdown_segments.hpp"
#include "message_list_model.hpp"
#include "sampling_settings.hpp"

using namespace ravel::app;

class TestAppModels : public QObject {
    Q_OBJECT
  private slots:
    void messageModelDiffsRows() {
        MessageListModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        QSignalSpy inserted(&model, &QAbstractItemModel::rowsInserted);
        QSignalSpy removed(&model, &QAbstractItemModel::rowsRemoved);
        QSignalSpy changed(&model, &QAbstractItemModel::dataChanged);
        QList<MessageRow> rows = {{1, Role::User, "hi", 0, 1, false},
                                  {2, Role::Assistant, "", 0, 1, true}};
        model.setRows(rows);
        QCOMPARE(model.rowCount(), 2);
        QCOMPARE(inserted.size(), 1);
        model.appendText(2, "Hel");
        model.appendText(2, "lo");
        QCOMPARE(model.data(model.index(1), MessageListModel::TextRole).toString(),
                 QString("Hello"));
        QCOMPARE(changed.size(), 2);
        model.appendText(99, "ignored");
        QCOMPARE(changed.size(), 2);
        // Switching to a sibling reply replaces only the tail.
        rows[1] = {3, Role::Assistant, "Other", 1, 2, false};
        model.setRows(rows);
        QCOMPARE(removed.size(), 1);
        QCOMPARE(inserted.size(), 2);
        QCOMPARE(model.data(model.index(1), MessageListModel::IdRole).toLongLong(), 3);
        QCOMPARE(model.data(model.index(1), MessageListModel::SiblingIndexRole).toInt(), 1);
        QCOMPARE(model.data(model.index(0), MessageListModel::RoleRole).toString(),
                 QString("user"));
        // Same ids, changed text: dataChanged only.
        rows[0].text = "hi there";
        const int before = static_cast<int>(inserted.size());
        model.setRows(rows);
        QCOMPARE(inserted.size(), before);
        QCOMPARE(model.data(model.index(0), Qt::DisplayRole).toString(), QString("hi there"));
        model.setRows({});
        QCOMPARE(model.rowCount(), 0);
        QVERIFY(!model.data(model.index(5), MessageListModel::TextRole).isValid());
    }

    void conversationModelSortsAndFilters() {
        ConversationListModel model;
        QAbstractItemModelTester tester(&model,
                                        QAbstractItemModelTester::FailureReportingMode::QtTest);
        const QDateTime t0 = QDateTime::fromSecsSinceEpoch(1'700'000'000, Qt::UTC);
        model.upsert({1, "Old", t0, "about cats"});
        model.upsert({2, "Newer", t0.addSecs(10), "about dogs"});
        model.upsert({3, "Newest", t0.addSecs(20), "Cats and DOGS"});
        QCOMPARE(model.count(), 3);
        QCOMPARE(model.idAt(0), 3);
        QCOMPARE(model.idAt(2), 1);
        model.upsert({1, "Old", t0.addSecs(30), "about cats"});  // touched: moves to the top
        QCOMPARE(model.idAt(0), 1);
        model.setFilter("dogs");  // message text, case-insensitive
        QCOMPARE(model.count(), 2);
        QCOMPARE(model.rowOf(1), -1);
        model.setFilter("newest");  // title
        QCOMPARE(model.count(), 1);
        QCOMPARE(model.data(model.index(0), ConversationListModel::TitleRole).toString(),
                 QString("Newest"));
        model.setFilter("");
        // Times are stored in UTC and shown in the user's zone (here UTC+5, POSIX "XYZ-5"):
        // 1'700'000'030 s is 22:13:50 UTC, 03:13:50 the next day in UTC+5.
        const QByteArray zone = qgetenv("TZ");
        qputenv("TZ", "XYZ-5");
        tzset();
        const QString shown =
            model.data(model.index(0), ConversationListModel::UpdatedTextRole).toString();
        const QString local_clock = QLocale().toString(QTime(3, 13, 50), QLocale::ShortFormat);
        if (zone.isNull()) {
            qunsetenv("TZ");
        } else {
            qputenv("TZ", zone);
        }
        tzset();
        QVERIFY2(shown.contains(local_clock), qPrintable(shown + " lacks " + local_clock));
        model.remove(2);
        QCOMPARE(model.count(), 2);
        QVERIFY(model.find(2) == nullptr);
        model.clear();
        QCOMPARE(model.count(), 0);
    }

    void treeBranchesAndSiblings() {
        ConversationTree tree;
        QVERIFY(tree.add({1, 0, Role::User, "q", {}, 0, {}, {}}));
        QVERIFY(tree.add({2, 1, Role::Assistant, "a1", {}, 0, {}, {}}));
        QVERIFY(!tree.add({2, 1, Role::Assistant, "dup", {}, 0, {}, {}}));
        QVERIFY(!tree.add({9, 42, Role::User, "orphan", {}, 0, {}, {}}));
        QVERIFY(tree.add({3, 1, Role::Assistant, "a2", {}, 0, {}, {}}));  // regenerated
        QCOMPARE(tree.branch(), (QList<qint64>{1, 3}));
        QCOMPARE(tree.siblingIndex(3), 1);
        QVERIFY(tree.add({4, 3, Role::User, "follow-up", {}, 0, {}, {}}));
        QCOMPARE(tree.branch(), (QList<qint64>{1, 3, 4}));
        QCOMPARE(tree.moveToSibling(3, -1), std::optional<qint64>(2));
        QCOMPARE(tree.branch(), (QList<qint64>{1, 2}));
        QCOMPARE(tree.moveToSibling(2, -1), std::nullopt);
        // Moving back restores the deeper branch under the sibling.
        QCOMPARE(tree.moveToSibling(2, 1), std::optional<qint64>(3));
        QCOMPARE(tree.branch(), (QList<qint64>{1, 3, 4}));
        tree.removeSubtree(3);
        QCOMPARE(tree.branch(), (QList<qint64>{1, 2}));
        QVERIFY(!tree.contains(4));
        QCOMPARE(tree.size(), 2);
    }

    void markdownSplitsFencedCode() {
        const auto segs =
            split_markdown("Intro **bold**\n```cpp\nint x = 1;\n```\nAfter\n```\nopen");
        QCOMPARE(segs.size(), 4);
        QVERIFY(!segs[0].code);
        QCOMPARE(segs[0].text, QString("Intro **bold**"));
        QVERIFY(segs[1].code);
        QCOMPARE(segs[1].language, QString("cpp"));
        QCOMPARE(segs[1].text, QString("int x = 1;"));
        QCOMPARE(segs[2].text, QString("After"));
        QVERIFY(segs[3].code);  // unclosed fence while streaming
        QCOMPARE(segs[3].text, QString("open"));
        QCOMPARE(split_markdown("").size(), 0);
        QCOMPARE(markdown_segments_for_qml("plain").size(), 1);
    }

    // Qt's Markdown passes raw HTML through and joins single line breaks: '<' becomes an entity
    // outside inline code (inside, it is literal already) and a line break inside a paragraph
    // becomes a hard break; paragraphs and code spans stay as they are.
    void proseIsSafeForTheMarkdownView() {
        QCOMPARE(prose_for_markdown_view("What does #include <vector> do?\nline two\n\nnext"),
                 QString("What does #include &lt;vector> do?  \nline two\n\nnext"));
        QCOMPARE(prose_for_markdown_view("Use `std::vector<int>` or ``a ` <b`` here <i>"),
                 QString("Use `std::vector<int>` or ``a ` <b`` here &lt;i>"));
        QCOMPARE(prose_for_markdown_view("an ` unclosed <tag"), QString("an ` unclosed &lt;tag"));
        QCOMPARE(prose_for_markdown_view("\nedge\n"), QString("\nedge\n"));
        // A code span does not cross a blank line; an escaped backtick opens none; CRLF is a
        // line break like LF.
        QCOMPARE(prose_for_markdown_view("press ` then\n\n`#include <vector>`"),
                 QString("press ` then\n\n`#include <vector>`"));
        QCOMPARE(prose_for_markdown_view("a \\` <b> `c`"), QString("a \\` &lt;b> `c`"));
        QCOMPARE(prose_for_markdown_view("one\r\ntwo"), QString("one  \ntwo"));
        const QVariantMap prose = markdown_segments_for_qml("a <b>\nc").first().toMap();
        QCOMPARE(prose.value("text").toString(), QString("a <b>\nc"));  // what Copy copies
        QCOMPARE(prose.value("markdown").toString(), QString("a &lt;b>  \nc"));
    }

    void samplingSettingsRoundTripAndClamp() {
        SamplingSettings s = builtin_preset("Creative");
        s.stopSequences = "###";
        QCOMPARE(SamplingSettings::fromJson(s.toJson()), s);
        // Past int's range: clamped before the conversion (undefined behaviour otherwise;
        // on x86 1e10 became INT_MIN, clamped to one token).
        const SamplingSettings huge = SamplingSettings::fromJson(
            QJsonObject{{"maxTokens", 1e10}, {"topK", 1e12}, {"seed", 1e30}});
        QCOMPARE(huge.maxTokens, 8192);
        QCOMPARE(huge.topK, 500);
        QCOMPARE(huge.seed, qint64{2147483647});
        QJsonObject hostile{{"temperature", 99.0}, {"topK", -5}, {"maxTokens", "many"}};
        const SamplingSettings c = SamplingSettings::fromJson(hostile);
        QCOMPARE(c.temperature, 3.0);
        QCOMPARE(c.topK, 0);
        QCOMPARE(c.maxTokens, SamplingSettings{}.maxTokens);
        QVERIFY(builtin_preset("Precise").temperature < builtin_preset("Creative").temperature);
        QCOMPARE(sampling_parameters().size(), 9);
    }

    void settingsUseDefaultsAndPersist() {
        QTemporaryDir dir;
        const QString file = dir.filePath("ravel.ini");
        {
            AppSettings settings(file);
            QCOMPARE(settings.theme(), QString("system"));
            QCOMPARE(settings.threads(), 0);
            QCOMPARE(settings.device(), QString("auto"));
            QCOMPARE(settings.weights(), QString("stored"));
            QCOMPARE(settings.snapshotCapBytes(), qint64{2} << 30);
            QCOMPARE(settings.defaultSampling(), builtin_preset("Balanced"));
            for (int i = 0; i < 10; ++i) settings.addRecentModel(QString("/m%1.pth").arg(i));
            settings.addRecentModel("/m3.pth");
            settings.setTheme("dark");
            settings.setDevice("cuda:1");
            settings.setThreads(3);
            settings.setWeights("q8_0");
            SamplingSettings mine;
            mine.temperature = 0.7;
            settings.setUserPreset("Mine", mine);
            settings.sync();
        }
        AppSettings settings(file);
        QCOMPARE(settings.recentModels().size(), 8);
        QCOMPARE(settings.recentModels().first(), QString("/m3.pth"));
        QCOMPARE(settings.theme(), QString("dark"));
        QCOMPARE(settings.userPresets().value("Mine").temperature, 0.7);
        QCOMPARE(settings.device(), QString("cuda:1"));
        QCOMPARE(settings.threads(), 3);
        QCOMPARE(settings.weights(), QString("q8_0"));
        settings.setTheme("purple");  // unknown values fall back
        QCOMPARE(settings.theme(), QString("system"));
        settings.setDevice("tpu");
        QCOMPARE(settings.device(), QString("auto"));
        settings.setWeights("q3_k");
        QCOMPARE(settings.weights(), QString("stored"));
    }
};

QTEST_GUILESS_MAIN(TestAppModels)
#include "test_app_models.moc"
