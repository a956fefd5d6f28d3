#include "tokenizer/world_vocab.hpp"

#include <charconv>

#include "tokenizer/utf8.hpp"

namespace ravel::tok {

namespace {

// Far above any real vocabulary; stops a hostile file from making us allocate gigabytes.
constexpr long kMaxWorldId = 1 << 20;

bool parse_hex(std::string_view digits, std::uint32_t& value) {
    value = 0;
    for (char c : digits) {
        int d;
        if (c >= '0' && c <= '9') {
            d = c - '0';
        } else if (c >= 'a' && c <= 'f') {
            d = c - 'a' + 10;
        } else if (c >= 'A' && c <= 'F') {
            d = c - 'A' + 10;
        } else {
            return false;
        }
        value = value * 16 + static_cast<std::uint32_t>(d);
    }
    return true;
}

bool parse_decimal(std::string_view s, long& value) {
    if (s.empty()) return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
    return ec == std::errc() && ptr == s.data() + s.size();
}

}  // namespace

Result<std::string> decode_python_literal(std::string_view lit) {
    bool is_bytes = false;
    if (!lit.empty() && (lit[0] == 'b' || lit[0] == 'B')) {
        is_bytes = true;
        lit.remove_prefix(1);
    }
    if (lit.size() < 2 || (lit.front() != '\'' && lit.front() != '"') ||
        lit.back() != lit.front()) {
        return make_error("not a quoted Python literal");
    }
    const char quote = lit.front();
    const std::string_view body = lit.substr(1, lit.size() - 2);

    std::string out;
    out.reserve(body.size());
    for (std::size_t i = 0; i < body.size();) {
        const char c = body[i];
        if (c == quote) return make_error("unescaped quote inside the literal");
        if (c != '\\') {
            if (is_bytes && static_cast<unsigned char>(c) >= 0x80) {
                return make_error("non-ASCII character inside a bytes literal");
            }
            out.push_back(c);
            ++i;
            continue;
        }
        if (i + 1 >= body.size()) return make_error("literal ends with a lone backslash");
        const char e = body[i + 1];
        i += 2;
        switch (e) {
            case 'n':
                out.push_back('\n');
                break;
            case 't':
                out.push_back('\t');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case '\\':
                out.push_back('\\');
                break;
            case '\'':
                out.push_back('\'');
                break;
            case '"':
                out.push_back('"');
                break;
            case 'a':
                out.push_back('\a');
                break;
            case 'b':
                out.push_back('\b');
                break;
            case 'f':
                out.push_back('\f');
                break;
            case 'v':
                out.push_back('\v');
                break;
            case '0':
                out.push_back('\0');
                break;
            case 'x':
            case 'u':
            case 'U': {
                const std::size_t n = e == 'x' ? 2 : e == 'u' ? 4 : 8;
                if (e != 'x' && is_bytes) {
                    return make_error(std::string("\\") + e +
                                      " is not an escape in a bytes literal");
                }
                std::uint32_t v = 0;
                if (i + n > body.size() || !parse_hex(body.substr(i, n), v)) {
                    return make_error(std::string("bad \\") + e + " escape");
                }
                i += n;
                if (is_bytes) {
                    out.push_back(static_cast<char>(v));  // \xHH in bytes is one raw byte
                } else {
                    // In a str, \xHH is the code point U+00HH, so it takes two bytes from 0x80.
                    if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
                        return make_error("escape is not a Unicode scalar value");
                    }
                    append_utf8(out, static_cast<char32_t>(v));
                }
                break;
            }
            default:
                return make_error(std::string("unsupported escape \\") + e);
        }
    }
    return out;
}

Result<std::vector<std::string>> parse_world_vocab(std::string_view text,
                                                   std::string_view source_name) {
    std::vector<std::string> tokens;
    std::vector<bool> seen;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    const std::string src(source_name);
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        ++line_no;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) continue;

        const auto where = [&] { return src + ":" + std::to_string(line_no) + ": "; };
        const std::size_t first = line.find(' ');
        const std::size_t last = line.rfind(' ');
        if (first == std::string_view::npos || last <= first + 1) {
            return make_error(where() + "expected '<id> <literal> <byte length>'");
        }
        long id = 0;
        long length = 0;
        if (!parse_decimal(line.substr(0, first), id) || id < 0 || id > kMaxWorldId) {
            return make_error(where() + "bad token id '" + std::string(line.substr(0, first)) +
                              "'");
        }
        if (!parse_decimal(line.substr(last + 1), length) || length < 0) {
            return make_error(where() + "bad byte length '" + std::string(line.substr(last + 1)) +
                              "'");
        }
        auto bytes = decode_python_literal(line.substr(first + 1, last - first - 1));
        if (!bytes) return make_error(where() + bytes.message());
        if (static_cast<long>(bytes->size()) != length) {
            return make_error(where() + "literal decodes to " + std::to_string(bytes->size()) +
                              " bytes but the line says " + std::to_string(length));
        }
        if (bytes->empty()) return make_error(where() + "empty token");
        const auto index = static_cast<std::size_t>(id);
        if (index >= tokens.size()) {
            tokens.resize(index + 1);
            seen.resize(index + 1, false);
        }
        if (seen[index])
            return make_error(where() + "token id " + std::to_string(id) + " repeated");
        seen[index] = true;
        tokens[index] = std::move(*bytes);
    }
    if (tokens.empty()) return make_error(src + ": no tokens in the vocabulary file");
    return tokens;
}

}  // namespace ravel::tok
