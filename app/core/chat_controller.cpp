#include "chat_controller.hpp"

#include <algorithm>

#include "generation_settings.hpp"
#include "inference_worker.hpp"
#include "model_controller.hpp"
#include "storage_worker.hpp"

namespace ravel::app {

namespace {

constexpr int kTitleLength = 48;

// At most `units` UTF-16 units, never half of a character outside the Basic Multilingual Plane
// (an emoji): a lone surrogate would be saved as '?'.
QString left_whole(const QString& text, qsizetype units) {
    if (text.size() <= units) return text;
    if (units > 0 && text.at(units - 1).isHighSurrogate()) --units;
    return text.left(units);
}

QString title_from(const QString& text) {
    QString line = text.trimmed().section(QLatin1Char('\n'), 0, 0).simplified();
    if (line.size() > kTitleLength) line = left_whole(line, kTitleLength - 1) + QChar(0x2026);
    return line;
}

}  // namespace

ChatController::ChatController(InferenceWorker* worker, StorageWorker* storage,
                               ModelController* model, GenerationSettings* generation,
                               QObject* parent)
    : QObject(parent), worker_(worker), model_(model), generation_(generation) {
    constexpr auto queued = Qt::QueuedConnection;
    connect(this, &ChatController::generateRequested, worker_, &InferenceWorker::generate, queued);
    connect(worker_, &InferenceWorker::textStreamed, this, &ChatController::onText, queued);
    connect(worker_, &InferenceWorker::generationFinished, this, &ChatController::onFinished,
            queued);
    connect(worker_, &InferenceWorker::generationFailed, this, &ChatController::onFailed, queued);

    connect(this, &ChatController::saveConversationRequested, storage,
            &StorageWorker::saveConversation, queued);
    connect(this, &ChatController::saveMessageRequested, storage, &StorageWorker::saveMessage,
            queued);
    connect(this, &ChatController::saveSnapshotRequested, storage, &StorageWorker::saveSnapshot,
            queued);
    connect(this, &ChatController::loadSnapshotRequested, storage, &StorageWorker::loadSnapshot,
            queued);
    connect(this, &ChatController::deleteConversationRequested, storage,
            &StorageWorker::deleteConversation, queued);
    connect(storage, &StorageWorker::opened, this, &ChatController::onStorageOpened, queued);
    connect(storage, &StorageWorker::failed, this, &ChatController::onStorageFailed, queued);
    connect(storage, &StorageWorker::snapshotLoaded, this, &ChatController::onSnapshotLoaded,
            queued);
    connect(this, &ChatController::exportRequested, storage, &StorageWorker::exportConversation,
            queued);
    connect(this, &ChatController::importRequested, storage, &StorageWorker::importConversation,
            queued);
    connect(this, &ChatController::adoptImportedRequested, storage, &StorageWorker::adoptImported,
            queued);
    connect(storage, &StorageWorker::exported, this, &ChatController::onExported, queued);
    connect(storage, &StorageWorker::imported, this, &ChatController::onImported, queued);

    connect(model_, &ModelController::stateChanged, this, &ChatController::readyChanged);
    connect(model_, &ModelController::stateChanged, this, &ChatController::onModelChanged);
    connect(generation_, &GenerationSettings::edited, this, &ChatController::onSettingsEdited);

    undo_timer_.setSingleShot(true);
    undo_timer_.setInterval(10'000);
    connect(&undo_timer_, &QTimer::timeout, this, &ChatController::commitPendingDelete);
    snapshot_wait_.setSingleShot(true);
    snapshot_wait_.setInterval(3'000);
    connect(&snapshot_wait_, &QTimer::timeout, this, [this] {
        // Storage did not answer in time: replay rather than keep the user waiting, and stop
        // counting on those answers.
        loading_snapshots_.clear();
        dispatchWaitingReply();
    });
    QMetaObject::invokeMethod(storage, &StorageWorker::open, queued);
}

ChatController::~ChatController() {
    commitPendingDelete();
}

QString ChatController::currentTitle() const {
    auto it = library_.constFind(current_);
    return it == library_.constEnd() ? QString() : it->meta.title;
}

QString ChatController::blockedReason() const {
    if (!storage_ready_) return tr("Opening your conversations…");
    if (model_->loading()) return tr("Loading the model… You can type once it is ready.");
    if (!model_->loaded()) {
        return tr(
            "No model is loaded. Open a model file (.pth, .safetensors or .gguf) in the "
            "Model panel to start chatting.");
    }
    return {};
}

QString ChatController::undoTitle() const {
    return pending_delete_ ? pending_delete_->meta.title : QString();
}

ChatController::Conversation* ChatController::current() {
    auto it = library_.find(current_);
    return it == library_.end() ? nullptr : &it.value();
}

ChatController::Conversation* ChatController::findConversation(qint64 id) {
    if (auto it = library_.find(id); it != library_.end()) return &it.value();
    if (pending_delete_ && pending_delete_->meta.id == id) return &*pending_delete_;
    return nullptr;
}

void ChatController::onStorageOpened(const StoredLibrary& library) {
    for (const StoredConversation& meta : library.conversations) {
        if (meta.id <= 0) continue;
        library_[meta.id].meta = meta;
        next_conversation_id_ = std::max(next_conversation_id_, meta.id + 1);
    }
    // Parents before children: ids grow with time, so sorting by id restores insertion order.
    QList<StoredMessage> messages = library.messages;
    std::sort(messages.begin(), messages.end(),
              [](const auto& a, const auto& b) { return a.id < b.id; });
    for (const StoredMessage& m : messages) {
        next_message_id_ = std::max(next_message_id_, m.id + 1);
        auto it = library_.find(m.conversationId);
        if (it == library_.end()) continue;
        it->tree.add(
            MessageNode{m.id, m.parentId, m.role, m.text, m.created, m.tokenCount, {}, m.reply});
    }
    for (const Conversation& c : std::as_const(library_)) refreshSidebarRow(c);
    storage_ready_ = true;
    emit storageReadyChanged();
    emit readyChanged();
    if (conversations_.count() > 0) selectConversation(conversations_.idAt(0));
}

void ChatController::onStorageFailed(const QString& message, bool) {
    setError(message);
}

void ChatController::onSnapshotLoaded(qint64 conversationId, qint64 messageId,
                                      const QByteArray& blob) {
    loading_snapshots_.remove(messageId);
    // One asked for before the user moved to another conversation is not kept.
    auto it = library_.find(conversationId);
    if (it != library_.end() && !blob.isEmpty() && conversationId == current_) {
        if (MessageNode* node = it->tree.find(messageId)) {
            node->snapshot = blob;
            emit snapshotAvailable(messageId);
        }
    }
    if (waiting_reply_) {
        const Conversation* c = findConversation(waiting_reply_->conversation);
        bool still_waiting = false;
        if (c != nullptr) {
            GenerationRequest probe;
            attachSnapshot(*c, waiting_reply_->path, probe, &still_waiting);
        }
        if (!still_waiting) dispatchWaitingReply();
    }
}

void ChatController::attachSnapshot(const Conversation& c, const QList<qint64>& path,
                                    GenerationRequest& request, bool* waiting) const {
    *waiting = false;
    for (qsizetype i = path.size() - 2; i >= 0; --i) {
        const MessageNode* node = c.tree.find(path[i]);
        if (node == nullptr || node->role != Role::Assistant) continue;
        if (!node->snapshot.isEmpty()) {
            request.snapshot = node->snapshot;
            request.resumeTurns = static_cast<int>(i + 1);
            return;
        }
        if (loading_snapshots_.contains(node->id)) {
            *waiting = true;
            return;
        }
    }
}

void ChatController::dispatchWaitingReply() {
    snapshot_wait_.stop();
    if (!waiting_reply_) return;
    WaitingReply waiting = std::move(*waiting_reply_);
    waiting_reply_.reset();
    if (const Conversation* c = findConversation(waiting.conversation)) {
        bool still_waiting = false;
        attachSnapshot(*c, waiting.path, waiting.request, &still_waiting);
    }
    emit generateRequested(waiting.request);
}

qint64 ChatController::newConversation() {
    if (!storage_ready_) return 0;
    // An empty conversation is reused rather than piling up blank entries.
    if (Conversation* c = current(); c && c->tree.size() == 0) return c->meta.id;
    Conversation c;
    c.meta.id = next_conversation_id_++;
    c.meta.title = tr("New conversation");
    c.meta.created = c.meta.updated = QDateTime::currentDateTimeUtc();
    if (current() == nullptr) {
        // No conversation is shown, so the panel's values are what the user just looked at
        // (and perhaps edited); the new conversation keeps them.
        c.meta.sampling = generation_->value();
        c.meta.systemPrompt = generation_->systemPrompt();
    } else {
        c.meta.sampling = startingSampling();
        c.meta.systemPrompt = generation_->defaultSystemPrompt();
    }
    library_.insert(c.meta.id, c);
    refreshSidebarRow(c);
    emit saveConversationRequested(c.meta);
    selectConversation(c.meta.id);
    return c.meta.id;
}

void ChatController::selectConversation(qint64 id) {
    if (!library_.contains(id)) return;
    current_ = id;
    Conversation& c = library_[id];
    generation_->load(c.meta.sampling, c.meta.systemPrompt);
    refreshMessages();
    requestBranchSnapshot(c);
    emit currentChanged();
}

void ChatController::renameConversation(qint64 id, const QString& title) {
    auto it = library_.find(id);
    const QString trimmed = title.simplified();
    if (it == library_.end() || trimmed.isEmpty()) return;
    it->meta.title = left_whole(trimmed, 200);
    emit saveConversationRequested(it->meta);
    refreshSidebarRow(*it);
    if (id == current_) emit currentChanged();
}

void ChatController::deleteConversation(qint64 id) {
    if (!library_.contains(id)) return;
    if (busy() && active_conversation_ == id) stop();
    commitPendingDelete();
    pending_delete_ = library_.take(id);
    conversations_.remove(id);
    if (current_ == id) {
        current_ = 0;
        messages_.setRows({});
        if (conversations_.count() > 0) {
            selectConversation(conversations_.idAt(0));
        } else {
            emit currentChanged();
        }
    }
    undo_timer_.start();
    emit undoChanged();
}

void ChatController::undoDelete() {
    if (!pending_delete_) return;
    undo_timer_.stop();
    const qint64 id = pending_delete_->meta.id;
    library_.insert(id, std::move(*pending_delete_));
    pending_delete_.reset();
    refreshSidebarRow(library_[id]);
    selectConversation(id);
    emit undoChanged();
}

void ChatController::commitPendingDelete() {
    if (!pending_delete_) return;
    undo_timer_.stop();
    emit deleteConversationRequested(pending_delete_->meta.id);
    pending_delete_.reset();
    emit undoChanged();
}

qint64 ChatController::addMessage(Conversation& c, qint64 parentId, Role role, const QString& text,
                                  bool persist) {
    MessageNode node;
    node.id = next_message_id_++;
    node.parentId = parentId;
    node.role = role;
    node.text = text;
    node.created = QDateTime::currentDateTimeUtc();
    if (!c.tree.add(node)) return 0;
    if (persist) {
        emit saveMessageRequested(StoredMessage{
            node.id, c.meta.id, parentId, role, text, node.created, node.tokenCount, {}});
    }
    return node.id;
}

bool ChatController::send(const QString& text) {
    const QString trimmed = text.trimmed();
    if (trimmed.isEmpty() || busy()) return false;
    if (!ready()) {
        setError(blockedReason());
        return false;
    }
    if (current() == nullptr) newConversation();  // with the panel's values
    Conversation* c = current();
    if (c == nullptr) return false;
    const QList<qint64> branch = c->tree.branch();
    const qint64 parent = branch.isEmpty() ? 0 : branch.last();
    if (c->tree.size() == 0) c->meta.title = title_from(trimmed);
    const qint64 user = addMessage(*c, parent, Role::User, trimmed, true);
    touch(*c);
    return startReply(*c, user);
}

bool ChatController::startReply(Conversation& c, qint64 userMessageId) {
    if (!ready()) {
        setError(blockedReason());
        refreshMessages();
        return false;
    }
    QList<qint64> path;
    for (qint64 id = userMessageId; id != 0 && path.size() <= c.tree.size();) {
        const MessageNode* node = c.tree.find(id);
        if (node == nullptr) break;
        path.prepend(id);
        id = node->parentId;
    }
    GenerationRequest request;
    request.id = ++next_request_;
    request.systemPrompt = c.meta.systemPrompt;
    request.sampling = c.meta.sampling;
    for (qint64 id : path) {
        const MessageNode* node = c.tree.find(id);
        request.turns.append(ChatTurn{node->role, node->text, node->reply});
    }
    // Resume from the newest reply on the path whose snapshot is at hand, or wait for one that
    // storage is reading.
    bool waiting = false;
    attachSnapshot(c, path, request, &waiting);
    for (qint64 id : c.tree.children(userMessageId)) {
        if (c.tree.find(id)->role == Role::Assistant) ++request.branch;
    }
    const qint64 reply = addMessage(c, userMessageId, Role::Assistant, QString(), false);
    active_conversation_ = c.meta.id;
    setBusy(request.id, reply);
    refreshMessages();
    if (waiting) {
        waiting_reply_ = WaitingReply{request, c.meta.id, path};
        snapshot_wait_.start();
    } else {
        emit generateRequested(request);
    }
    return true;
}

void ChatController::stop() {
    if (!busy()) return;
    worker_->requestStop(active_request_);
    dispatchWaitingReply();  // the worker sees it stopped before it starts
}

bool ChatController::regenerate(qint64 messageId) {
    Conversation* c = current();
    if (c == nullptr || busy()) return false;
    if (messageId == 0) {
        const QList<qint64> branch = c->tree.branch();
        for (auto it = branch.crbegin(); it != branch.crend(); ++it) {
            if (c->tree.find(*it)->role == Role::Assistant) {
                messageId = *it;
                break;
            }
        }
    }
    const MessageNode* node = c->tree.find(messageId);
    if (node == nullptr || node->role != Role::Assistant) return false;
    return startReply(*c, node->parentId);
}

bool ChatController::editMessage(qint64 messageId, const QString& text) {
    Conversation* c = current();
    const QString trimmed = text.trimmed();
    if (c == nullptr || busy() || trimmed.isEmpty()) return false;
    const MessageNode* node = c->tree.find(messageId);
    if (node == nullptr || node->role != Role::User) return false;
    if (!ready()) {
        setError(blockedReason());
        return false;
    }
    const qint64 edited = addMessage(*c, node->parentId, Role::User, trimmed, true);
    touch(*c);
    return startReply(*c, edited);
}

void ChatController::showSibling(qint64 messageId, int delta) {
    Conversation* c = current();
    if (c == nullptr || busy()) return;
    if (c->tree.moveToSibling(messageId, delta)) {
        refreshMessages();
        requestBranchSnapshot(*c);
    }
}

void ChatController::clearError() {
    if (error_.isEmpty()) return;
    error_.clear();
    emit errorChanged();
}

void ChatController::onText(quint64 id, const QString& text) {
    if (id != active_request_) return;
    auto it = library_.find(active_conversation_);
    if (it == library_.end()) return;
    if (MessageNode* node = it->tree.find(active_message_)) node->text += text;
    if (active_conversation_ == current_) messages_.appendText(active_message_, text);
}

void ChatController::onFinished(const GenerationResult& result) {
    if (result.id != active_request_) return;
    const qint64 message = active_message_;
    setBusy(0, 0);
    stats_ = result;
    emit statsChanged();
    Conversation* found = findConversation(active_conversation_);
    if (found == nullptr) return;  // deleted while generating, and the deletion committed
    Conversation& c = *found;
    MessageNode* node = c.tree.find(message);
    if (node == nullptr) return;
    if (result.stopped && result.text.isEmpty()) {
        // Nothing was written before Stop: leave no empty bubble behind.
        c.tree.removeSubtree(message);
    } else {
        node->text = result.text;
        node->tokenCount = result.generatedTokens;
        node->snapshot = result.snapshot;
        node->reply = result.reply;
        if (Conversation* shown = current()) {
            requestBranchSnapshot(*shown);
        } else {
            releaseSnapshots(nullptr, {});
        }
        emit saveMessageRequested(StoredMessage{node->id, c.meta.id, node->parentId, node->role,
                                                node->text, node->created, node->tokenCount,
                                                node->reply});
        if (!result.snapshot.isEmpty()) {
            emit saveSnapshotRequested(c.meta.id, node->id, result.snapshot);
        }
        touch(c);
    }
    if (c.meta.id == current_) refreshMessages();
    emit replyFinished(message, result.stopped);
}

void ChatController::onFailed(quint64 id, const QString& message) {
    if (id != active_request_) return;
    const qint64 reply = active_message_;
    setBusy(0, 0);
    if (Conversation* c = findConversation(active_conversation_)) {
        c->tree.removeSubtree(reply);
        if (c->meta.id == current_) refreshMessages();
    }
    setError(tr("The reply could not be generated: %1").arg(message));
}

SamplingSettings ChatController::startingSampling() const {
    return model_->demoModel() ? demo_model_sampling() : generation_->defaultValue();
}

void ChatController::onModelChanged() {
    // The demo model answers exactly only when decoding greedily: a conversation not yet begun
    // (or the panel before the first one) switches to its settings, and back for a real model.
    if (model_->loading() || model_->demoModel() == demo_active_) return;
    demo_active_ = model_->demoModel();
    Conversation* c = current();
    if (c != nullptr && c->tree.size() > 0) return;
    const SamplingSettings wanted = startingSampling();
    if (c != nullptr) {
        if (c->meta.sampling == wanted) return;
        c->meta.sampling = wanted;
        emit saveConversationRequested(c->meta);
    }
    if (generation_->value() != wanted) generation_->load(wanted, generation_->systemPrompt());
}

void ChatController::onSettingsEdited() {
    Conversation* c = current();
    if (c == nullptr) return;
    c->meta.sampling = generation_->value();
    c->meta.systemPrompt = generation_->systemPrompt();
    emit saveConversationRequested(c->meta);
}

void ChatController::refreshMessages() {
    Conversation* c = current();
    if (c == nullptr) {
        messages_.setRows({});
        return;
    }
    QList<MessageRow> rows;
    for (qint64 id : c->tree.branch()) {
        const MessageNode* node = c->tree.find(id);
        const QList<qint64> siblings = c->tree.siblings(id);
        rows.append(MessageRow{id, node->role, node->text, static_cast<int>(siblings.indexOf(id)),
                               static_cast<int>(siblings.size()), id == active_message_});
    }
    messages_.setRows(rows);
}

void ChatController::refreshSidebarRow(const Conversation& c) {
    QString text;
    for (qint64 id : c.tree.branch()) text += c.tree.find(id)->text + QLatin1Char('\n');
    conversations_.upsert(ConversationRow{c.meta.id, c.meta.title, c.meta.updated, text});
}

void ChatController::touch(Conversation& c) {
    c.meta.updated = QDateTime::currentDateTimeUtc();
    emit saveConversationRequested(c.meta);
    // Not for a conversation waiting in the undo slot: it is off the sidebar until undone.
    if (library_.contains(c.meta.id)) refreshSidebarRow(c);
    if (c.meta.id == current_) emit currentChanged();
}

// The shown branch's last two replies: the last one is where a new message continues, the one
// before it where regenerating the last reply starts (and where a new message continues when
// the last reply was stopped and has no snapshot).
// Other snapshots in memory are released past a budget (see snapshotBytesInMemory): a full model
// state each, they would otherwise pile up over a session, and the database has them.
void ChatController::requestBranchSnapshot(Conversation& c) {
    const QList<qint64> branch = c.tree.branch();
    QList<qint64> keep;
    for (auto it = branch.crbegin(); it != branch.crend() && keep.size() < 2; ++it) {
        const MessageNode* node = c.tree.find(*it);
        if (node->role != Role::Assistant) continue;
        keep.append(node->id);
        if (node->snapshot.isEmpty() && !loading_snapshots_.contains(node->id)) {
            loading_snapshots_.insert(node->id);
            emit loadSnapshotRequested(c.meta.id, node->id);
        }
    }
    releaseSnapshots(&c, keep);
}

void ChatController::releaseSnapshots(Conversation* shown, const QList<qint64>& branchEnd) {
    const auto release_all = [](Conversation& c) {
        c.tree.forEachNode([](MessageNode& node) { node.snapshot = QByteArray(); });
    };
    for (Conversation& c : library_) {
        if (&c != shown) release_all(c);
    }
    if (pending_delete_) release_all(*pending_delete_);
    if (shown == nullptr) return;
    // The branch end always; then the newest others (ids grow with time) while they fit.
    QList<MessageNode*> others;
    qint64 held = 0;
    shown->tree.forEachNode([&](MessageNode& node) {
        if (node.snapshot.isEmpty()) return;
        if (branchEnd.contains(node.id)) {
            held += node.snapshot.size();
        } else {
            others.append(&node);
        }
    });
    std::sort(others.begin(), others.end(),
              [](const MessageNode* a, const MessageNode* b) { return a->id > b->id; });
    for (MessageNode* node : others) {
        if (held + node->snapshot.size() <= snapshot_budget_) {
            held += node->snapshot.size();
        } else {
            node->snapshot = QByteArray();
        }
    }
}

qint64 ChatController::snapshotBytesInMemory() const {
    qint64 bytes = 0;
    const auto count = [&](const Conversation& c) {
        c.tree.forEachNode([&](const MessageNode& node) { bytes += node.snapshot.size(); });
    };
    for (const Conversation& c : library_) count(c);
    if (pending_delete_) count(*pending_delete_);
    return bytes;
}

void ChatController::setError(const QString& message) {
    error_ = message;
    emit errorChanged();
}

void ChatController::setBusy(quint64 request, qint64 message) {
    const bool was = busy();
    active_request_ = request;
    active_message_ = message;
    if (was != busy()) emit busyChanged();
}

}  // namespace ravel::app
