#include "storage_worker.hpp"

#include <QDir>
#include <QFile>
#include <QSaveFile>

namespace ravel::app {

StorageWorker::StorageWorker(StorageFactory factory, QObject* parent)
    : QObject(parent), factory_(std::move(factory)) {}

StorageWorker::~StorageWorker() = default;

void StorageWorker::open() {
    auto made = factory_();
    if (!made.ok()) {
        storage_ = std::make_unique<MemoryStorage>();
        emit failed(tr("The conversation database could not be opened: %1. Conversations are "
                       "kept only until Ravel closes. Check that the data folder is writable "
                       "and has free space, then restart Ravel.")
                        .arg(QString::fromStdString(made.message())),
                    true);
    } else {
        storage_ = std::move(made).value();
    }
    auto library = storage_->loadAll();
    if (!library.ok()) {
        emit failed(tr("Saved conversations could not be read: %1. New conversations will still "
                       "be saved.")
                        .arg(QString::fromStdString(library.message())),
                    false);
        emit opened({});
        return;
    }
    if (const QStringList& left_out = library.value().unreadable; !left_out.isEmpty()) {
        emit failed(tr("%n saved conversation(s) could not be read and are not shown: %1. They "
                       "are left in the database as they are.",
                       nullptr, static_cast<int>(left_out.size()))
                        .arg(left_out.join(QStringLiteral("; "))),
                    false);
    }
    emit opened(library.value());
}

void StorageWorker::report(const ravel::Result<void>& result, const QString& what) {
    if (result.ok()) return;
    emit failed(tr("Could not save %1: %2. Check free disk space; the conversation stays open "
                   "and the next change will be saved again.")
                    .arg(what, QString::fromStdString(result.message())),
                false);
}

void StorageWorker::saveConversation(const StoredConversation& conversation) {
    if (storage_) report(storage_->saveConversation(conversation), tr("the conversation"));
}

void StorageWorker::saveMessage(const StoredMessage& message) {
    if (storage_) report(storage_->saveMessage(message), tr("a message"));
}

void StorageWorker::saveSnapshot(qint64 conversationId, qint64 messageId, const QByteArray& blob) {
    if (storage_) report(storage_->saveSnapshot(conversationId, messageId, blob), tr("a snapshot"));
}

void StorageWorker::loadSnapshot(qint64 conversationId, qint64 messageId) {
    if (!storage_) return;
    auto blob = storage_->loadSnapshot(conversationId, messageId);
    // A snapshot that cannot be read is a cache miss: the transcript is replayed instead.
    emit snapshotLoaded(conversationId, messageId, blob.ok() ? blob.value() : QByteArray());
}

void StorageWorker::deleteConversation(qint64 id) {
    if (storage_) report(storage_->deleteConversation(id), tr("the deletion"));
}

void StorageWorker::exportConversation(qint64 id, qint64 leafId, const QString& path,
                                       bool withSnapshots) {
    if (!storage_) return;
    const TransferFormat format = transfer_format_for(path);
    // Markdown is for reading: it has no place for a state.
    withSnapshots = withSnapshots && format == TransferFormat::Json;
    auto exported_file = storage_->exportConversation(id, format, leafId, withSnapshots);
    if (!exported_file.ok()) {
        emit failed(tr("Could not export the conversation: %1.")
                        .arg(QString::fromStdString(exported_file.message())),
                    false);
        return;
    }
    const std::string& text = exported_file.value().text;
    // Written whole or not at all: an existing file is replaced only by a complete one.
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly) ||
        file.write(text.data(), static_cast<qint64>(text.size())) !=
            static_cast<qint64>(text.size()) ||
        !file.commit()) {
        emit failed(tr("Could not write %1: %2. Choose a folder you can write to, with free "
                       "space.")
                        .arg(QDir::toNativeSeparators(path), file.errorString()),
                    false);
        return;
    }
    emit exported(path, withSnapshots ? exported_file.value().snapshots : -1);
}

void StorageWorker::importConversation(const QString& path) {
    if (!storage_) return;
    const auto refuse = [&](const QString& why) {
        emit failed(tr("Could not import %1: %2").arg(QDir::toNativeSeparators(path), why), false);
    };
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) return refuse(file.errorString() + QLatin1Char('.'));
    if (file.size() > kMaxConversationFileBytes) {
        return refuse(tr("the file is larger than %1 MiB, more than any exported conversation.")
                          .arg(kMaxConversationFileBytes >> 20));
    }
    const QByteArray bytes = file.readAll();
    auto rows = storage_->importConversation(bytes.toStdString(), transfer_format_for(path));
    if (!rows.ok()) return refuse(QString::fromStdString(rows.message()) + QLatin1Char('.'));
    emit imported(rows.value(), path);
}

void StorageWorker::adoptImported(const ImportedIds& ids) {
    if (storage_) storage_->adoptIds(ids);
}

void StorageWorker::close() {
    storage_.reset();
}

void register_storage_metatypes() {
    qRegisterMetaType<ravel::app::StoredConversation>();
    qRegisterMetaType<ravel::app::StoredMessage>();
    qRegisterMetaType<ravel::app::StoredLibrary>();
    qRegisterMetaType<ravel::app::ImportedIds>();
}

StorageHost::StorageHost(StorageFactory factory, QObject* parent)
    : QObject(parent), worker_(new StorageWorker(std::move(factory))) {
    register_storage_metatypes();
    thread_.setObjectName(QStringLiteral("ravel-storage"));
    worker_->moveToThread(&thread_);
    thread_.start();
}

StorageHost::~StorageHost() {
    shutdown();
}

void StorageHost::shutdown() {
    if (worker_ == nullptr) return;
    // Queued writes run before the quit event, so nothing the user saw is lost on close.
    QMetaObject::invokeMethod(
        worker_,
        [w = worker_] {
            w->close();
            QThread::currentThread()->quit();
        },
        Qt::QueuedConnection);
    thread_.wait();
    delete worker_;
    worker_ = nullptr;
}

}  // namespace ravel::app
