// Parser for the RWKV World vocabulary file (rwkv_vocab_v20230424.txt). Each line is
// "<id> <python literal> <byte length>": the literal is a str (its UTF-8 encoding is the token)
// or a bytes literal b'...' (raw bytes). The file is split at the first and last space because
// literals contain spaces.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

namespace ravel::tok {

// Token bytes indexed by id; ids missing from the file (0 is <|endoftext|>) are empty.
// Every line's byte length is checked against the decoded literal.
Result<std::vector<std::string>> parse_world_vocab(std::string_view text,
                                                   std::string_view source_name);

// Decodes one Python str/bytes literal to bytes; exposed for tests of the escape rules.
Result<std::string> decode_python_literal(std::string_view literal);

}  // namespace ravel::tok
