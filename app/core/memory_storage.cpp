#include "conversation_storage.hpp"

namespace ravel::app {

ravel::Result<StoredLibrary> MemoryStorage::loadAll() {
    return library_;
}

ravel::Result<void> MemoryStorage::saveConversation(const StoredConversation& conversation) {
    for (auto& c : library_.conversations) {
        if (c.id == conversation.id) {
            c = conversation;
            return {};
        }
    }
    library_.conversations.append(conversation);
    return {};
}

ravel::Result<void> MemoryStorage::saveMessage(const StoredMessage& message) {
    for (auto& m : library_.messages) {
        if (m.id == message.id) {
            m = message;
            return {};
        }
    }
    library_.messages.append(message);
    return {};
}

ravel::Result<void> MemoryStorage::saveSnapshot(qint64, qint64 messageId, const QByteArray& blob) {
    snapshots_.insert(messageId, blob);
    return {};
}

ravel::Result<QByteArray> MemoryStorage::loadSnapshot(qint64, qint64 messageId) {
    return snapshots_.value(messageId);
}

ravel::Result<void> MemoryStorage::deleteConversation(qint64 id) {
    library_.conversations.removeIf([&](const auto& c) { return c.id == id; });
    library_.messages.removeIf([&](const auto& m) {
        if (m.conversationId != id) return false;
        snapshots_.remove(m.id);
        return true;
    });
    return {};
}

}  // namespace ravel::app
