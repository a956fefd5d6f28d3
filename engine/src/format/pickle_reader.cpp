#include "format/pickle_reader.hpp"

#include <array>
#include <bit>
#include <cstdio>
#include <unordered_map>
#include <utility>

#include "format/le_bytes.hpp"

namespace ravel::format {

std::string_view py_kind_name(PyKind kind) {
    switch (kind) {
        case PyKind::None:
            return "None";
        case PyKind::Bool:
            return "bool";
        case PyKind::Int:
            return "int";
        case PyKind::Float:
            return "float";
        case PyKind::String:
            return "str";
        case PyKind::Tuple:
            return "tuple";
        case PyKind::List:
            return "list";
        case PyKind::Dict:
            return "dict";
        case PyKind::Global:
            return "global";
        case PyKind::Storage:
            return "storage";
        case PyKind::Tensor:
            return "tensor";
    }
    return "?";
}

namespace {

// The globals a state dict of f32/f16/bf16 tensors may name. Everything else is refused at the
// GLOBAL opcode, before it could be used for anything.
constexpr std::array<std::string_view, 10> kAllowedGlobals = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_parameter",
    "torch.FloatStorage",
    "torch.HalfStorage",
    "torch.BFloat16Storage",
    "torch.float32",
    "torch.float16",
    "torch.bfloat16",
    "torch.Size",
};

bool allowed_global(std::string_view name) {
    for (auto g : kAllowedGlobals) {
        if (g == name) return true;
    }
    return false;
}

enum Op : std::uint8_t {
    kMark = '(',
    kStop = '.',
    kBinFloat = 'G',
    kBinInt = 'J',
    kBinInt1 = 'K',
    kBinInt2 = 'M',
    kNone = 'N',
    kBinPersId = 'Q',
    kReduce = 'R',
    kBinUnicode = 'X',
    kEmptyList = ']',
    kAppend = 'a',
    kBuild = 'b',
    kGlobal = 'c',
    kAppends = 'e',
    kBinGet = 'h',
    kLongBinGet = 'j',
    kBinPut = 'q',
    kLongBinPut = 'r',
    kSetItem = 's',
    kTuple = 't',
    kSetItems = 'u',
    kEmptyDict = '}',
    kEmptyTuple = ')',
    kProto = 0x80,
    kTuple1 = 0x85,
    kTuple2 = 0x86,
    kTuple3 = 0x87,
    kNewTrue = 0x88,
    kNewFalse = 0x89,
    kLong1 = 0x8a,
    kShortBinUnicode = 0x8c,
    kBinUnicode8 = 0x8d,
    kStackGlobal = 0x93,
    kMemoize = 0x94,
    kFrame = 0x95,
};

PyObject of(PyKind kind) {
    PyObject o;
    o.kind = kind;
    return o;
}

std::string hex_byte(unsigned v) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02x", v & 0xffu);
    return buf;
}

}  // namespace

class Unpickler {
  public:
    Unpickler(std::span<const std::byte> bytes, const PickleLimits& limits)
        : in_(bytes), limits_(limits) {}

    Result<PickleGraph> run() {
        while (true) {
            if (pos_ >= in_.size()) return fail("the pickle ends before its STOP opcode");
            op_pos_ = pos_;
            const auto op = std::to_integer<std::uint8_t>(in_[pos_++]);
            if (op == kStop) {
                if (stack_.empty()) return fail("STOP with an empty stack");
                graph_.root_ = stack_.back();
                return std::move(graph_);
            }
            if (auto r = step(op); !r) return r.error();
        }
    }

  private:
    Error fail(const std::string& what) const {
        return make_error("pickle: " + what + " (at byte " + std::to_string(op_pos_) + ")");
    }

    Result<void> need(std::uint64_t n) const {
        if (n > in_.size() - pos_)
            return fail("the pickle is truncated inside an opcode's argument");
        return {};
    }

    Result<PyRef> make(PyObject obj) {
        if (graph_.objects_.size() >= limits_.max_objects) {
            return fail("more than " + std::to_string(limits_.max_objects) + " objects");
        }
        if (auto r = charge_items(obj.items.size()); !r) return r.error();
        graph_.objects_.push_back(std::move(obj));
        return static_cast<PyRef>(graph_.objects_.size() - 1);
    }

    Result<void> charge_items(std::size_t n) {
        if (n > limits_.max_items - items_) {
            return fail("more than " + std::to_string(limits_.max_items) +
                        " references in tuples, lists and dicts");
        }
        items_ += n;
        return {};
    }

