// ConversationStorage over ravel_storage's Store (SQLite). The Store assigns its own row ids;
// the app assigns ids before a row reaches the database (so the GUI never waits for a write),
// and this adapter maps one to the other. Rows loaded at start keep their database ids, and
// new app ids start above them, so the two never collide.
#include <QDir>
#include <QFileInfo>
#include <QHash>
#include <QJsonDocument>

#include "conversation_storage.hpp"

#ifdef RAVEL_HAVE_STORAGE
#include "conversation/transfer.hpp"
#include "ravel/resume_record.hpp"
#include "storage/store.hpp"
#endif

namespace ravel::app {

#ifdef RAVEL_HAVE_STORAGE
static_assert(kMaxConversationFileBytes == static_cast<qint64>(conversation::kMaxImportBytes));

namespace {

QDateTime from_ms(std::int64_t ms) {
    return QDateTime::fromMSecsSinceEpoch(ms, Qt::UTC);
}

std::string settings_key(std::int64_t conversation) {
    return storage::conversation_setting_prefix(conversation) + "settings";
}

std::string settings_json(const StoredConversation& c) {
    QJsonObject obj;
    obj.insert(QStringLiteral("sampling"), c.sampling.toJson());
    obj.insert(QStringLiteral("systemPrompt"), c.systemPrompt);
    return QJsonDocument(obj).toJson(QJsonDocument::Compact).toStdString();
}

void apply_settings_json(const std::string& json, StoredConversation& c) {
    const QJsonObject obj = QJsonDocument::fromJson(QByteArray::fromStdString(json)).object();
    if (obj.value(QStringLiteral("sampling")).isObject()) {
        c.sampling = SamplingSettings::fromJson(obj.value(QStringLiteral("sampling")).toObject());
    }
    c.systemPrompt = obj.value(QStringLiteral("systemPrompt")).toString();
}

storage::Role to_storage(Role r) {
    switch (r) {
        case Role::System:
            return storage::Role::System;
        case Role::Assistant:
            return storage::Role::Assistant;
        case Role::User:
            break;
    }
    return storage::Role::User;
}

Role from_storage(storage::Role r) {
    switch (r) {
        case storage::Role::System:
            return Role::System;
        case storage::Role::Assistant:
            return Role::Assistant;
        case storage::Role::User:
            break;
    }
    return Role::User;
}

class SqliteStorage final : public ConversationStorage {
  public:
    explicit SqliteStorage(storage::Store store) : store_(std::move(store)) {}

    // One conversation that cannot be read (a bad row, a damaged page) is left out and named;
    // the others load. Only what loaded gets ids, so a new conversation's app id can never
    // stand for a row the app does not show.
    ravel::Result<StoredLibrary> loadAll() override {
        StoredLibrary out;
        auto conversations = store_.list_conversations();
        if (!conversations) return conversations.error();
        for (const storage::Conversation& row : *conversations) {
            StoredLibrary one;
            if (auto added = append(row, one); !added) {
                out.unreadable.append(QStringLiteral("\"%1\" (%2)")
                                          .arg(QString::fromStdString(row.title),
                                               QString::fromStdString(added.message())));
                continue;
            }
            // Rows loaded at start keep their database ids as app ids.
            conversation_ids_.insert(row.id, row.id);
            for (const StoredMessage& m : std::as_const(one.messages)) {
                message_ids_.insert(m.id, m.id);
            }
            out.conversations.append(one.conversations);
            out.messages.append(one.messages);
        }
        return out;
    }

    // A save that fails (a full disk, a lock held past the busy timeout) is kept and tried
    // again, in order, before the next one: a message whose parent failed to save is written
    // once its parent is, so a passing failure does not cut off the rest of the branch.
    ravel::Result<void> saveConversation(const StoredConversation& c) override {
        auto saved = flush_pending();
        if (saved) saved = write_conversation(c);
        if (!saved) queue(c);
        return saved;
    }

    ravel::Result<void> saveMessage(const StoredMessage& m) override {
        // Messages are immutable once written: an edit or a regenerated reply is a new sibling.
        if (message_ids_.contains(m.id)) return {};
        auto saved = flush_pending();
        if (saved) saved = write_message(m);
        if (!saved && can_wait(m)) pending_messages_.append(m);
        return saved;
    }

    ravel::Result<void> saveSnapshot(qint64, qint64 messageId, const QByteArray& blob) override {
        auto message = message_ids_.constFind(messageId);
        if (message == message_ids_.constEnd()) return make_error("the message was never saved");
        const std::span bytes(reinterpret_cast<const std::byte*>(blob.constData()),
                              static_cast<std::size_t>(blob.size()));
        // Only a verified record is stored; its header names the model it belongs to.
        auto record = decode_resume_record(bytes);
        if (!record) return record.error();
        if (auto put = store_.put_snapshot(message.value(), bytes, record->model.hex()); !put) {
            return put;
        }
        auto evicted = store_.enforce_snapshot_cap();
        if (!evicted) return evicted.error();
        return {};
    }

