#include "conversation_list_model.hpp"

#include <QLocale>
#include <algorithm>

namespace ravel::app {

int ConversationListModel::rowCount(const QModelIndex& parent) const {
    return parent.isValid() ? 0 : count();
}

QVariant ConversationListModel::data(const QModelIndex& index, int role) const {
    if (!index.isValid() || index.parent().isValid() || index.row() >= rowCount()) {
        return {};
    }
    const ConversationRow& row = visible_[index.row()];
    switch (role) {
        case IdRole:
            return row.id;
        case Qt::DisplayRole:
        case TitleRole:
            return row.title;
        case UpdatedRole:
            return row.updated;
        case UpdatedTextRole:
            return QLocale().toString(row.updated.toLocalTime(), QLocale::ShortFormat);
        default:
            return {};
    }
}

QHash<int, QByteArray> ConversationListModel::roleNames() const {
    return {{IdRole, "conversationId"},
            {TitleRole, "title"},
            {UpdatedRole, "updated"},
            {UpdatedTextRole, "updatedText"}};
}

void ConversationListModel::upsert(const ConversationRow& row) {
    ConversationRow stored = row;
    stored.searchText = row.searchText.toLower();
    auto it = std::find_if(all_.begin(), all_.end(), [&](const auto& r) { return r.id == row.id; });
    if (it == all_.end()) {
        all_.append(stored);
    } else {
        *it = stored;
    }
    refresh();
}

void ConversationListModel::remove(qint64 id) {
    all_.removeIf([&](const ConversationRow& r) { return r.id == id; });
    refresh();
}

void ConversationListModel::clear() {
    all_.clear();
    refresh();
}

const ConversationRow* ConversationListModel::find(qint64 id) const {
    for (const auto& r : all_) {
        if (r.id == id) return &r;
    }
    return nullptr;
}

void ConversationListModel::setFilter(const QString& filter) {
    if (filter == filter_) return;
    filter_ = filter;
    refresh();
    emit filterChanged();
}

qint64 ConversationListModel::idAt(int row) const {
    return row >= 0 && row < visible_.size() ? visible_[row].id : 0;
}

int ConversationListModel::rowOf(qint64 id) const {
    for (qsizetype i = 0; i < visible_.size(); ++i) {
        if (visible_[i].id == id) return static_cast<int>(i);
    }
    return -1;
}

bool ConversationListModel::matches(const ConversationRow& row) const {
    const QString needle = filter_.trimmed().toLower();
    if (needle.isEmpty()) return true;
    return row.title.toLower().contains(needle) || row.searchText.contains(needle);
}

QList<ConversationRow> ConversationListModel::visibleRows() const {
    QList<ConversationRow> out;
    for (const auto& r : all_) {
        if (matches(r)) out.append(r);
    }
    std::stable_sort(out.begin(), out.end(), [](const auto& a, const auto& b) {
        if (a.updated != b.updated) return a.updated > b.updated;
        return a.id > b.id;
    });
    return out;
}

void ConversationListModel::refresh() {
    // A full reset keeps this simple and correct; the sidebar holds at most a few thousand rows.
    const QList<ConversationRow> next = visibleRows();
    const int old_count = count();
    bool same_ids = next.size() == visible_.size();
    for (qsizetype i = 0; same_ids && i < next.size(); ++i) same_ids = next[i].id == visible_[i].id;
    if (same_ids) {
        visible_ = next;
        if (!visible_.isEmpty()) emit dataChanged(index(0), index(count() - 1));
        return;
    }
    beginResetModel();
    visible_ = next;
    endResetModel();
    if (count() != old_count) emit countChanged();
}

}  // namespace ravel::app
