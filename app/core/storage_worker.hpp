// Runs a ConversationStorage on the storage thread: database writes (snapshots can be tens of
// MiB) never block the GUI. Requests arrive as queued slot calls in order, so a message is always
// written before the snapshot that follows it. Failures come back as a signal with what to do.
#pragma once

#include <QObject>
#include <QThread>
#include <functional>
#include <memory>

#include "conversation_storage.hpp"

namespace ravel::app {

using StorageFactory = std::function<ravel::Result<std::unique_ptr<ConversationStorage>>()>;

class StorageWorker : public QObject {
    Q_OBJECT
  public:
    explicit StorageWorker(StorageFactory factory, QObject* parent = nullptr);
    ~StorageWorker() override;

  public slots:
    // Opens the storage (on this thread: a connection is used only where it was opened).
    void open();
    void saveConversation(const ravel::app::StoredConversation& conversation);
    void saveMessage(const ravel::app::StoredMessage& message);
    void saveSnapshot(qint64 conversationId, qint64 messageId, const QByteArray& blob);
    void loadSnapshot(qint64 conversationId, qint64 messageId);
    void deleteConversation(qint64 id);
    // Writes conversation `id` to `path` (the format by its extension, see transfer_format_for);
    // Markdown follows the branch ending at `leafId`.
    void exportConversation(qint64 id, qint64 leafId, const QString& path, bool withSnapshots);
    // Reads `path` and adds the conversation in it; `imported` brings its rows back.
    void importConversation(const QString& path);
    // The app's ids for the rows `imported` brought back.
    void adoptImported(const ravel::app::ImportedIds& ids);
    // Closes the connection on this thread (called last, before the thread quits).
    void close();

  signals:
    void opened(const ravel::app::StoredLibrary& library);
    void snapshotLoaded(qint64 conversationId, qint64 messageId, const QByteArray& blob);
    // snapshots: how many the file carries, or -1 when none were asked for.
    void exported(const QString& path, int snapshots);
    // The imported conversation and its messages, with the storage's ids.
    void imported(const ravel::app::StoredLibrary& rows, const QString& path);
    // `message` says what failed and what to do; `fatal` when the database could not be opened
    // and the app fell back to keeping conversations in memory.
    void failed(const QString& message, bool fatal);

  private:
    void report(const ravel::Result<void>& result, const QString& what);

    StorageFactory factory_;
    std::unique_ptr<ConversationStorage> storage_;
};

// Owns the storage thread; destroying it finishes every queued write, then joins.
class StorageHost : public QObject {
    Q_OBJECT
  public:
    explicit StorageHost(StorageFactory factory, QObject* parent = nullptr);
    ~StorageHost() override;
    StorageWorker* worker() const { return worker_; }
    void shutdown();

  private:
    QThread thread_;
    StorageWorker* worker_ = nullptr;
};

}  // namespace ravel::app
