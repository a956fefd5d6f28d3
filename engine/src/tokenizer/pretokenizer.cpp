#include "tokenizer/pretokenizer.hpp"

#include <utf8proc.h>

#include <cstdint>

#include "tokenizer/utf8.hpp"

namespace ravel::tok {

namespace {

enum class CharClass : std::uint8_t { Letter, Number, Space, Other };

// \s in the regex engine Hugging Face uses (Oniguruma, Unicode mode) is the White_Space
// property, which is not a general category, so it is listed here.
bool is_white_space(char32_t cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
           cp == 0x205F || cp == 0x3000;
}

CharClass classify(char32_t cp) {
    if (cp < 0x80) {
        if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z')) return CharClass::Letter;
        if (cp >= '0' && cp <= '9') return CharClass::Number;
        if (is_white_space(cp)) return CharClass::Space;
        return CharClass::Other;
    }
    if (is_white_space(cp)) return CharClass::Space;
    switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
        case UTF8PROC_CATEGORY_LU:
        case UTF8PROC_CATEGORY_LL:
        case UTF8PROC_CATEGORY_LT:
        case UTF8PROC_CATEGORY_LM:
        case UTF8PROC_CATEGORY_LO:
            return CharClass::Letter;
        case UTF8PROC_CATEGORY_ND:
        case UTF8PROC_CATEGORY_NL:
        case UTF8PROC_CATEGORY_NO:
            return CharClass::Number;
        default:
            return CharClass::Other;
    }
}

struct Chars {
    std::vector<char32_t> cp;
    std::vector<CharClass> cls;
    std::vector<std::uint32_t> offset;  // byte offset of each code point; one extra at the end
};

void decode_chars(std::string_view s, Chars& c) {
    c.cp.clear();
    c.cls.clear();
    c.offset.clear();
    std::size_t pos = 0;
    while (pos < s.size()) {
        const Utf8Step step = utf8_step(s, pos);
        // Input is valid UTF-8 (the caller sanitises); treat anything else as one odd char.
        const char32_t cp = step.status == Utf8Status::Complete ? step.code_point : 0xFFFD;
        c.cp.push_back(cp);
        c.cls.push_back(classify(cp));
        c.offset.push_back(static_cast<std::uint32_t>(pos));
        pos += step.length;
    }
    c.offset.push_back(static_cast<std::uint32_t>(s.size()));
}

// Length in code points of the contraction ('s 't 'm 'd 're 've 'll) starting at i, or 0.
std::size_t contraction_at(const std::vector<char32_t>& cp, std::size_t i) {
    const std::size_t n = cp.size();
    if (cp[i] != U'\'' || i + 1 >= n) return 0;
    const char32_t a = cp[i + 1];
    if (a == U's' || a == U't' || a == U'm' || a == U'd') return 2;
    if (i + 2 < n) {
        const char32_t b = cp[i + 2];
        if ((a == U'r' && b == U'e') || (a == U'v' && b == U'e') || (a == U'l' && b == U'l')) {
            return 3;
        }
    }
    return 0;
}

std::size_t run_end(const std::vector<CharClass>& cls, std::size_t i, CharClass c) {
    while (i < cls.size() && cls[i] == c) ++i;
    return i;
}

}  // namespace

void split_gpt2_words(std::string_view s, std::vector<std::string_view>& words) {
    thread_local Chars c;
    decode_chars(s, c);
    const std::size_t n = c.cp.size();
    auto emit = [&](std::size_t from, std::size_t to) {
        words.push_back(s.substr(c.offset[from], c.offset[to] - c.offset[from]));
    };

    std::size_t i = 0;
    while (i < n) {
        // The alternatives in the regex's order; the first that matches at i wins.
        if (const std::size_t k = contraction_at(c.cp, i)) {
            emit(i, i + k);
            i += k;
            continue;
        }
        // " ?\p{L}+", " ?\p{N}+", " ?[^\s\p{L}\p{N}]+": an optional plain space, then a run.
        if (c.cp[i] == U' ' && i + 1 < n && c.cls[i + 1] != CharClass::Space) {
            const std::size_t end = run_end(c.cls, i + 1, c.cls[i + 1]);
            emit(i, end);
            i = end;
            continue;
        }
        if (c.cls[i] != CharClass::Space) {
            const std::size_t end = run_end(c.cls, i, c.cls[i]);
            emit(i, end);
            i = end;
            continue;
        }
        // "\s+(?!\S)": whitespace not followed by a non-space, i.e. the whole run at the end of
        // the text, else the run minus its last character (which then leads the next word, or
        // stands alone through "\s+" when the run was one character long).
        const std::size_t end = run_end(c.cls, i, CharClass::Space);
        if (end == n || end - i == 1) {
            emit(i, end);
            i = end;
        } else {
            emit(i, end - 1);
            i = end - 1;
        }
    }
}

}  // namespace ravel::tok