    Result<void> push(PyRef ref) {
        if (stack_.size() >= limits_.max_stack) {
            return fail("stack deeper than " + std::to_string(limits_.max_stack));
        }
        stack_.push_back(ref);
        return {};
    }

    Result<void> push_new(PyObject obj) {
        auto ref = make(std::move(obj));
        if (!ref) return ref.error();
        return push(*ref);
    }

    // The stack top must sit above the newest mark, so marked groups cannot be popped into.
    std::size_t floor() const { return marks_.empty() ? 0 : marks_.back(); }

    Result<PyRef> pop() {
        if (stack_.size() <= floor()) return fail("stack underflow");
        const PyRef r = stack_.back();
        stack_.pop_back();
        return r;
    }

    Result<PyRef> top() const {
        if (stack_.size() <= floor()) return fail("stack underflow");
        return stack_.back();
    }

    // Removes the items above the newest mark and the mark itself.
    Result<std::vector<PyRef>> pop_mark() {
        if (marks_.empty()) return fail("no MARK to pop to");
        const std::size_t m = marks_.back();
        marks_.pop_back();
        std::vector<PyRef> items(stack_.begin() + static_cast<std::ptrdiff_t>(m), stack_.end());
        stack_.resize(m);
        return items;
    }

    PyObject& obj(PyRef r) { return graph_.objects_[r]; }

