// The text stages of the GPT-NeoX tokenizer before BPE: NFC normalisation and GPT-2's word
// split, which Hugging Face's ByteLevel pre-tokenizer does with the regex
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// Here the regex is evaluated by hand over code points (no regex engine): same pieces, one pass.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ravel::tok {

// NFC (canonical composition) of valid UTF-8, via utf8proc. Text that is already in NFC by
// the quick-check rule (ASCII, most CJK, emoji, precomposed Latin) is returned as is without
// calling utf8proc.
std::string nfc_normalize(std::string_view valid_utf8);

// Appends the pieces of `valid_utf8` (views into it) to `words`; their concatenation is the input.
void split_gpt2_words(std::string_view valid_utf8, std::vector<std::string_view>& words);

}  // namespace ravel::tok
