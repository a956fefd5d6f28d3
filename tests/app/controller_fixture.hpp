// Wires the app's objects the way main() does, with a fake backend and in-memory storage that
// outlives the fixture (so a test can "restart" the app on the same data).
#pragma once

#include <QSignalSpy>
#include <QTemporaryDir>
#include <QThread>
#include <QtTest>
#include <memory>

#include "app_settings.hpp"
#include "chat_controller.hpp"
#include "fake_backend.hpp"
#include "generation_settings.hpp"
#include "inference_host.hpp"
#include "model_controller.hpp"
#include "storage_worker.hpp"

namespace ravel::test {

// Forwards to a MemoryStorage owned by the test.
class SharedMemoryStorage final : public app::ConversationStorage {
  public:
    explicit SharedMemoryStorage(app::MemoryStorage* target) : t_(target) {}
    Result<app::StoredLibrary> loadAll() override { return t_->loadAll(); }
    Result<void> saveConversation(const app::StoredConversation& c) override {
        return t_->saveConversation(c);
    }
    Result<void> saveMessage(const app::StoredMessage& m) override { return t_->saveMessage(m); }
    Result<void> saveSnapshot(qint64 c, qint64 m, const QByteArray& b) override {
        return t_->saveSnapshot(c, m, b);
    }
    Result<QByteArray> loadSnapshot(qint64 c, qint64 m) override { return t_->loadSnapshot(c, m); }
    Result<void> deleteConversation(qint64 id) override { return t_->deleteConversation(id); }

  private:
    app::MemoryStorage* t_;
};

// MemoryStorage whose snapshots take a while to read (a large snapshot on a slow disk).
class SlowSnapshots : public app::MemoryStorage {
  public:
    SlowSnapshots(app::MemoryStorage* data, int delayMs) : data_(data), delay_ms_(delayMs) {}
    Result<app::StoredLibrary> loadAll() override { return data_->loadAll(); }
    Result<void> saveConversation(const app::StoredConversation& c) override {
        return data_->saveConversation(c);
    }
    Result<void> saveMessage(const app::StoredMessage& m) override { return data_->saveMessage(m); }
    Result<void> saveSnapshot(qint64 c, qint64 m, const QByteArray& b) override {
        return data_->saveSnapshot(c, m, b);
    }
    Result<QByteArray> loadSnapshot(qint64 c, qint64 m) override {
        QThread::msleep(static_cast<unsigned long>(delay_ms_));
        return data_->loadSnapshot(c, m);
    }
    Result<void> deleteConversation(qint64 id) override { return data_->deleteConversation(id); }

  private:
    app::MemoryStorage* data_;
    int delay_ms_;
};

struct AppFixture {
    explicit AppFixture(app::MemoryStorage* data, const QString& settingsFile)
        : AppFixture(
              [data]() -> Result<std::unique_ptr<app::ConversationStorage>> {
                  return std::unique_ptr<app::ConversationStorage>(new SharedMemoryStorage(data));
              },
              settingsFile) {}
    // Any storage, e.g. open_sqlite_storage on a file the test keeps.
    AppFixture(app::StorageFactory factory, const QString& settingsFile) {
        settings = std::make_unique<app::AppSettings>(settingsFile);
        inference = std::make_unique<app::InferenceHost>(std::make_unique<FakeBackend>(&knobs));
        storage = std::make_unique<app::StorageHost>(std::move(factory));
        model = std::make_unique<app::ModelController>(inference->worker(), settings.get());
        generation = std::make_unique<app::GenerationSettings>(settings.get());
        chat = std::make_unique<app::ChatController>(inference->worker(), storage->worker(),
                                                     model.get(), generation.get());
    }
    ~AppFixture() {
        chat.reset();
        storage->shutdown();
        inference->shutdown();
    }

    bool waitStorage() {
        return chat->storageReady() ||
               QSignalSpy(chat.get(), &app::ChatController::storageReadyChanged).wait(5000);
    }
    // The fake ignores the file's content, but the controller checks that it exists.
    bool loadModel() {
        const QString path = files.filePath(QStringLiteral("fake-model.pth"));
        QFile file(path);
        if (!file.open(QIODevice::WriteOnly)) return false;
        file.close();
        model->load(path);
        return QTest::qWaitFor([&] { return model->loaded(); }, 5000);
    }
    bool waitIdle(int ms = 10000) {
        return QTest::qWaitFor([&] { return !chat->busy(); }, ms);
    }

    QTemporaryDir files;
    FakeBackendKnobs knobs;
    std::unique_ptr<app::AppSettings> settings;
    std::unique_ptr<app::InferenceHost> inference;
    std::unique_ptr<app::StorageHost> storage;
    std::unique_ptr<app::ModelController> model;
    std::unique_ptr<app::GenerationSettings> generation;
    std::unique_ptr<app::ChatController> chat;
};

}  // namespace ravel::test
