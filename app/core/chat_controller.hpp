// The chat window's logic on the GUI thread: the current conversation, sending, streaming,
// Stop, Regenerate, Edit and moving between branches, rename/delete/undo. It owns the two list
// models and changes them only here; the engine and the database are reached through queued
// signals to their threads.
#pragma once

#include <QHash>
#include <QObject>
#include <QSet>
#include <QTimer>
#include <optional>

#include "conversation_list_model.hpp"
#include "conversation_storage.hpp"
#include "conversation_tree.hpp"
#include "inference_types.hpp"
#include "message_list_model.hpp"

namespace ravel::app {

class GenerationSettings;
class InferenceWorker;
class ModelController;
class StorageWorker;

class ChatController : public QObject {
    Q_OBJECT
    Q_PROPERTY(ravel::app::ConversationListModel* conversations READ conversations CONSTANT)
    Q_PROPERTY(ravel::app::MessageListModel* messages READ messages CONSTANT)
    Q_PROPERTY(qint64 currentConversationId READ currentConversationId NOTIFY currentChanged)
    Q_PROPERTY(QString currentTitle READ currentTitle NOTIFY currentChanged)
    Q_PROPERTY(bool busy READ busy NOTIFY busyChanged)
    Q_PROPERTY(bool ready READ ready NOTIFY readyChanged)
    Q_PROPERTY(QString blockedReason READ blockedReason NOTIFY readyChanged)
    Q_PROPERTY(QString errorMessage READ errorMessage NOTIFY errorChanged)
    Q_PROPERTY(bool undoAvailable READ undoAvailable NOTIFY undoChanged)
    Q_PROPERTY(QString undoTitle READ undoTitle NOTIFY undoChanged)
    Q_PROPERTY(double promptTokensPerSecond READ promptTokensPerSecond NOTIFY statsChanged)
    Q_PROPERTY(double generationTokensPerSecond READ generationTokensPerSecond NOTIFY statsChanged)
    Q_PROPERTY(qint64 contextTokens READ contextTokens NOTIFY statsChanged)
    Q_PROPERTY(qint64 stateBytes READ stateBytes NOTIFY statsChanged)
    Q_PROPERTY(double resumeMs READ resumeMs NOTIFY statsChanged)
    Q_PROPERTY(bool storageReady READ storageReady NOTIFY storageReadyChanged)
    // What the last export or import did ("Exported to …"), until cleared; errors go to
    // errorMessage.
    Q_PROPERTY(QString notice READ notice NOTIFY noticeChanged)
  public:
    ChatController(InferenceWorker* worker, StorageWorker* storage, ModelController* model,
                   GenerationSettings* generation, QObject* parent = nullptr);
    ~ChatController() override;

    ConversationListModel* conversations() { return &conversations_; }
    MessageListModel* messages() { return &messages_; }
    qint64 currentConversationId() const { return current_; }
    QString currentTitle() const;
    bool busy() const { return active_request_ != 0; }
    bool ready() const { return blockedReason().isEmpty(); }
    QString blockedReason() const;
    QString errorMessage() const { return error_; }
    bool undoAvailable() const { return pending_delete_.has_value(); }
    QString undoTitle() const;
    double promptTokensPerSecond() const { return stats_.promptTokensPerSecond; }
    double generationTokensPerSecond() const { return stats_.generationTokensPerSecond; }
    qint64 contextTokens() const { return stats_.contextTokens; }
    qint64 stateBytes() const { return stats_.stateBytes; }
    double resumeMs() const { return stats_.resumeMs; }
    bool storageReady() const { return storage_ready_; }
    QString notice() const { return notice_; }
    // Bytes of state snapshots held in memory (the database keeps them all). The shown branch's
    // last two replies keep theirs; other replies of the shown conversation keep theirs, newest
    // first, while the total stays within the budget; other conversations keep none.
    qint64 snapshotBytesInMemory() const;
    void setSnapshotMemoryBudget(qint64 bytes) { snapshot_budget_ = bytes; }

    Q_INVOKABLE qint64 newConversation();
    Q_INVOKABLE void selectConversation(qint64 id);
    Q_INVOKABLE void renameConversation(qint64 id, const QString& title);
    // Hides the conversation at once; it is deleted for good when the undo period ends, another
    // conversation is deleted, or the app closes.
    Q_INVOKABLE void deleteConversation(qint64 id);
    Q_INVOKABLE void undoDelete();
    Q_INVOKABLE void commitPendingDelete();

