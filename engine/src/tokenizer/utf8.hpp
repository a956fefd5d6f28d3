// UTF-8 decoding with the strict rules of the Unicode standard (no overlongs, no surrogates,
// nothing above U+10FFFF). Shared by the NeoX pre-tokenizer and the streaming detokenizer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ravel::tok {

enum class Utf8Status { Complete, Incomplete, Invalid };

struct Utf8Step {
    Utf8Status status;
    // Complete: bytes of the character. Incomplete: bytes present (a valid prefix that the end
    // of input cut short). Invalid: length of the maximal invalid subpart, always >= 1, which
    // becomes one U+FFFD (the "maximal subpart" practice of Unicode chapter 3).
    std::size_t length;
    char32_t code_point;  // valid when Complete
};

// Decodes the character starting at s[pos] (pos < s.size()).
Utf8Step utf8_step(std::string_view s, std::size_t pos);

inline constexpr std::string_view kReplacementUtf8 = "\xEF\xBF\xBD";

void append_utf8(std::string& out, char32_t cp);

// Copies `s`, replacing every invalid or truncated sequence with U+FFFD.
std::string sanitize_utf8(std::string_view s);

// Offset of the first byte that starts no well-formed character (nullopt when there is none).
std::optional<std::size_t> first_invalid_utf8(std::string_view s);

// True when `s` is entirely well-formed UTF-8.
bool is_valid_utf8(std::string_view s);

// True when every byte is < 0x80.
bool is_ascii(std::string_view s);

}  // namespace ravel::tok
