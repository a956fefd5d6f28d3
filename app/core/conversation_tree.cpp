#include "conversation_tree.hpp"

namespace ravel::app {

bool ConversationTree::add(const MessageNode& node) {
    if (node.id == 0 || nodes_.contains(node.id)) return false;
    if (node.parentId != 0 && !nodes_.contains(node.parentId)) return false;
    nodes_.insert(node.id, node);
    children_[node.parentId].append(node.id);
    shown_[node.parentId] = node.id;
    return true;
}

const MessageNode* ConversationTree::find(qint64 id) const {
    auto it = nodes_.constFind(id);
    return it == nodes_.constEnd() ? nullptr : &it.value();
}

MessageNode* ConversationTree::find(qint64 id) {
    auto it = nodes_.find(id);
    return it == nodes_.end() ? nullptr : &it.value();
}

QList<qint64> ConversationTree::children(qint64 parentId) const {
    return children_.value(parentId);
}

QList<qint64> ConversationTree::siblings(qint64 id) const {
    const MessageNode* node = find(id);
    return node ? children(node->parentId) : QList<qint64>{};
}

int ConversationTree::siblingIndex(qint64 id) const {
    return static_cast<int>(siblings(id).indexOf(id));
}

QList<qint64> ConversationTree::branch() const {
    QList<qint64> out;
    qint64 parent = 0;
    // Bounded by the node count, so a corrupted shown_ map cannot loop forever.
    for (int guard = 0; guard <= size(); ++guard) {
        auto it = shown_.constFind(parent);
        if (it == shown_.constEnd() || !nodes_.contains(it.value())) break;
        out.append(it.value());
        parent = it.value();
    }
    return out;
}

void ConversationTree::showBranchThrough(qint64 id) {
    for (int guard = 0; guard <= size(); ++guard) {
        const MessageNode* node = find(id);
        if (node == nullptr) return;
        shown_[node->parentId] = id;
        if (node->parentId == 0) return;
        id = node->parentId;
    }
}

std::optional<qint64> ConversationTree::moveToSibling(qint64 id, int delta) {
    const QList<qint64> sibs = siblings(id);
    const int index = static_cast<int>(sibs.indexOf(id)) + delta;
    if (index < 0 || index >= sibs.size()) return std::nullopt;
    showBranchThrough(sibs[index]);
    return sibs[index];
}

void ConversationTree::removeSubtree(qint64 id) {
    const MessageNode* node = find(id);
    if (node == nullptr) return;
    const qint64 parent = node->parentId;
    QList<qint64> stack{id};
    while (!stack.isEmpty()) {
        const qint64 current = stack.takeLast();
        stack.append(children_.take(current));
        shown_.remove(current);
        nodes_.remove(current);
    }
    QList<qint64>& sibs = children_[parent];
    sibs.removeAll(id);
    if (shown_.value(parent) == id) {
        if (sibs.isEmpty()) {
            shown_.remove(parent);
        } else {
            shown_[parent] = sibs.last();
        }
    }
}

}  // namespace ravel::app
