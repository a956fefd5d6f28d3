// The sidebar: conversations, most recently changed first, filtered by a search string that
// matches titles and message text. Changed only on the GUI thread.
#pragma once

#include <QAbstractListModel>
#include <QDateTime>
#include <QList>

namespace ravel::app {

struct ConversationRow {
    qint64 id = 0;
    QString title;
    QDateTime updated;
    QString searchText;  // all message text, lower-cased by the model
};

class ConversationListModel : public QAbstractListModel {
    Q_OBJECT
    Q_PROPERTY(QString filter READ filter WRITE setFilter NOTIFY filterChanged)
    Q_PROPERTY(int count READ count NOTIFY countChanged)
  public:
    enum Roles { IdRole = Qt::UserRole + 1, TitleRole, UpdatedRole, UpdatedTextRole };

    using QAbstractListModel::QAbstractListModel;

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role) const override;
    QHash<int, QByteArray> roleNames() const override;

    // Inserts or replaces a conversation (by id) and re-sorts.
    void upsert(const ConversationRow& row);
    void remove(qint64 id);
    void clear();
    const ConversationRow* find(qint64 id) const;

    QString filter() const { return filter_; }
    void setFilter(const QString& filter);
    int count() const { return static_cast<int>(visible_.size()); }
    Q_INVOKABLE qint64 idAt(int row) const;
    Q_INVOKABLE int rowOf(qint64 id) const;

  signals:
    void filterChanged();
    void countChanged();

  private:
    bool matches(const ConversationRow& row) const;
    QList<ConversationRow> visibleRows() const;
    void refresh();

    QList<ConversationRow> all_;
    QList<ConversationRow> visible_;
    QString filter_;
};

}  // namespace ravel::app
