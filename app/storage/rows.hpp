// Reading rows back, with validation: the database file may have been edited, damaged or
// written by another program, so every column's type and range is checked.
#pragma once

#include "storage/sqlite_handle.hpp"
#include "storage/types.hpp"

namespace ravel::storage::rows {

// Column lists the readers below expect, in order.
inline constexpr const char* kConversationColumns =
    "id, title, created_ms, updated_ms, settings_json, start_state IS NOT NULL, "
    "start_state_name";
inline constexpr const char* kMessageColumns =
    "id, conversation_id, parent_id, role, text, tokens, token_count, created_ms, updated_ms, "
    "settings_json, sibling_order";
inline constexpr const char* kSnapshotColumns =
    "message_id, bytes, model_fingerprint, created_ms, last_used_ms, pinned";
inline constexpr const char* kPresetColumns = "id, name, settings_json, updated_ms";

Result<Conversation> conversation(const sql::Statement& st);
Result<Message> message(const sql::Statement& st);
Result<SnapshotRef> snapshot_ref(const sql::Statement& st);
Result<Preset> preset(const sql::Statement& st);

bool valid_fingerprint_hex(std::string_view hex);

}  // namespace ravel::storage::rows
