// ChatController's export and import. The storage thread reads and writes the files; an
// imported conversation's rows come back with the database's ids and are renumbered here, as
// every other row the GUI holds got its id here, and the storage is told which is which.
#include <QDir>
#include <QFileInfo>
#include <QUrl>
#include <algorithm>

#include "chat_controller.hpp"

namespace ravel::app {

namespace {
QString local_path(const QString& pathOrUrl) {
    const QUrl url(pathOrUrl);
    return url.isLocalFile() ? url.toLocalFile() : pathOrUrl;
}
}  // namespace

void ChatController::exportConversation(qint64 id, const QString& pathOrUrl, bool withSnapshots) {
    auto it = library_.constFind(id);
    if (it == library_.constEnd()) {
        setError(tr("That conversation no longer exists, so it was not exported."));
        return;
    }
    // The reply being written is saved when it ends; the file would stop before it.
    if (busy() && active_conversation_ == id) {
        setError(tr("Wait for the reply to finish, then export “%1”.").arg(it->meta.title));
        return;
    }
    const QList<qint64> branch = it->tree.branch();
    if (branch.isEmpty()) {
        setError(
            tr("“%1” has no messages yet, so there is nothing to export.").arg(it->meta.title));
        return;
    }
    const QString path = local_path(pathOrUrl);
    if (QFileInfo(path).completeBaseName().isEmpty()) {
        setError(tr("Choose a file name to export “%1” to.").arg(it->meta.title));
        return;
    }
    emit exportRequested(id, branch.last(), path, withSnapshots);
}

void ChatController::importConversation(const QString& pathOrUrl) {
    emit importRequested(local_path(pathOrUrl));
}

void ChatController::clearNotice() {
    setNotice({});
}

void ChatController::setNotice(const QString& text) {
    if (notice_ == text) return;
    notice_ = text;
    emit noticeChanged();
}

void ChatController::onExported(const QString& path, int snapshots) {
    const QString where = QDir::toNativeSeparators(path);
    if (snapshots < 0) {
        setNotice(tr("Exported to %1.").arg(where));
    } else if (snapshots == 0) {
        // The database keeps snapshots for some messages only; say what the file can do.
        setNotice(tr("Exported to %1. None of its messages had a state snapshot stored, so an "
                     "import reprocesses the conversation.")
                      .arg(where));
    } else {
        const QString count =
            snapshots == 1 ? tr("1 state snapshot") : tr("%1 state snapshots").arg(snapshots);
        setNotice(tr("Exported to %1 with %2, which resume it on this model.").arg(where, count));
    }
}

void ChatController::onImported(const StoredLibrary& rows, const QString& path) {
    ImportedIds ids;
    QHash<qint64, qint64> conversation_ids;  // storage id -> app id
    QHash<qint64, qint64> message_ids;
    for (StoredConversation meta : rows.conversations) {
        const qint64 id = next_conversation_id_++;
        conversation_ids.insert(meta.id, id);
        ids.conversations.append({id, meta.id});
        meta.id = id;
        library_[id].meta = meta;
    }
    // Parents before children: the store numbers a conversation's messages as they were added.
    QList<StoredMessage> messages = rows.messages;
    std::sort(messages.begin(), messages.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const StoredMessage& m : messages) {
        const auto conversation = conversation_ids.constFind(m.conversationId);
        if (conversation == conversation_ids.constEnd()) continue;
        const qint64 parent = m.parentId == 0 ? 0 : message_ids.value(m.parentId, -1);
        if (parent < 0) continue;
        const qint64 id = next_message_id_++;
        MessageNode node{id, parent, m.role, m.text, m.created, m.tokenCount, {}, m.reply};
        if (!library_[conversation.value()].tree.add(node)) continue;
        message_ids.insert(m.id, id);
        ids.messages.append({id, m.id});
    }
    emit adoptImportedRequested(ids);
    if (conversation_ids.isEmpty()) return;
    // New to this library, so at the top of the list (the file keeps its own dates).
    for (qint64 id : std::as_const(conversation_ids)) {
        touch(library_[id]);
        refreshSidebarRow(library_[id]);
    }
    const qint64 shown = conversation_ids.constBegin().value();
    selectConversation(shown);
    setNotice(tr("Imported “%1” from %2.")
                  .arg(library_[shown].meta.title, QDir::toNativeSeparators(path)));
}

}  // namespace ravel::app
