// The conversation database: conversations, message trees, snapshots, presets and settings.
//
// Why the SQLite C API and not Qt SQL: ravel-cli, the tests and the crash-test helper use the
// store without Qt, and the C API gives direct control over transactions, WAL, blobs and
// pragmas. A Store (like its connection) is used only on the thread that opened it; the app
// gives it a thread of its own (DESIGN.md section 6).
//
// The database is input: every row read back is validated (types, ranges, references), and a
// bad row is an error naming it, never a crash. Every write is one transaction.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ravel/result.hpp"
#include "storage/sqlite_handle.hpp"
#include "storage/types.hpp"

namespace ravel::storage {

struct OpenOptions {
    // Milliseconds since the epoch; tests substitute a fake clock.
    std::function<std::int64_t()> clock;
};

inline constexpr std::int64_t kDefaultSnapshotCapBytes = std::int64_t{2} << 30;
inline constexpr std::string_view kSnapshotCapSetting = "snapshot_cap_bytes";

// "conversation/<id>/": settings under this prefix belong to conversation `id` (the app keeps
// its current generation settings at prefix + "settings") and are deleted with it.
inline std::string conversation_setting_prefix(std::int64_t id) {
    return "conversation/" + std::to_string(id) + "/";
}

class Store {
  public:
    // Opens or creates the database, sets WAL, foreign keys and full sync, and upgrades the
    // schema to the current version.
    static Result<Store> open(const std::filesystem::path& path, OpenOptions options = {});

    Store(Store&&) noexcept = default;
    Store& operator=(Store&&) noexcept = default;

    const std::filesystem::path& path() const { return path_; }
    Result<int> schema_version();
    Result<std::string> integrity_check();  // "ok" when healthy

    // Conversations
    Result<Conversation> create_conversation(const std::string& title,
                                             const std::string& settings_json = "{}",
                                             std::optional<std::int64_t> created_ms = {});
    Result<Conversation> conversation(std::int64_t id);
    Result<std::vector<Conversation>> list_conversations();  // newest activity first
    Result<void> rename_conversation(std::int64_t id, const std::string& title);
    // The conversation's default generation settings (JSON, opaque to the store).
    Result<void> set_conversation_settings(std::int64_t id, const std::string& settings_json);
    Result<void> delete_conversation(std::int64_t id);
    // A starting state (e.g. from a state-tuning file) is user data, not a cache entry.
    Result<void> set_start_state(std::int64_t id, std::span<const std::byte> blob,
                                 const std::string& name);
    Result<std::optional<std::vector<std::byte>>> start_state(std::int64_t id);

    // Messages
    Result<Message> add_message(const NewMessage& message);
    Result<Message> message(std::int64_t id);
    Result<std::vector<Message>> messages(std::int64_t conversation_id);  // by id
    Result<std::vector<Message>> children(std::int64_t conversation_id,
                                          std::optional<std::int64_t> parent_id);
    // Root first, `message_id` last. Fails on a broken or cyclic parent chain.
    Result<std::vector<Message>> path_to(std::int64_t message_id);
    // The message written last (where "continue" picks up); none when empty. By row id, not
    // time: imported rows keep their file's times, which may lie ahead of the clock.
    Result<std::optional<Message>> latest_message(std::int64_t conversation_id);
    Result<void> delete_message(std::int64_t id);  // and its subtree

    // Snapshots (a cache: losing one costs a replay, never data)
    Result<void> put_snapshot(std::int64_t message_id, std::span<const std::byte> blob,
                              const std::string& model_fingerprint_hex);
    // Marks the snapshot used now (for eviction order) and returns it; none when absent.
    Result<std::optional<Snapshot>> snapshot(std::int64_t message_id);
    Result<std::vector<SnapshotRef>> snapshot_refs(std::int64_t conversation_id);
    Result<void> delete_snapshot(std::int64_t message_id);
    Result<void> pin_snapshot(std::int64_t message_id, bool pinned);
    Result<std::int64_t> snapshot_bytes_total();
    Result<std::int64_t> snapshot_cap();
    Result<void> set_snapshot_cap(std::int64_t bytes);
    // Evicts until the total fits the cap; returns the message ids whose snapshots went.
    Result<std::vector<std::int64_t>> enforce_snapshot_cap();

    // Settings and presets
    // Keys that start with conversation_setting_prefix(id) belong to conversation `id` and are
    // deleted with it.
    Result<std::optional<std::string>> setting(const std::string& key);
    Result<void> set_setting(const std::string& key, const std::string& value);
    Result<std::vector<Preset>> presets();
    Result<Preset> save_preset(const std::string& name, const std::string& settings_json);
    Result<void> delete_preset(const std::string& name);

  private:
    Store(std::filesystem::path path, sql::Db db, OpenOptions options);
    std::int64_t now() const;
    Result<std::vector<std::int64_t>> evict_locked(std::int64_t cap);
    Result<void> touch_conversation(std::int64_t id);

    std::filesystem::path path_;
    sql::Db db_;
    OpenOptions options_;
};

}  // namespace ravel::storage
