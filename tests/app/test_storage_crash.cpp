// Crash safety (DESIGN.md section 5): a writer killed with SIGKILL at any moment leaves a
// database that opens, passes integrity_check, and holds every message it reported committed.
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include <map>
#include <random>

#include "crash_content.hpp"
#include "storage/schema.hpp"
#include "storage/store.hpp"

using namespace ravel::storage;

class TestStorageCrash : public QObject {
    Q_OBJECT
  private slots:
    void killAtRandomMoments() {
        QTemporaryDir dir;
        QVERIFY(dir.isValid());
        const QString db = dir.filePath("crash.db");
        std::mt19937 rng(20240601);
        std::map<std::int64_t, std::int64_t> committed;  // message id -> n
        std::int64_t next_n = 0;
        int kills_with_progress = 0;
        const int rounds = 60;
        for (int round = 0; round < rounds; ++round) {
            QProcess writer;
            writer.start(STORAGE_CRASH_WRITER, {db, QString::number(next_n)});
            QVERIFY2(writer.waitForStarted(), "crash writer did not start");
            // Early kills hit open/migration, later ones hit message and snapshot writes.
            const int delay_ms = round < 5 ? 1 + round * 3 : 5 + int(rng() % 200);
            QThread::msleep(delay_ms);
            writer.kill();  // SIGKILL
            QVERIFY(writer.waitForFinished(5000));
            QVERIFY2(writer.exitStatus() == QProcess::CrashExit,
                     qPrintable("writer exited by itself: " + writer.readAllStandardError()));

            const QList<QByteArray> lines = writer.readAllStandardOutput().split('\n');
            const std::size_t before = committed.size();
            for (const QByteArray& line : lines) {
                const QList<QByteArray> f = line.split(' ');
                if (f.size() == 2 && f[0] != "S") {
                    committed[f[0].toLongLong()] = f[1].toLongLong();
                    next_n = std::max<std::int64_t>(next_n, f[1].toLongLong() + 1);
                }
            }
            if (committed.size() > before) ++kills_with_progress;

            auto store = Store::open(db.toStdString());
            QVERIFY2(store.ok(), store.ok() ? "" : store.message().c_str());
            auto check = store->integrity_check();
            QVERIFY(check.ok());
            QCOMPARE(*check, std::string("ok"));
            auto version = store->schema_version();
            QVERIFY(version.ok() && *version == ravel::storage::schema::kCurrentVersion);
            for (const auto& [id, n] : committed) {
                auto m = store->message(id);
                QVERIFY2(m.ok(), qPrintable(QString("committed message %1 lost").arg(id)));
                QCOMPARE(m->text, ravel::test::crash_message_text(n));
                QVERIFY(m->tokens == ravel::test::crash_message_tokens(n));
            }
            // Every snapshot that survived is whole (a cache may lose entries, never corrupt one).
            for (const auto& [id, n] : committed) {
                auto s = store->snapshot(id);
                QVERIFY(s.ok());
                if (s->has_value()) {
                    QVERIFY((*s)->blob == ravel::test::crash_snapshot_blob(n));
                    QCOMPARE((*s)->ref.bytes, std::int64_t((*s)->blob.size()));
                }
            }
            auto total = store->snapshot_bytes_total();
            QVERIFY(total.ok() && *total <= (8 << 20));
        }
        qInfo("%d kills, %zu committed messages checked, %d kills after progress", rounds,
              committed.size(), kills_with_progress);
        QVERIFY(committed.size() >= 50);
        QVERIFY(kills_with_progress >= 40);
    }
};

QTEST_GUILESS_MAIN(TestStorageCrash)
#include "test_storage_crash.moc"
