// Starting states from RWKV state tuning: a BlinkDL .pth (or .safetensors) holding
// blocks.N.att.time_state of shape (heads, head size, head size) for every layer.
//
// As ChatRWKV loads them, each time_state is transposed in its last two axes into the state's
// att_kv matrix, and the token-shift vectors start at zero. RWKV-4 has no such files.
#pragma once

#include <filesystem>
#include <string>

#include "conversation/model_context.hpp"
#include "ravel/state.hpp"
#include "storage/store.hpp"

namespace ravel::conversation {

// Reads and checks the file against the model's shapes (every layer present, no extra layers,
// each tensor exactly (heads, size, size)).
Result<State> load_state_file(const std::filesystem::path& path, const ModelConfig& config);

// Stores the file's state as the conversation's starting state (user data, kept with the
// conversation; replays start from it).
Result<void> set_start_state_from_file(storage::Store& store, std::int64_t conversation_id,
                                       const ModelContext& context,
                                       const std::filesystem::path& path);

}  // namespace ravel::conversation