    Result<void> push_string(std::uint64_t n) {
        if (auto r = need(n); !r) return r;
        PyObject s = of(PyKind::String);
        s.text.assign(reinterpret_cast<const char*>(in_.data() + pos_),
                      static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return push_new(std::move(s));
    }

    Result<void> push_int(std::int64_t v) {
        PyObject o = of(PyKind::Int);
        o.integer = v;
        return push_new(std::move(o));
    }

    Result<void> push_global(std::string module, const std::string& name) {
        std::string dotted = std::move(module) + "." + name;
        if (!allowed_global(dotted)) {
            return fail("the checkpoint names the global '" + dotted +
                        "', which is not allowed (only the types of a state dict of tensors "
                        "are; nothing in the file is executed)");
        }
        PyObject g = of(PyKind::Global);
        g.text = std::move(dotted);
        return push_new(std::move(g));
    }

    Result<std::string> read_line() {
        std::string line;
        while (true) {
            if (pos_ >= in_.size()) return fail("the pickle is truncated inside a GLOBAL name");
            const char c = static_cast<char>(in_[pos_++]);
            if (c == '\n') return line;
            if (line.size() >= limits_.max_global_name) return fail("GLOBAL name is too long");
            line.push_back(c);
        }
    }

    Result<void> memo_put(std::uint64_t index) {
        auto t = top();
        if (!t) return t.error();
        if (memo_.size() >= limits_.max_memo && memo_.find(index) == memo_.end()) {
            return fail("memo larger than " + std::to_string(limits_.max_memo));
        }
        memo_[index] = *t;
        return {};
    }

    Result<void> memo_get(std::uint64_t index) {
        const auto it = memo_.find(index);
        if (it == memo_.end()) return fail("memo index " + std::to_string(index) + " is not set");
        return push(it->second);
    }

    Result<void> make_tuple(std::vector<PyRef> items) {
        PyObject t = of(PyKind::Tuple);
        t.items = std::move(items);
        return push_new(std::move(t));
    }

    Result<void> reduce() {
        auto args = pop();
        if (!args) return args.error();
        auto fn = pop();
        if (!fn) return fn.error();
        if (obj(*fn).kind != PyKind::Global) {
            return fail("REDUCE calls a " + std::string(py_kind_name(obj(*fn).kind)) +
                        ", not an allowed global");
        }
        if (obj(*args).kind != PyKind::Tuple) return fail("REDUCE arguments are not a tuple");
        const std::string name = obj(*fn).text;
        std::vector<PyRef> a = obj(*args).items;
        if (name == "collections.OrderedDict") {
            if (!a.empty()) return fail("OrderedDict with constructor arguments is not supported");
            return push_new(of(PyKind::Dict));
        }
        if (name == "torch._utils._rebuild_tensor_v2") {
            if (a.size() < 4 || a.size() > 7) {
                return fail("_rebuild_tensor_v2 takes 4 to 7 arguments, got " +
                            std::to_string(a.size()));
            }
            PyObject t = of(PyKind::Tensor);
            t.items = std::move(a);
            return push_new(std::move(t));
        }
        if (name == "torch._utils._rebuild_parameter") {
            // A Parameter pickles as the tensor it wraps plus flags a reader does not need.
            if (a.empty() || obj(a[0]).kind != PyKind::Tensor) {
                return fail("_rebuild_parameter without a tensor argument");
            }
            return push(a[0]);
        }
        if (name == "torch.Size") {
            if (a.size() != 1 || obj(a[0]).kind != PyKind::Tuple) {
                return fail("torch.Size expects one tuple argument");
            }
            return push(a[0]);
        }
        return fail("the checkpoint calls '" + name + "', which is not allowed");
    }

    Result<void> step(std::uint8_t op) {
        switch (op) {
            case kProto: {
                if (auto r = need(1); !r) return r;
                const auto v = std::to_integer<unsigned>(in_[pos_++]);
                if (v < 2 || v > 5) return fail("unsupported pickle protocol " + std::to_string(v));
                return {};
            }
            case kFrame: {
                if (auto r = need(8); !r) return r;
                const std::uint64_t n = load_u64(in_.data() + pos_);
                pos_ += 8;
                return need(n);  // frames only group opcodes; their length must still fit
            }
            case kMark:
                if (marks_.size() >= limits_.max_marks) {
                    return fail("more than " + std::to_string(limits_.max_marks) + " open MARKs");
                }
                marks_.push_back(stack_.size());
                return {};
            case kEmptyDict:
                return push_new(of(PyKind::Dict));
            case kEmptyList:
                return push_new(of(PyKind::List));
            case kEmptyTuple:
                return push_new(of(PyKind::Tuple));
            case kNone:
                return push_new(of(PyKind::None));
            case kNewTrue:
            case kNewFalse: {
                PyObject b = of(PyKind::Bool);
                b.integer = op == kNewTrue ? 1 : 0;
                return push_new(std::move(b));
            }
            case kBinInt: {
                if (auto r = need(4); !r) return r;
                const auto v = static_cast<std::int32_t>(load_u32(in_.data() + pos_));
                pos_ += 4;
                return push_int(v);
            }
            case kBinInt1: {
                if (auto r = need(1); !r) return r;
                return push_int(std::to_integer<std::uint8_t>(in_[pos_++]));
            }
            case kBinInt2: {
                if (auto r = need(2); !r) return r;
                const std::uint16_t v = load_u16(in_.data() + pos_);
                pos_ += 2;
                return push_int(v);
            }
            case kLong1: {
                if (auto r = need(1); !r) return r;
                const std::size_t n = std::to_integer<std::size_t>(in_[pos_++]);
                if (n > 8)
                    return fail("LONG1 integer of " + std::to_string(n) + " bytes is too large");
                if (auto r = need(n); !r) return r;
                std::uint64_t v = 0;
                for (std::size_t i = 0; i < n; ++i) {
                    v |= std::to_integer<std::uint64_t>(in_[pos_ + i]) << (8 * i);
                }
                if (n > 0 && n < 8 && (std::to_integer<unsigned>(in_[pos_ + n - 1]) & 0x80u)) {
                    v |= ~std::uint64_t{0} << (8 * n);  // sign-extend two's complement
                }
                pos_ += n;
                return push_int(static_cast<std::int64_t>(v));
            }
            case kBinFloat: {
                if (auto r = need(8); !r) return r;
                std::uint64_t bits = 0;
                for (int i = 0; i < 8; ++i)
                    bits = (bits << 8) | std::to_integer<std::uint64_t>(in_[pos_ + i]);
                pos_ += 8;
                PyObject f = of(PyKind::Float);
                f.real = std::bit_cast<double>(bits);
                return push_new(std::move(f));
            }
            case kShortBinUnicode: {
                if (auto r = need(1); !r) return r;
                return push_string(std::to_integer<std::uint64_t>(in_[pos_++]));
            }
            case kBinUnicode: {
                if (auto r = need(4); !r) return r;
                const std::uint32_t n = load_u32(in_.data() + pos_);
                pos_ += 4;
                return push_string(n);
            }
            case kBinUnicode8: {
                if (auto r = need(8); !r) return r;
                const std::uint64_t n = load_u64(in_.data() + pos_);
                pos_ += 8;
                return push_string(n);
            }
            case kBinPut: {
                if (auto r = need(1); !r) return r;
                return memo_put(std::to_integer<std::uint64_t>(in_[pos_++]));
            }
            case kLongBinPut: {
                if (auto r = need(4); !r) return r;
                const std::uint32_t i = load_u32(in_.data() + pos_);
                pos_ += 4;
                return memo_put(i);
            }
            case kMemoize:
                return memo_put(memo_.size());
            case kBinGet: {
                if (auto r = need(1); !r) return r;
                return memo_get(std::to_integer<std::uint64_t>(in_[pos_++]));
            }
            case kLongBinGet: {
                if (auto r = need(4); !r) return r;
                const std::uint32_t i = load_u32(in_.data() + pos_);
                pos_ += 4;
                return memo_get(i);
            }
            case kGlobal: {
                auto module = read_line();
                if (!module) return module.error();
                auto name = read_line();
                if (!name) return name.error();
                return push_global(std::move(*module), *name);
            }
            case kStackGlobal: {
                auto name = pop();
                if (!name) return name.error();
                auto module = pop();
                if (!module) return module.error();
                if (obj(*name).kind != PyKind::String || obj(*module).kind != PyKind::String) {
                    return fail("STACK_GLOBAL needs two strings");
                }
                return push_global(obj(*module).text, obj(*name).text);
            }
            case kTuple: {
                auto items = pop_mark();
                if (!items) return items.error();
                return make_tuple(std::move(*items));
            }
            case kTuple1:
            case kTuple2:
            case kTuple3: {
                const std::size_t n = op - kTuple1 + 1u;
                if (stack_.size() < floor() + n) return fail("stack underflow");
                std::vector<PyRef> items(stack_.end() - static_cast<std::ptrdiff_t>(n),
                                         stack_.end());
                stack_.resize(stack_.size() - n);
                return make_tuple(std::move(items));
            }
            case kReduce:
                return reduce();
            case kBinPersId: {
                auto pid = pop();
                if (!pid) return pid.error();
                if (obj(*pid).kind != PyKind::Tuple) return fail("persistent id is not a tuple");
                PyObject s = of(PyKind::Storage);
                s.items = obj(*pid).items;
                return push_new(std::move(s));
            }
            case kSetItem: {
                auto value = pop();
                if (!value) return value.error();
                auto key = pop();
                if (!key) return key.error();
                auto dict = top();
                if (!dict) return dict.error();
                if (obj(*dict).kind != PyKind::Dict) return fail("SETITEM on a non-dict");
                if (auto r = charge_items(2); !r) return r;
                obj(*dict).items.push_back(*key);
                obj(*dict).items.push_back(*value);
                return {};
            }
            case kSetItems: {
                auto items = pop_mark();
                if (!items) return items.error();
                auto dict = top();
                if (!dict) return dict.error();
                if (obj(*dict).kind != PyKind::Dict) return fail("SETITEMS on a non-dict");
                if (items->size() % 2 != 0) return fail("SETITEMS with an odd number of items");
                if (auto r = charge_items(items->size()); !r) return r;
                auto& d = obj(*dict).items;
                d.insert(d.end(), items->begin(), items->end());
                return {};
            }
            case kAppend: {
                auto value = pop();
                if (!value) return value.error();
                auto list = top();
                if (!list) return list.error();
                if (obj(*list).kind != PyKind::List) return fail("APPEND on a non-list");
                if (auto r = charge_items(1); !r) return r;
                obj(*list).items.push_back(*value);
                return {};
            }
            case kAppends: {
                auto items = pop_mark();
                if (!items) return items.error();
                auto list = top();
                if (!list) return list.error();
                if (obj(*list).kind != PyKind::List) return fail("APPENDS on a non-list");
                if (auto r = charge_items(items->size()); !r) return r;
                auto& l = obj(*list).items;
                l.insert(l.end(), items->begin(), items->end());
                return {};
            }
            case kBuild: {
                // nn.Module.state_dict() attaches `_metadata` (version numbers) to its
                // OrderedDict as instance state; it carries nothing a reader needs.
                auto state = pop();
                if (!state) return state.error();
                auto target = top();
                if (!target) return target.error();
                if (obj(*target).kind != PyKind::Dict) {
                    return fail("BUILD on a " + std::string(py_kind_name(obj(*target).kind)) +
                                " is not supported");
                }
                return {};
            }
            default: {
                std::string shown = hex_byte(op);
                if (op >= 0x20 && op < 0x7f)
                    shown += std::string(" '") + static_cast<char>(op) + "'";
                return fail("unsupported pickle opcode " + shown);
            }
        }
    }

    std::span<const std::byte> in_;
    PickleLimits limits_;
    std::size_t pos_ = 0;
    std::size_t op_pos_ = 0;
    PickleGraph graph_;
    std::vector<PyRef> stack_;
    std::vector<std::size_t> marks_;
    std::size_t items_ = 0;  // charged against limits_.max_items
    std::unordered_map<std::uint64_t, PyRef> memo_;
};

Result<PickleGraph> unpickle(std::span<const std::byte> bytes, const PickleLimits& limits) {
    Unpickler u(bytes, limits);
    return u.run();
}

}  // namespace ravel::format
