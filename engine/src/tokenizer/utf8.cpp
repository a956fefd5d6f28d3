#include "tokenizer/utf8.hpp"

#include "ravel/tokenizer.hpp"

#include <cstring>

namespace ravel::tok {

namespace {

inline unsigned char byte_at(std::string_view s, std::size_t i) {
    return static_cast<unsigned char>(s[i]);
}

}  // namespace

Utf8Step utf8_step(std::string_view s, std::size_t pos) {
    const unsigned char b0 = byte_at(s, pos);
    if (b0 < 0x80) return {Utf8Status::Complete, 1, b0};

    std::size_t need = 0;
    char32_t cp = 0;
    // The second byte's allowed range depends on the lead byte; this is what rules out
    // overlong forms, surrogates and code points above U+10FFFF.
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b0 >= 0xC2 && b0 <= 0xDF) {
        need = 1;
        cp = b0 & 0x1F;
    } else if (b0 >= 0xE0 && b0 <= 0xEF) {
        need = 2;
        cp = b0 & 0x0F;
        if (b0 == 0xE0) lo = 0xA0;
        if (b0 == 0xED) hi = 0x9F;
    } else if (b0 >= 0xF0 && b0 <= 0xF4) {
        need = 3;
        cp = b0 & 0x07;
        if (b0 == 0xF0) lo = 0x90;
        if (b0 == 0xF4) hi = 0x8F;
    } else {
        return {Utf8Status::Invalid, 1, 0};
    }

    std::size_t i = 1;
    for (; i <= need; ++i) {
        if (pos + i >= s.size()) return {Utf8Status::Incomplete, i, 0};
        const unsigned char b = byte_at(s, pos + i);
        const unsigned char min = i == 1 ? lo : 0x80;
        const unsigned char max = i == 1 ? hi : 0xBF;
        if (b < min || b > max) return {Utf8Status::Invalid, i, 0};
        cp = (cp << 6) | (b & 0x3F);
    }
    return {Utf8Status::Complete, need + 1, cp};
}

void append_utf8(std::string& out, char32_t cp) {
    if (cp < 0x80) {
        out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
        out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
        out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
        out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
        out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
}

bool is_ascii(std::string_view s) {
    // Eight bytes at a time: this runs over every input the NeoX tokenizer sees.
    std::size_t i = 0;
    for (; i + 8 <= s.size(); i += 8) {
        std::uint64_t w;
        std::memcpy(&w, s.data() + i, 8);
        if (w & 0x8080808080808080ULL) return false;
    }
    for (; i < s.size(); ++i) {
        if (byte_at(s, i) >= 0x80) return false;
    }
    return true;
}

std::optional<std::size_t> first_invalid_utf8(std::string_view s) {
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (byte_at(s, pos) < 0x80) {
            ++pos;
            continue;
        }
        const Utf8Step step = utf8_step(s, pos);
        if (step.status != Utf8Status::Complete) return pos;
        pos += step.length;
    }
    return std::nullopt;
}

bool is_valid_utf8(std::string_view s) {
    return !first_invalid_utf8(s);
}

std::string sanitize_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (byte_at(s, pos) < 0x80) {
            out.push_back(s[pos++]);
            continue;
        }
        const Utf8Step step = utf8_step(s, pos);
        if (step.status == Utf8Status::Complete) {
            out.append(s.substr(pos, step.length));
        } else {
            out.append(kReplacementUtf8);
        }
        pos += step.length;
    }
    return out;
}

}  // namespace ravel::tok

namespace ravel {
std::optional<std::size_t> first_invalid_utf8(std::string_view text) {
    return tok::first_invalid_utf8(text);
}
}  // namespace ravel
