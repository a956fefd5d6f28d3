// A read-only trie over byte strings answering "longest token that prefixes this input".
// Children of a node are stored contiguously and sorted; nodes with many children also get a
// 256-entry table so the wide upper levels cost one load per byte, while the long thin tails
// (most of the ~116k nodes of the World vocabulary) stay small.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace ravel::tok {

class ByteTrie {
  public:
    struct Match {
        std::int32_t id = -1;  // -1: no token prefixes the input
        std::size_t length = 0;
    };

    // tokens[id] = bytes of token `id`; empty strings are not tokens. When two ids share the
    // same bytes, the lower id wins.
    explicit ByteTrie(const std::vector<std::string>& tokens);
    ByteTrie() = default;

    Match longest_match(const unsigned char* p, const unsigned char* end) const {
        Match best;
        std::uint32_t node = 0;
        for (const unsigned char* q = p; q < end; ++q) {
            node = child(node, *q);
            if (node == kNone) break;
            if (nodes_[node].token >= 0) {
                best.id = nodes_[node].token;
                best.length = static_cast<std::size_t>(q - p) + 1;
            }
        }
        return best;
    }

    std::size_t node_count() const { return nodes_.size(); }

  private:
    static constexpr std::uint32_t kNone = 0;  // the root is never anyone's child
    static constexpr std::uint32_t kDenseThreshold = 8;

    struct Node {
        std::int32_t token = -1;
        std::uint32_t first_child = 0;  // index of the first child node
        std::uint32_t n_children = 0;
        std::int32_t dense = -1;  // index of this node's 256-entry table, or -1
    };

    std::uint32_t child(std::uint32_t node, unsigned char b) const {
        const Node& n = nodes_[node];
        if (n.dense >= 0) return dense_[static_cast<std::size_t>(n.dense) * 256 + b];
        const unsigned char* bytes = edge_byte_.data() + n.first_child;
        for (std::uint32_t i = 0; i < n.n_children; ++i) {
            if (bytes[i] == b) return n.first_child + i;
            if (bytes[i] > b) break;
        }
        return kNone;
    }

    std::vector<Node> nodes_;
    // edge_byte_[k] is the byte on the edge into node k; a node's children are consecutive nodes.
    std::vector<unsigned char> edge_byte_;
    std::vector<std::uint32_t> dense_;
};

}  // namespace ravel::tok
