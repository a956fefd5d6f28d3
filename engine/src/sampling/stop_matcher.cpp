#include <algorithm>

#include "ravel/generator.hpp"

namespace ravel {

StopMatcher::StopMatcher(std::vector<std::string> stops) : stops_(std::move(stops)) {
    std::erase_if(stops_, [](const std::string& s) { return s.empty(); });
}

std::string_view StopMatcher::matched() const {
    return matched_ < 0 ? std::string_view{} : stops_[static_cast<std::size_t>(matched_)];
}

std::string StopMatcher::push(std::string_view text) {
    if (stopped()) return {};
    held_ += text;
    // The sequence completed first wins, as if the text came one byte at a time: otherwise
    // the winner would depend on how the text happened to be split into tokens ("abcd" in one
    // piece would stop at "abcd", "abc" then "d" at "bc"). Of two completed at the same byte,
    // the one starting earlier (the longer); listed first wins what is left.
    std::size_t best_pos = std::string::npos;
    std::size_t best_end = std::string::npos;
    for (std::size_t i = 0; i < stops_.size(); ++i) {
        const std::size_t pos = held_.find(stops_[i]);
        if (pos == std::string::npos) continue;
        const std::size_t end = pos + stops_[i].size();
        if (end < best_end || (end == best_end && pos < best_pos)) {
            best_pos = pos;
            best_end = end;
            matched_ = static_cast<int>(i);
        }
    }
    if (stopped()) {
        std::string out = held_.substr(0, best_pos);
        held_.clear();
        return out;
    }
    // Keep the longest tail that is a proper prefix of some stop sequence.
    std::size_t keep = 0;
    for (const auto& s : stops_) {
        const std::size_t max_len = std::min(s.size() - 1, held_.size());
        for (std::size_t len = max_len; len > keep; --len) {
            if (held_.compare(held_.size() - len, len, s, 0, len) == 0) {
                keep = len;
                break;
            }
        }
    }
    std::string out = held_.substr(0, held_.size() - keep);
    held_.erase(0, held_.size() - keep);
    return out;
}

std::string StopMatcher::flush() {
    std::string out;
    out.swap(held_);
    return stopped() ? std::string{} : out;
}

}  // namespace ravel
