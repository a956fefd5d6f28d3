// `ravel-cli chat --db FILE`: conversations kept in the database and resumed from snapshots
// (DESIGN.md sections 5 and 7). cmd_chat.cpp hands over here when --db is given; the work is
// done by ravel_conversation's ConversationRunner.
#pragma once

#include <iosfwd>

#include "args.hpp"

namespace ravel::cli {

// Option names chat accepts only together with --db.
inline constexpr const char* kChatDbValued[] = {"db",  "conversation", "export", "import",
                                                "out", "format",       "leaf"};
inline constexpr const char* kChatDbFlags[] = {"new", "list", "snapshots"};

int chat_with_db(const Args& args, std::istream& in, std::ostream& out, std::ostream& err);

}  // namespace ravel::cli
