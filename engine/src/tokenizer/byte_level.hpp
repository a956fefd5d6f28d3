// GPT-2's byte-level alphabet: every byte gets a printable code point so that BPE vocabularies
// can be stored as text. Printable Latin-1 bytes map to themselves; the other 68 bytes map to
// U+0100 and up, in byte order (so space is 'Ġ' U+0120 and '\n' is 'Ċ' U+010A).
#pragma once

#include <array>
#include <cstdint>

namespace ravel::tok {

struct ByteLevelAlphabet {
    std::array<char32_t, 256> byte_to_cp{};
    // Indexed by code point (< 512); -1 where the code point is not part of the alphabet.
    std::array<std::int16_t, 512> cp_to_byte{};

    ByteLevelAlphabet() {
        cp_to_byte.fill(-1);
        char32_t next = 256;
        for (int b = 0; b < 256; ++b) {
            const bool printable =
                (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
            const char32_t cp = printable ? static_cast<char32_t>(b) : next++;
            byte_to_cp[static_cast<std::size_t>(b)] = cp;
            cp_to_byte[cp] = static_cast<std::int16_t>(b);
        }
    }

    int byte_for(char32_t cp) const { return cp < 512 ? cp_to_byte[cp] : -1; }
};

}  // namespace ravel::tok
