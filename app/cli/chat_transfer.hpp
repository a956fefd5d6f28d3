// `ravel-cli chat --db FILE --export ID` and `--import FILE`: a conversation leaves or enters a
// database as JSON (the whole tree, docs/conversation-json.md) or Markdown (one branch). No
// model is loaded; an imported conversation resumes from its snapshots when they fit the model
// it is continued with, and is rebuilt from its transcript otherwise.
#pragma once

#include <iosfwd>

#include "args.hpp"
#include "storage/store.hpp"

namespace ravel::cli {

// --export ID [--out FILE] [--format json|markdown] [--snapshots] [--leaf MESSAGE]. Without
// --out the text goes to `out`; without --format the file's extension decides (.md: Markdown).
int export_conversation(storage::Store& store, const Args& args, std::ostream& out,
                        std::ostream& err);

// --import FILE [--format json|markdown]; prints the new conversation's id (with --json as
// {"conversation": ID}).
int import_conversation(storage::Store& store, const Args& args, std::ostream& out,
                        std::ostream& err);

}  // namespace ravel::cli
