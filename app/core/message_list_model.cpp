#include "message_list_model.hpp"

#include "markdown_segments.hpp"

namespace ravel::app {

int MessageListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : static_cast<int>(rows_.size());
}

QVariant MessageListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.parent().isValid() || index.row() >= rowCount()) {
        return {};
    }
    const MessageRow& row = rows_[index.row()];
    switch (role) {
        case IdRole:
            return row.id;
        case RoleRole:
            return role_name(row.role);
        case Qt::DisplayRole:
        case TextRole:
            return row.text;
        case SegmentsRole:
            return markdown_segments_for_qml(row.text);
        case SiblingIndexRole:
            return row.siblingIndex;
        case SiblingCountRole:
            return row.siblingCount;
        case StreamingRole:
            return row.streaming;
        default:
            return {};
    }
}

QHash<int, QByteArray> MessageListModel::roleNames() const {
    return {{IdRole, "messageId"},
            {RoleRole, "role"},
            {TextRole, "text"},
            {SegmentsRole, "segments"},
            {SiblingIndexRole, "siblingIndex"},
            {SiblingCountRole, "siblingCount"},
            {StreamingRole, "streaming"}};
}

void MessageListModel::setRows(const QList<MessageRow>& rows) {
    // Keep the common prefix of ids; update changed rows in it, replace the tail.
    qsizetype common = 0;
    while (common < rows_.size() && common < rows.size() && rows_[common].id == rows[common].id) {
        ++common;
    }
    const int old_count = count();
    if (common < rows_.size()) {
        beginRemoveRows({}, static_cast<int>(common), static_cast<int>(rows_.size() - 1));
        rows_.resize(common);
        endRemoveRows();
    }
    for (qsizetype i = 0; i < common; ++i) {
        if (!(rows_[i] == rows[i])) {
            rows_[i] = rows[i];
            const QModelIndex at = index(static_cast<int>(i));
            emit dataChanged(at, at);
        }
    }
    if (common < rows.size()) {
        beginInsertRows({}, static_cast<int>(common), static_cast<int>(rows.size() - 1));
        rows_.append(rows.mid(common));
        endInsertRows();
    }
    if (count() != old_count) emit countChanged();
}

void MessageListModel::appendText(qint64 id, const QString& text) {
    const int row = rowOf(id);
    if (row < 0 || text.isEmpty()) return;
    rows_[row].text += text;
    const QModelIndex at = index(row);
    emit dataChanged(at, at, {TextRole, SegmentsRole, Qt::DisplayRole});
}

int MessageListModel::rowOf(qint64 id) const {
    for (qsizetype i = 0; i < rows_.size(); ++i) {
        if (rows_[i].id == id) return static_cast<int>(i);
    }
    return -1;
}

}  // namespace ravel::app
