// The messages of the shown branch of the current conversation, for the chat view. Changed
// only on the GUI thread. setRows() diffs against the current rows so a streamed reply or a
// branch switch touches only the rows that changed (the view keeps its scroll position).
#pragma once

#include <QAbstractListModel>
#include <QList>

#include "inference_types.hpp"

namespace ravel::app {

struct MessageRow {
    qint64 id = 0;
    Role role = Role::User;
    QString text;
    int siblingIndex = 0;
    int siblingCount = 1;
    bool streaming = false;
    bool operator==(const MessageRow&) const = default;
};

class MessageListModel : public QAbstractListModel {
    Q_OBJECT
    Q_PROPERTY(int count READ count NOTIFY countChanged)
  public:
    enum Roles {
        IdRole = Qt::UserRole + 1,
        RoleRole,  // "user" / "assistant" / "system"
        TextRole,
        SegmentsRole,
        SiblingIndexRole,
        SiblingCountRole,
        StreamingRole,
    };

    using QAbstractListModel::QAbstractListModel;

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    int count() const { return static_cast<int>(rows_.size()); }
    const QList<MessageRow>& rows() const { return rows_; }
    void setRows(const QList<MessageRow>& rows);
    // Appends streamed text to the row with this id; no-op when absent.
    void appendText(qint64 id, const QString& text);
    int rowOf(qint64 id) const;

  signals:
    void countChanged();

  private:
    QList<MessageRow> rows_;
};

}  // namespace ravel::app
