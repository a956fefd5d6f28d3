// What the app persists, and the synchronous interface the storage thread calls. The SQLite
// implementation wraps ravel_storage's Store; MemoryStorage keeps everything in RAM (tests, and
// the fallback when the database cannot be opened, so the app still works and says why).
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QList>
#include <QMetaType>
#include <QPair>
#include <QString>
#include <QStringList>
#include <memory>
#include <string>

#include "inference_types.hpp"
#include "ravel/result.hpp"
#include "sampling_settings.hpp"

namespace ravel::app {

struct StoredConversation {
    qint64 id = 0;
    QString title;
    QDateTime created;
    QDateTime updated;
    QString systemPrompt;
    SamplingSettings sampling;
};

struct StoredMessage {
    qint64 id = 0;
    qint64 conversationId = 0;
    qint64 parentId = 0;
    Role role = Role::User;
    QString text;
    QDateTime created;
    int tokenCount = 0;
    ReplyRecord reply;  // assistant messages
};

struct StoredLibrary {
    QList<StoredConversation> conversations;
    QList<StoredMessage> messages;
    // Conversations left out because they could not be read (a sentence each, naming the
    // conversation and why). They stay in the database untouched; the rest load.
    QStringList unreadable;
};

// Files a conversation is exported to and imported from (docs/conversation-json.md): JSON holds
// the whole tree, Markdown the branch ending at one message.
enum class TransferFormat { Json, Markdown };
// .md and .markdown files are Markdown; anything else is JSON.
TransferFormat transfer_format_for(const QString& path);
// Larger files are refused before they are read (ravel_conversation's import limit).
inline constexpr qint64 kMaxConversationFileBytes = qint64{512} << 20;

// An exported conversation: the file's text, and how many state snapshots it carries.
struct ExportedFile {
    std::string text;
    int snapshots = 0;
};

// Rows an import added, as (app id, storage id) pairs: the app gives imported rows ids of its
// own, and the storage learns which of its rows each one names.
struct ImportedIds {
    QList<QPair<qint64, qint64>> conversations;
    QList<QPair<qint64, qint64>> messages;
};

class ConversationStorage {
  public:
    virtual ~ConversationStorage() = default;
    virtual ravel::Result<StoredLibrary> loadAll() = 0;
    virtual ravel::Result<void> saveConversation(const StoredConversation& conversation) = 0;
    virtual ravel::Result<void> saveMessage(const StoredMessage& message) = 0;
    virtual ravel::Result<void> saveSnapshot(qint64 conversationId, qint64 messageId,
                                             const QByteArray& blob) = 0;
    // Empty when there is none (a cache miss, never an error).
    virtual ravel::Result<QByteArray> loadSnapshot(qint64 conversationId, qint64 messageId) = 0;
    virtual ravel::Result<void> deleteConversation(qint64 id) = 0;

    // Import and export work on the conversation database; the defaults say so.
    // The conversation `id` as a file; Markdown follows the branch ending at `leafId`. JSON
    // carries the messages' state snapshots too when asked (imported, they let the copy resume
    // without reprocessing, with the same model).
    virtual ravel::Result<ExportedFile> exportConversation(qint64 id, TransferFormat format,
                                                           qint64 leafId, bool withSnapshots);
    // Adds the conversation in `text` (checked first; nothing is added when it fails) and returns
    // its rows with the storage's ids, for the app to renumber and hand back through adoptIds.
    virtual ravel::Result<StoredLibrary> importConversation(const std::string& text,
                                                            TransferFormat format);
    virtual void adoptIds(const ImportedIds& ids);
};

class MemoryStorage : public ConversationStorage {
  public:
    ravel::Result<StoredLibrary> loadAll() override;
    ravel::Result<void> saveConversation(const StoredConversation& conversation) override;
    ravel::Result<void> saveMessage(const StoredMessage& message) override;
    ravel::Result<void> saveSnapshot(qint64 conversationId, qint64 messageId,
                                     const QByteArray& blob) override;
    ravel::Result<QByteArray> loadSnapshot(qint64 conversationId, qint64 messageId) override;
    ravel::Result<void> deleteConversation(qint64 id) override;

  private:
    StoredLibrary library_;
    QHash<qint64, QByteArray> snapshots_;
};

// Opens the SQLite database at `path` (creating it), or explains why it cannot.
ravel::Result<std::unique_ptr<ConversationStorage>> open_sqlite_storage(const QString& path);

}  // namespace ravel::app

Q_DECLARE_METATYPE(ravel::app::StoredConversation)
Q_DECLARE_METATYPE(ravel::app::StoredMessage)
Q_DECLARE_METATYPE(ravel::app::StoredLibrary)
Q_DECLARE_METATYPE(ravel::app::ImportedIds)