    ravel::Result<QByteArray> loadSnapshot(qint64, qint64 messageId) override {
        auto message = message_ids_.constFind(messageId);
        if (message == message_ids_.constEnd()) return QByteArray();
        auto snapshot = store_.snapshot(message.value());
        if (!snapshot) return snapshot.error();
        if (!snapshot->has_value()) return QByteArray();
        const auto& blob = (*snapshot)->blob;
        return QByteArray(reinterpret_cast<const char*>(blob.data()),
                          static_cast<qsizetype>(blob.size()));
    }

    ravel::Result<void> deleteConversation(qint64 id) override {
        // What is still waiting to be saved for it would otherwise bring it back.
        pending_conversations_.removeIf([id](const StoredConversation& c) { return c.id == id; });
        pending_messages_.removeIf([id](const StoredMessage& m) { return m.conversationId == id; });
        auto known = conversation_ids_.constFind(id);
        if (known == conversation_ids_.constEnd()) return {};
        auto deleted = store_.delete_conversation(known.value());
        if (deleted) conversation_ids_.remove(id);
        return deleted;
    }

    ravel::Result<ExportedFile> exportConversation(qint64 id, TransferFormat format, qint64 leafId,
                                                   bool withSnapshots) override {
        auto known = conversation_ids_.constFind(id);
        if (known == conversation_ids_.constEnd()) {
            return make_error("the conversation was never saved");
        }
        if (format == TransferFormat::Json) {
            // The app keeps a conversation's current settings in its settings entry (saved with
            // every message); the row's copy, which the file carries, is brought up to date only
            // here, so saving a message costs no extra write.
            if (auto saved = store_.setting(settings_key(known.value()));
                saved && saved->has_value()) {
                if (auto kept = store_.set_conversation_settings(known.value(), **saved); !kept) {
                    return kept.error();
                }
            }
            ExportedFile file;
            if (withSnapshots) {
                // export_json writes every snapshot the conversation's messages have.
                auto refs = store_.snapshot_refs(known.value());
                if (!refs) return refs.error();
                file.snapshots = static_cast<int>(refs->size());
            }
            conversation::ExportOptions options;
            options.include_snapshots = withSnapshots;
            auto text = conversation::export_json(store_, known.value(), options);
            if (!text) return text.error();
            file.text = std::move(*text);
            return file;
        }
        std::optional<std::int64_t> leaf;
        if (leafId != 0) {
            auto message = message_ids_.constFind(leafId);
            if (message == message_ids_.constEnd())
                return make_error("the message was never saved");
            leaf = message.value();
        }
        auto text = conversation::export_markdown(store_, known.value(), leaf);
        if (!text) return text.error();
        return ExportedFile{std::move(*text), 0};
    }

    ravel::Result<StoredLibrary> importConversation(const std::string& text,
                                                    TransferFormat format) override {
        auto id = format == TransferFormat::Json ? conversation::import_json(store_, text)
                                                 : conversation::import_markdown(store_, text);
        if (!id) return id.error();
        auto row = store_.conversation(*id);
        if (!row) return row.error();
        // Row ids can be reused after a delete; a settings entry left by a deleted conversation
        // must not apply to this one.
        if (auto kept = store_.set_setting(settings_key(*id), row->settings_json); !kept) {
            return kept.error();
        }
        StoredLibrary out;
        if (auto added = append(*row, out); !added) return added.error();
        return out;
    }

    void adoptIds(const ImportedIds& ids) override {
        for (const auto& [app, row] : ids.conversations) conversation_ids_.insert(app, row);
        for (const auto& [app, row] : ids.messages) message_ids_.insert(app, row);
    }

  private:
    ravel::Result<void> write_conversation(const StoredConversation& c) {
        const std::string json = settings_json(c);
        auto known = conversation_ids_.constFind(c.id);
        if (known == conversation_ids_.constEnd()) {
            auto made = store_.create_conversation(c.title.toStdString(), json,
                                                   c.created.toMSecsSinceEpoch());
            if (!made) return made.error();
            conversation_ids_.insert(c.id, made->id);
            return store_.set_setting(settings_key(made->id), json);
        }
        if (auto renamed = store_.rename_conversation(known.value(), c.title.toStdString());
            !renamed) {
            return renamed;
        }
        return store_.set_setting(settings_key(known.value()), json);
    }

