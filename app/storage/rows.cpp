#include "storage/rows.hpp"

#include <cstring>
#include <string>

namespace ravel::storage::rows {

namespace {

using sql::ColumnType;

// Largest token id accepted from the database; larger than any RWKV vocabulary.
constexpr std::int32_t kMaxTokenId = 1 << 24;

Error bad(const char* table, std::int64_t id, const std::string& what) {
    return make_error("database row " + std::string(table) + " " + std::to_string(id) +
                      " is invalid: " + what);
}

bool is(const sql::Statement& st, int col, ColumnType t) {
    return st.type(col) == t;
}

}  // namespace

bool valid_fingerprint_hex(std::string_view hex) {
    if (hex.size() != 32) return false;
    for (char c : hex) {
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
    }
    return true;
}

Result<Conversation> conversation(const sql::Statement& st) {
    const std::int64_t id = is(st, 0, ColumnType::Integer) ? st.integer(0) : -1;
    if (id <= 0) return bad("conversations", id, "id");
    if (!is(st, 1, ColumnType::Text) && !is(st, 1, ColumnType::Null)) {
        return bad("conversations", id, "title is not text");
    }
    if (!is(st, 2, ColumnType::Integer) || !is(st, 3, ColumnType::Integer)) {
        return bad("conversations", id, "timestamps are not integers");
    }
    if (!is(st, 4, ColumnType::Text)) return bad("conversations", id, "settings are not text");
    Conversation c;
    c.id = id;
    c.title = st.text(1);
    c.created_ms = st.integer(2);
    c.updated_ms = st.integer(3);
    c.settings_json = st.text(4);
    c.has_start_state = st.integer(5) != 0;
    c.start_state_name = is(st, 6, ColumnType::Text) ? st.text(6) : std::string();
    return c;
}

Result<Message> message(const sql::Statement& st) {
    const std::int64_t id = is(st, 0, ColumnType::Integer) ? st.integer(0) : -1;
    if (id <= 0) return bad("messages", id, "id");
    Message m;
    m.id = id;
    if (!is(st, 1, ColumnType::Integer) || st.integer(1) <= 0) {
        return bad("messages", id, "conversation id");
    }
    m.conversation_id = st.integer(1);
    if (is(st, 2, ColumnType::Integer)) {
        if (st.integer(2) <= 0 || st.integer(2) == id) return bad("messages", id, "parent id");
        m.parent_id = st.integer(2);
    } else if (!is(st, 2, ColumnType::Null)) {
        return bad("messages", id, "parent id is not an integer");
    }
    auto role = is(st, 3, ColumnType::Text) ? role_from_name(st.text(3)) : std::nullopt;
    if (!role) return bad("messages", id, "role");
    m.role = *role;
    if (!is(st, 4, ColumnType::Text) && !is(st, 4, ColumnType::Null)) {
        return bad("messages", id, "text is not text");
    }
    m.text = st.text(4);
    if (is(st, 5, ColumnType::Blob)) {
        const auto blob = st.blob(5);
        if (blob.size() % 4 != 0) return bad("messages", id, "token list length");
        m.tokens.resize(blob.size() / 4);
        if (!blob.empty()) std::memcpy(m.tokens.data(), blob.data(), blob.size());
        for (std::int32_t t : m.tokens) {
            if (t < 0 || t >= kMaxTokenId) return bad("messages", id, "token id out of range");
        }
    } else if (!is(st, 5, ColumnType::Null)) {
        return bad("messages", id, "tokens are not a blob");
    }
    if (!is(st, 6, ColumnType::Integer) || st.integer(6) < 0) {
        return bad("messages", id, "token count");
    }
    m.token_count = st.integer(6);
    if (!m.tokens.empty() && m.token_count != static_cast<std::int64_t>(m.tokens.size())) {
        return bad("messages", id, "token count disagrees with the token list");
    }
    if (!is(st, 7, ColumnType::Integer) || !is(st, 8, ColumnType::Integer)) {
        return bad("messages", id, "timestamps are not integers");
    }
    m.created_ms = st.integer(7);
    m.updated_ms = st.integer(8);
    if (!is(st, 9, ColumnType::Text)) return bad("messages", id, "settings are not text");
    m.settings_json = st.text(9);
    if (!is(st, 10, ColumnType::Integer) || st.integer(10) < 0) {
        return bad("messages", id, "sibling order");
    }
    m.sibling_order = st.integer(10);
    return m;
}

Result<SnapshotRef> snapshot_ref(const sql::Statement& st) {
    const std::int64_t id = is(st, 0, ColumnType::Integer) ? st.integer(0) : -1;
    if (id <= 0) return bad("snapshots", id, "message id");
    SnapshotRef s;
    s.message_id = id;
    if (!is(st, 1, ColumnType::Integer) || st.integer(1) < 0) return bad("snapshots", id, "bytes");
    s.bytes = st.integer(1);
    if (!is(st, 2, ColumnType::Text) || !valid_fingerprint_hex(st.text(2))) {
        return bad("snapshots", id, "model fingerprint");
    }
    s.model_fingerprint = st.text(2);
    if (!is(st, 3, ColumnType::Integer) || !is(st, 4, ColumnType::Integer) ||
        !is(st, 5, ColumnType::Integer)) {
        return bad("snapshots", id, "timestamps or pin flag");
    }
    s.created_ms = st.integer(3);
    s.last_used_ms = st.integer(4);
    s.pinned = st.integer(5) != 0;
    return s;
}

Result<Preset> preset(const sql::Statement& st) {
    const std::int64_t id = is(st, 0, ColumnType::Integer) ? st.integer(0) : -1;
    if (id <= 0) return bad("presets", id, "id");
    if (!is(st, 1, ColumnType::Text) || !is(st, 2, ColumnType::Text) ||
        !is(st, 3, ColumnType::Integer)) {
        return bad("presets", id, "column types");
    }
    return Preset{id, st.text(1), st.text(2), st.integer(3)};
}

}  // namespace ravel::storage::rows
