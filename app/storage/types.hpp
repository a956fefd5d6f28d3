// Value types the store hands out. They are plain copies of rows, safe to pass between threads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ravel::storage {

enum class Role { System, User, Assistant };
std::string_view role_name(Role role);
std::optional<Role> role_from_name(std::string_view name);

struct Conversation {
    std::int64_t id = 0;
    std::string title;
    std::int64_t created_ms = 0;
    std::int64_t updated_ms = 0;
    std::string settings_json = "{}";  // default generation settings (a JSON object)
    bool has_start_state = false;
    std::string start_state_name;
};

struct Message {
    std::int64_t id = 0;
    std::int64_t conversation_id = 0;
    std::optional<std::int64_t> parent_id;  // none for a root (usually the system prompt)
    Role role = Role::User;
    std::string text;
    // The exact token ids fed for this message (template included), so a replay reproduces
    // the state bit for bit; empty when unknown (imported), then the text is tokenized again.
    std::vector<std::int32_t> tokens;
    std::int64_t token_count = 0;
    std::int64_t created_ms = 0;
    std::int64_t updated_ms = 0;
    std::string settings_json = "{}";  // generation settings used for an assistant reply
    std::int64_t sibling_order = 0;    // position among the children of the same parent

    bool operator==(const Message&) const = default;
};

struct NewMessage {
    std::int64_t conversation_id = 0;
    std::optional<std::int64_t> parent_id;
    Role role = Role::User;
    std::string text;
    std::vector<std::int32_t> tokens;
    std::string settings_json = "{}";
    std::optional<std::int64_t> created_ms;  // now when absent (set by imports)
};

struct SnapshotRef {
    std::int64_t message_id = 0;
    std::int64_t bytes = 0;
    std::string model_fingerprint;  // 32 hex digits
    std::int64_t created_ms = 0;
    std::int64_t last_used_ms = 0;
    bool pinned = false;
};

struct Snapshot {
    SnapshotRef ref;
    std::vector<std::byte> blob;
};

struct Preset {
    std::int64_t id = 0;
    std::string name;
    std::string settings_json;
    std::int64_t updated_ms = 0;
};

}  // namespace ravel::storage