    // Sends a user message in the current conversation (making one when there is none).
    Q_INVOKABLE bool send(const QString& text);
    Q_INVOKABLE void stop();
    // A new reply as a sibling of the assistant message `messageId` (0: the last reply).
    Q_INVOKABLE bool regenerate(qint64 messageId = 0);
    // A new version of user message `messageId` as its sibling, then a reply to it.
    Q_INVOKABLE bool editMessage(qint64 messageId, const QString& text);
    Q_INVOKABLE void showSibling(qint64 messageId, int delta);
    Q_INVOKABLE void clearError();
    // Export and import (chat_controller_transfer.cpp): a path or a file: URL; a .md file is
    // Markdown (the shown branch), anything else JSON (the whole tree). An imported conversation
    // is added beside the others and shown.
    // JSON files may carry the messages' state snapshots (withSnapshots), so that an import
    // resumes without reprocessing the transcript, with the same model; Markdown never does.
    Q_INVOKABLE void exportConversation(qint64 id, const QString& pathOrUrl,
                                        bool withSnapshots = false);
    Q_INVOKABLE void importConversation(const QString& pathOrUrl);
    Q_INVOKABLE void clearNotice();
    // Milliseconds of undo grace after a delete (tests shorten it).
    void setUndoInterval(int ms) { undo_timer_.setInterval(ms); }

  signals:
    void currentChanged();
    void busyChanged();
    void readyChanged();
    void errorChanged();
    void undoChanged();
    void statsChanged();
    void storageReadyChanged();
    void noticeChanged();
    void replyFinished(qint64 messageId, bool stopped);
    void snapshotAvailable(qint64 messageId);
    // Queued to the worker threads.
    void generateRequested(const ravel::app::GenerationRequest& request);
    void saveConversationRequested(const ravel::app::StoredConversation& conversation);
    void saveMessageRequested(const ravel::app::StoredMessage& message);
    void saveSnapshotRequested(qint64 conversationId, qint64 messageId, const QByteArray& blob);
    void loadSnapshotRequested(qint64 conversationId, qint64 messageId);
    void deleteConversationRequested(qint64 id);
    void exportRequested(qint64 id, qint64 leafId, const QString& path, bool withSnapshots);
    void importRequested(const QString& path);
    void adoptImportedRequested(const ravel::app::ImportedIds& ids);

  private:
    struct Conversation {
        StoredConversation meta;
        ConversationTree tree;
    };

    void onStorageOpened(const ravel::app::StoredLibrary& library);
    void onStorageFailed(const QString& message, bool fatal);
    void onSnapshotLoaded(qint64 conversationId, qint64 messageId, const QByteArray& blob);
    void onExported(const QString& path, int snapshots);
    void onImported(const ravel::app::StoredLibrary& rows, const QString& path);
    void setNotice(const QString& text);
    void onText(quint64 id, const QString& text);
    void onFinished(const ravel::app::GenerationResult& result);
    void onFailed(quint64 id, const QString& message);
    void onSettingsEdited();
    void onModelChanged();
    SamplingSettings startingSampling() const;

    Conversation* current();
    // The conversation with `id`, also while it waits in the undo slot: a reply that ends after
    // its conversation was deleted must still be applied, or Undo brings back an empty,
    // unsaved bubble that later messages cannot be saved under.
    Conversation* findConversation(qint64 id);
    qint64 addMessage(Conversation& c, qint64 parentId, Role role, const QString& text,
                      bool persist);
    bool startReply(Conversation& c, qint64 userMessageId);
    void refreshMessages();
    void refreshSidebarRow(const Conversation& c);
    void touch(Conversation& c);
    void requestBranchSnapshot(Conversation& c);
    // The resume point of a reply to the last message of `path`: the newest earlier reply whose
    // snapshot is in memory. `waiting` says a newer one is still being read from storage.
    void attachSnapshot(const Conversation& c, const QList<qint64>& path,
                        GenerationRequest& request, bool* waiting) const;
    void dispatchWaitingReply();
    void releaseSnapshots(Conversation* shown, const QList<qint64>& branchEnd);
    void setError(const QString& message);
    void setBusy(quint64 request, qint64 message);

    InferenceWorker* worker_;
    ModelController* model_;
    GenerationSettings* generation_;
    ConversationListModel conversations_;
    MessageListModel messages_;
    QHash<qint64, Conversation> library_;
    qint64 current_ = 0;
    qint64 next_conversation_id_ = 1;
    qint64 next_message_id_ = 1;
    quint64 next_request_ = 0;
    quint64 active_request_ = 0;
    qint64 active_conversation_ = 0;
    qint64 active_message_ = 0;
    bool storage_ready_ = false;
    bool demo_active_ = false;  // the demo model's sampling was applied
    GenerationResult stats_;
    QString error_;
    QString notice_;
    std::optional<Conversation> pending_delete_;
    // Snapshots asked of storage and not yet answered (message ids).
    QSet<qint64> loading_snapshots_;
    // A reply held back until a snapshot on its way arrives (right after a restart or a branch
    // switch), so it resumes instead of replaying; the timer sends it anyway if storage stalls.
    struct WaitingReply {
        GenerationRequest request;
        qint64 conversation = 0;
        QList<qint64> path;
    };
    std::optional<WaitingReply> waiting_reply_;
    QTimer snapshot_wait_;
    // A few model states of the largest models; for small models, many more replies.
    qint64 snapshot_budget_ = qint64{256} << 20;
    QTimer undo_timer_;
};

}  // namespace ravel::app
