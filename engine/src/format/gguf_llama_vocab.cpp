// llama.cpp's RWKV World vocabulary (tokenizer.ggml.model = "rwkv") rewritten as the text of
// rwkv_vocab_v20230424.txt, so a llama.cpp file carries its tokenizer the way Ravel's own files
// do (tokenizer.ravel.kind / tokenizer.ravel.vocab_file). llama.cpp stores each token as the
// inside of Python's repr() of its bytes (convert_hf_to_gguf.py, _set_vocab_rwkv_world): ASCII
// text with \xHH, \n, \r, \t, \\ and \' escapes.
#include <string>

#include "format/gguf_weights.hpp"
#include "format/le_bytes.hpp"

namespace ravel::format {

namespace {

constexpr std::uint32_t kNormalToken = 1;  // llama.cpp's TokenType.NORMAL

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

Result<std::string> unescape_repr(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size();) {
        if (s[i] != '\\') {
            out.push_back(s[i++]);
            continue;
        }
        if (i + 1 >= s.size()) return make_error("ends with a lone backslash");
        const char e = s[i + 1];
        i += 2;
        switch (e) {
            case 'n':
                out.push_back('\n');
                break;
            case 'r':
                out.push_back('\r');
                break;
            case 't':
                out.push_back('\t');
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
            case 'x': {
                const int hi = i < s.size() ? hex_value(s[i]) : -1;
                const int lo = i + 1 < s.size() ? hex_value(s[i + 1]) : -1;
                if (hi < 0 || lo < 0) return make_error("bad \\x escape");
                out.push_back(static_cast<char>(hi * 16 + lo));
                i += 2;
                break;
            }
            default:
                return make_error(std::string("unknown escape \\") + e);
        }
    }
    return out;
}

// The token as a bytes literal the World vocabulary parser reads: printable ASCII as is,
// everything else (and the quote and backslash) as \xHH.
void append_literal(std::string& line, std::string_view bytes) {
    static constexpr char hex[] = "0123456789abcdef";
    line += "b'";
    for (unsigned char c : bytes) {
        if (c >= 0x20 && c < 0x7f && c != '\\' && c != '\'') {
            line.push_back(static_cast<char>(c));
        } else {
            line += "\\x";
            line.push_back(hex[c >> 4]);
            line.push_back(hex[c & 15]);
        }
    }
    line += "'";
}

}  // namespace

Result<std::string> llama_rwkv_vocab_text(const GgufFile& g) {
    const GgufValue* tokens = g.find("tokenizer.ggml.tokens");
    if (tokens == nullptr || tokens->type != GgufValueType::Array ||
        tokens->elem_type != GgufValueType::String) {
        return make_error("tokenizer.ggml.tokens (an array of strings) is missing");
    }
    const GgufValue* types = g.find("tokenizer.ggml.token_type");
    if (types != nullptr &&
        (types->type != GgufValueType::Array || types->elem_type != GgufValueType::I32 ||
         types->count != tokens->count)) {
        return make_error("tokenizer.ggml.token_type must be an i32 array as long as the tokens");
    }
    std::string text;
    for (std::size_t id = 0; id < tokens->strings.size(); ++id) {
        // Id 0 is llama.cpp's "<s>" control token; World's id 0 (end of text) has no entry.
        const bool normal =
            types != nullptr ? load_u32(types->raw.data() + 4 * id) == kNormalToken : id != 0;
        if (!normal) continue;
        auto bytes = unescape_repr(tokens->strings[id]);
        if (!bytes) {
            return make_error("token " + std::to_string(id) +
                              " of tokenizer.ggml.tokens: " + bytes.message());
        }
        text += std::to_string(id);
        text += ' ';
        append_literal(text, *bytes);
        text += ' ';
        text += std::to_string(bytes->size());
        text += '\n';
    }
    return text;
}

}  // namespace ravel::format
