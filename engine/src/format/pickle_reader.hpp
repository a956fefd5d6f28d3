// A restricted unpickler for the data.pkl inside a PyTorch checkpoint. Like PyTorch's
// weights_only mode it understands only what a state dict of tensors needs: a handful of
// opcodes and an allow-list of globals. Nothing named in the pickle is ever imported or run;
// allowed calls are interpreted into plain data (a dict, a tensor description, a storage id).
// Objects live in one arena addressed by index, so hostile nesting or reference cycles cannot
// cause deep recursion or leaks, and fixed limits bound the memory a small pickle can claim.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ravel/result.hpp"

namespace ravel::format {

enum class PyKind : std::uint8_t {
    None,
    Bool,
    Int,
    Float,
    String,
    Tuple,
    List,
    Dict,
    Global,   // an allowed global, by its dotted name, e.g. "torch.HalfStorage"
    Storage,  // the result of BINPERSID: `items` holds the persistent id tuple's elements
    Tensor,   // the result of _rebuild_tensor_v2: `items` holds its arguments
};

std::string_view py_kind_name(PyKind kind);

using PyRef = std::uint32_t;

struct PyObject {
    PyKind kind = PyKind::None;
    std::int64_t integer = 0;  // Int and Bool
    double real = 0;           // Float
    std::string text;          // String, or a Global's dotted name
    std::vector<PyRef> items;  // Tuple/List elements; Dict keys and values interleaved
};

struct PickleLimits {
    std::size_t max_objects = std::size_t{1} << 20;
    std::size_t max_stack = std::size_t{1} << 14;  // torch batches 1000 items
    std::size_t max_marks = 256;                   // a state dict nests three deep
    std::size_t max_memo = std::size_t{1} << 20;
    // References held by all tuples, lists, dicts, storages and tensors together. Objects are
    // few, but a persistent id or a REDUCE copies its argument tuple, so without this a 400 KB
    // pickle repeating one large memoised tuple claimed 6 GB. A state dict needs about ten per
    // tensor.
    std::size_t max_items = std::size_t{1} << 22;
    std::size_t max_global_name = 256;
};

class PickleGraph {
  public:
    PyRef root() const { return root_; }
    const PyObject& at(PyRef ref) const { return objects_[ref]; }
    std::size_t size() const { return objects_.size(); }

  private:
    friend class Unpickler;
    std::deque<PyObject> objects_;  // a deque: growth never needs one large block
    PyRef root_ = 0;
};

// Interprets `bytes` (protocol 2..5). Errors name the offending opcode or global and its offset.
Result<PickleGraph> unpickle(std::span<const std::byte> bytes, const PickleLimits& limits = {});

}  // namespace ravel::format
