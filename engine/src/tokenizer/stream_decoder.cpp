// Incremental detokenization: emit complete UTF-8 characters only, hold back a character's
// leading bytes until the token carrying its tail arrives.
#include "ravel/tokenizer.hpp"
#include "tokenizer/utf8.hpp"

namespace ravel {

std::string StreamDecoder::push(std::int32_t id) {
    return push_bytes(tokenizer_->token_bytes(id));
}

std::string StreamDecoder::push_bytes(std::string_view bytes) {
    // The common case, nothing held back and plain ASCII, needs no scan.
    if (pending_.empty() && tok::is_ascii(bytes)) return std::string(bytes);
    pending_.append(bytes);
    std::string out;
    std::size_t pos = 0;
    while (pos < pending_.size()) {
        const tok::Utf8Step step = tok::utf8_step(pending_, pos);
        if (step.status == tok::Utf8Status::Incomplete) break;  // wait for more bytes
        if (step.status == tok::Utf8Status::Complete) {
            out.append(pending_, pos, step.length);
        } else {
            out.append(tok::kReplacementUtf8);
        }
        pos += step.length;
    }
    pending_.erase(0, pos);
    return out;
}

std::string StreamDecoder::flush() {
    std::string out = pending_.empty() ? std::string() : std::string(tok::kReplacementUtf8);
    pending_.clear();
    return out;
}

}  // namespace ravel
