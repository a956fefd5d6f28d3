// NFC with a fast path. Running utf8proc over every input is the slowest step of NeoX encoding,
// yet almost all text is already normalised. Unicode's quick check says a string is in NFC
// when every character is a starter (combining class 0) that is stable under NFC on its own and
// can never be the second half of a composition; such "inert" characters are tabulated once.
#include <utf8proc.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "tokenizer/pretokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace ravel::tok {

namespace {

// Code points from here on (rare planes) are simply always normalised.
constexpr char32_t kTableLimit = 0x30000;

bool utf8proc_nfc(std::string_view s, std::string& out) {
    utf8proc_uint8_t* buf = nullptr;
    const utf8proc_ssize_t n =
        utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                     static_cast<utf8proc_ssize_t>(s.size()), &buf,
                     static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) {
        std::free(buf);
        return false;
    }
    out.assign(reinterpret_cast<const char*>(buf), static_cast<std::size_t>(n));
    std::free(buf);
    return true;
}

class InertTable {
  public:
    InertTable() : inert_(kTableLimit, true) {
        std::string one, normalised;
        for (char32_t cp = 0; cp < kTableLimit; ++cp) {
            if (cp >= 0xD800 && cp <= 0xDFFF) {
                inert_[cp] = false;
                continue;
            }
            const auto ucp = static_cast<utf8proc_int32_t>(cp);
            if (utf8proc_get_property(ucp)->combining_class != 0) {
                inert_[cp] = false;
                continue;
            }
            utf8proc_int32_t d[8];
            int boundclass = 0;
            const utf8proc_ssize_t n = utf8proc_decompose_char(
                ucp, d, 8, static_cast<utf8proc_option_t>(UTF8PROC_DECOMPOSE), &boundclass);
            if (n < 1 || n > 8) {
                inert_[cp] = false;
                continue;
            }
            if (n == 1 && d[0] == ucp) continue;  // no canonical decomposition
            // Decomposable: stable only if NFC composes it back (not a singleton, not excluded).
            one.clear();
            append_utf8(one, cp);
            if (!utf8proc_nfc(one, normalised) || normalised != one) {
                inert_[cp] = false;
                continue;
            }
            // The later parts of a primary composite's decomposition can combine with what
            // precedes them (this also covers Hangul vowel and trailing jamo).
            for (utf8proc_ssize_t k = 1; k < n; ++k) {
                if (static_cast<char32_t>(d[k]) < kTableLimit)
                    inert_[static_cast<char32_t>(d[k])] = false;
            }
        }
    }

    bool inert(char32_t cp) const { return cp < kTableLimit && inert_[cp]; }

  private:
    std::vector<bool> inert_;
};

const InertTable& inert_table() {
    static const InertTable table;  // built once, thread-safe initialisation
    return table;
}

bool quick_check_nfc(std::string_view s) {
    const InertTable& table = inert_table();
    std::size_t pos = 0;
    while (pos < s.size()) {
        if (static_cast<unsigned char>(s[pos]) < 0x80) {
            ++pos;
            continue;
        }
        const Utf8Step step = utf8_step(s, pos);
        if (step.status != Utf8Status::Complete || !table.inert(step.code_point)) return false;
        pos += step.length;
    }
    return true;
}

}  // namespace

std::string nfc_normalize(std::string_view s) {
    if (is_ascii(s) || quick_check_nfc(s)) return std::string(s);
    // utf8proc before 2.11 composes a two-jamo Hangul syllable with a following U+11A7 and so
    // deletes it (U+11A7 is no trailing consonant; those start at U+11A8). U+11A7 is a starter
    // that composes with nothing, so the text is normalised in pieces that each start at one:
    // exact, and the same as Unicode's NFC.
    constexpr std::string_view kU11A7 = "\xE1\x86\xA7";
    std::string out, piece;
    for (std::size_t start = 0; start < s.size();) {
        std::size_t end = s.find(kU11A7, start + 1);
        if (end == std::string_view::npos) end = s.size();
        const std::string_view part = s.substr(start, end - start);
        // Only reachable for invalid UTF-8 or out of memory; leave the text as it is.
        if (!utf8proc_nfc(part, piece)) return std::string(s);
        out += piece;
        start = end;
    }
    return out;
}

}  // namespace ravel::tok
