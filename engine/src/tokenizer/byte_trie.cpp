#include "tokenizer/byte_trie.hpp"

#include <algorithm>
#include <deque>
#include <numeric>
#include <string_view>

namespace ravel::tok {

ByteTrie::ByteTrie(const std::vector<std::string>& tokens) {
    // Sorting the ids by their bytes turns every node's subtree into a contiguous range, so the
    // trie can be laid out breadth-first with each node's children next to each other.
    std::vector<std::int32_t> order;
    order.reserve(tokens.size());
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (!tokens[i].empty()) order.push_back(static_cast<std::int32_t>(i));
    }
    std::stable_sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
        return tokens[static_cast<std::size_t>(a)] < tokens[static_cast<std::size_t>(b)];
    });

    struct Task {
        std::uint32_t node;
        std::size_t begin, end;  // range in `order` of tokens below this node
        std::size_t depth;
    };
    nodes_.emplace_back();    // root
    edge_byte_.push_back(0);  // slot for the root (never matched: the root has no parent edge)
    std::deque<Task> queue{{0, 0, order.size(), 0}};
    auto bytes_of = [&](std::size_t k) -> std::string_view {
        return tokens[static_cast<std::size_t>(order[k])];
    };

    while (!queue.empty()) {
        Task t = queue.front();
        queue.pop_front();
        std::size_t i = t.begin;
        // A token ending exactly here sorts first; duplicates of it follow and are skipped.
        while (i < t.end && bytes_of(i).size() == t.depth) {
            if (nodes_[t.node].token < 0) nodes_[t.node].token = order[i];
            ++i;
        }
        const auto first_child = static_cast<std::uint32_t>(nodes_.size());
        std::uint32_t n_children = 0;
        while (i < t.end) {
            const unsigned char b = static_cast<unsigned char>(bytes_of(i)[t.depth]);
            std::size_t j = i + 1;
            while (j < t.end && static_cast<unsigned char>(bytes_of(j)[t.depth]) == b) ++j;
            const auto child_index = static_cast<std::uint32_t>(nodes_.size());
            nodes_.emplace_back();
            edge_byte_.push_back(b);
            queue.push_back({child_index, i, j, t.depth + 1});
            ++n_children;
            i = j;
        }
        Node& n = nodes_[t.node];
        n.first_child = first_child;
        n.n_children = n_children;
        if (n_children > kDenseThreshold) {
            n.dense = static_cast<std::int32_t>(dense_.size() / 256);
            dense_.resize(dense_.size() + 256, kNone);
            for (std::uint32_t c = 0; c < n_children; ++c) {
                const std::uint32_t node = first_child + c;
                dense_[static_cast<std::size_t>(n.dense) * 256 + edge_byte_[node]] = node;
            }
        }
    }
}

}  // namespace ravel::tok