    ravel::Result<void> write_message(const StoredMessage& m) {
        auto conversation = conversation_ids_.constFind(m.conversationId);
        if (conversation == conversation_ids_.constEnd()) {
            return make_error("the message's conversation was never saved");
        }
        storage::NewMessage row;
        row.conversation_id = conversation.value();
        if (m.parentId != 0) {
            auto parent = message_ids_.constFind(m.parentId);
            if (parent == message_ids_.constEnd()) {
                return make_error("the message's parent was never saved");
            }
            row.parent_id = parent.value();
        }
        row.role = to_storage(m.role);
        row.text = m.text.toStdString();
        row.tokens = m.reply.tokens;
        if (!m.reply.settings.isEmpty()) row.settings_json = m.reply.settings.toStdString();
        row.created_ms = m.created.toMSecsSinceEpoch();
        auto added = store_.add_message(row);
        if (!added) return added.error();
        message_ids_.insert(m.id, added->id);
        return {};
    }

    // The newest state of a conversation replaces an older one still waiting.
    void queue(const StoredConversation& c) {
        for (StoredConversation& waiting : pending_conversations_) {
            if (waiting.id == c.id) {
                waiting = c;
                return;
            }
        }
        pending_conversations_.append(c);
    }

    // A failed message can be saved later only if what it hangs on is saved or waiting too;
    // one that hangs on nothing would wait forever and hold up everything after it.
    bool can_wait(const StoredMessage& m) const {
        const auto waiting_conversation = [&] {
            for (const StoredConversation& c : pending_conversations_) {
                if (c.id == m.conversationId) return true;
            }
            return false;
        };
        if (!conversation_ids_.contains(m.conversationId) && !waiting_conversation()) {
            return false;
        }
        if (m.parentId == 0 || message_ids_.contains(m.parentId)) return true;
        for (const StoredMessage& waiting : pending_messages_) {
            if (waiting.id == m.parentId) return true;
        }
        return false;
    }

    // Earlier failed saves, oldest first (a parent before its children); stops at the first
    // that fails again, which stays at the front.
    ravel::Result<void> flush_pending() {
        while (!pending_conversations_.isEmpty()) {
            if (auto saved = write_conversation(pending_conversations_.front()); !saved) {
                return saved;
            }
            pending_conversations_.removeFirst();
        }
        while (!pending_messages_.isEmpty()) {
            const StoredMessage& m = pending_messages_.front();
            // Its conversation and its parent come before it, so if they are not saved by now
            // they never will be, and neither can it (its error was reported when it failed).
            const bool orphan = !conversation_ids_.contains(m.conversationId) ||
                                (m.parentId != 0 && !message_ids_.contains(m.parentId));
            if (!orphan && !message_ids_.contains(m.id)) {
                if (auto saved = write_message(m); !saved) return saved;
            }
            pending_messages_.removeFirst();
        }
        return {};
    }

    // A conversation row and its messages, with the database's ids.
    ravel::Result<void> append(const storage::Conversation& row, StoredLibrary& out) {
        StoredConversation c;
        c.id = row.id;
        c.title = QString::fromStdString(row.title);
        c.created = from_ms(row.created_ms);
        c.updated = from_ms(row.updated_ms);
        apply_settings_json(row.settings_json, c);
        if (auto saved = store_.setting(settings_key(row.id)); saved && saved->has_value()) {
            apply_settings_json(**saved, c);
        }
        out.conversations.append(c);
        auto messages = store_.messages(row.id);
        if (!messages) return messages.error();
        for (const storage::Message& m : *messages) {
            // Only replies carry a record (ravel-cli stores the ids of user turns too; the app
            // tokenizes user text again, as it does for its own).
            ReplyRecord record;
            if (m.role == storage::Role::Assistant && !m.tokens.empty()) {
                record = ReplyRecord{m.tokens, QString::fromStdString(m.settings_json)};
            }
            out.messages.append(StoredMessage{m.id, row.id, m.parent_id.value_or(0),
                                              from_storage(m.role), QString::fromStdString(m.text),
                                              from_ms(m.created_ms),
                                              static_cast<int>(m.token_count), record});
        }
        return {};
    }

    storage::Store store_;
    QHash<qint64, std::int64_t> conversation_ids_;  // app id -> row id
    QHash<qint64, std::int64_t> message_ids_;
    QList<StoredConversation> pending_conversations_;
    QList<StoredMessage> pending_messages_;
};

}  // namespace
#endif

ravel::Result<std::unique_ptr<ConversationStorage>> open_sqlite_storage(const QString& path) {
#ifdef RAVEL_HAVE_STORAGE
    QDir().mkpath(QFileInfo(path).absolutePath());
    auto store = storage::Store::open(std::filesystem::path(path.toStdString()));
    if (!store) return store.error();
    return std::unique_ptr<ConversationStorage>(new SqliteStorage(std::move(store).value()));
#else
    (void)path;
    return make_error("this build of Ravel has no SQLite storage");
#endif
}

}  // namespace ravel::app
