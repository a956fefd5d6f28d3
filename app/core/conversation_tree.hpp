// The messages of one conversation as a tree: editing a user message or regenerating a reply
// adds a sibling, and each parent remembers which child is shown. Plain data, no Qt models, so
// the branching rules are tested on their own.
#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QHash>
#include <QList>
#include <QString>
#include <optional>

#include "inference_types.hpp"

namespace ravel::app {

struct MessageNode {
    qint64 id = 0;
    qint64 parentId = 0;  // 0: a first message
    Role role = Role::User;
    QString text;
    QDateTime created;
    int tokenCount = 0;
    // Resume record after this message (assistant messages); empty when not in memory.
    QByteArray snapshot;
    ReplyRecord reply;  // assistant messages
};

class ConversationTree {
  public:
    // Adds a message and makes it the shown child of its parent. Returns false (and changes
    // nothing) when the id is taken or the parent is unknown.
    bool add(const MessageNode& node);
    const MessageNode* find(qint64 id) const;
    MessageNode* find(qint64 id);
    bool contains(qint64 id) const { return nodes_.contains(id); }
    int size() const { return static_cast<int>(nodes_.size()); }

    // Children of `parentId` (0: the first messages) in the order they were added.
    QList<qint64> children(qint64 parentId) const;
    QList<qint64> siblings(qint64 id) const;
    int siblingIndex(qint64 id) const;

    // The shown branch: from the first message, following each parent's shown child.
    QList<qint64> branch() const;
    // The branch that ends at `id`: its ancestors, then `id`, then shown children below it.
    void showBranchThrough(qint64 id);
    // Shows the sibling `delta` places away from `id`; returns the sibling shown, if any.
    std::optional<qint64> moveToSibling(qint64 id, int delta);
    // Removes `id` and everything under it.
    void removeSubtree(qint64 id);

    template <class F>
    void forEachNode(F&& f) {
        for (MessageNode& node : nodes_) f(node);
    }
    template <class F>
    void forEachNode(F&& f) const {
        for (const MessageNode& node : nodes_) f(node);
    }

  private:
    QHash<qint64, MessageNode> nodes_;
    QHash<qint64, QList<qint64>> children_;
    QHash<qint64, qint64> shown_;  // parent -> shown child
};

}  // namespace ravel::app
