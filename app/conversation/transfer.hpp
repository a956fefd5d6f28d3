// Import and export of one conversation: JSON (the whole tree, documented in
// docs/conversation-json.md; snapshots optional) and Markdown (the branch ending at a message,
// for reading and sharing; importing it gives a single branch).
//
// Imported files are input: sizes, ids, parent references, roles and token ids are checked
// before anything is written, and a failed import leaves no partial conversation behind.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ravel/result.hpp"
#include "storage/store.hpp"

namespace ravel::conversation {

inline constexpr int kConversationJsonVersion = 1;
inline constexpr std::size_t kMaxImportBytes = std::size_t{512} << 20;

struct ExportOptions {
    bool include_snapshots = false;  // base64 resume records (large)
    bool include_tokens = true;      // exact token ids, for exact replay after import
};

Result<std::string> export_json(storage::Store& store, std::int64_t conversation_id,
                                const ExportOptions& options = {});
// Returns the new conversation's id.
Result<std::int64_t> import_json(storage::Store& store, const std::string& text);

// The branch from the root to `leaf` (the newest message when absent).
Result<std::string> export_markdown(storage::Store& store, std::int64_t conversation_id,
                                    std::optional<std::int64_t> leaf = {});
Result<std::int64_t> import_markdown(storage::Store& store, const std::string& text);

std::string base64_encode(std::span<const std::byte> bytes);
std::optional<std::vector<std::byte>> base64_decode(std::string_view text);

}  // namespace ravel::conversation
