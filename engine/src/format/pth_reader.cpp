#include "format/pth_reader.hpp"

#include <optional>
#include <set>
#include <string>

#include "format/pickle_reader.hpp"
#include "format/zip_reader.hpp"

namespace ravel::format {

namespace {

std::optional<DType> storage_dtype(std::string_view global) {
    if (global == "torch.FloatStorage" || global == "torch.float32") return DType::F32;
    if (global == "torch.HalfStorage" || global == "torch.float16") return DType::F16;
    if (global == "torch.BFloat16Storage" || global == "torch.bfloat16") return DType::BF16;
    return std::nullopt;
}

Result<const ZipEntry*> find_pickle(const ZipReader& zip) {
    const ZipEntry* found = nullptr;
    for (const auto& e : zip.entries()) {
        const auto slash = e.name.find('/');
        if (slash == std::string::npos ||
            e.name.compare(slash, std::string::npos, "/data.pkl") != 0) {
            continue;
        }
        if (found != nullptr) {
            return make_error("the archive holds two pickles ('" + found->name + "' and '" +
                              e.name + "')");
        }
        found = &e;
    }
    if (found == nullptr) {
        return make_error(
            "the zip archive has no '<name>/data.pkl' entry, so it is not a PyTorch "
            "checkpoint");
    }
    return found;
}

class TensorBuilder {
  public:
    TensorBuilder(const PickleGraph& g, const ZipReader& zip, std::string prefix)
        : g_(g), zip_(zip), prefix_(std::move(prefix)) {}

    Result<TensorInfo> build(const std::string& name, const PyObject& tensor) const {
        const std::string who = "tensor '" + name + "'";
        const auto& args = tensor.items;  // storage, offset, size, stride, ...
        const PyObject& storage = g_.at(args[0]);
        if (storage.kind != PyKind::Storage)
            return make_error(who + ": its storage is not a storage id");
        const auto& pid = storage.items;  // ('storage', type, key, location, numel)
        if (pid.size() != 5 || !is_string(pid[0], "storage") ||
            g_.at(pid[1]).kind != PyKind::Global || g_.at(pid[2]).kind != PyKind::String ||
            g_.at(pid[4]).kind != PyKind::Int) {
            return make_error(who +
                              ": malformed storage id (expected ('storage', type, key, "
                              "location, numel))");
        }
        const std::string& type_name = g_.at(pid[1]).text;
        const auto dtype = storage_dtype(type_name);
        if (!dtype) {
            return make_error(who + ": storage type '" + type_name +
                              "' is not supported (expected float32, float16 or bfloat16)");
        }
        const std::string& key = g_.at(pid[2]).text;
        const std::int64_t numel = g_.at(pid[4]).integer;
        const std::string entry_name = prefix_ + "/data/" + key;
        const ZipEntry* entry = zip_.find(entry_name);
        if (entry == nullptr) {
            return make_error(who + ": its storage entry '" + entry_name + "' is missing");
        }
        const std::uint64_t esize = dtype_block_bytes(*dtype);
        if (numel < 0 || static_cast<std::uint64_t>(numel) > entry->size / esize) {
            return make_error(who + ": storage '" + key + "' declares " + std::to_string(numel) +
                              " " + std::string(dtype_name(*dtype)) + " elements but its entry '" +
                              entry_name + "' holds only " + std::to_string(entry->size) +
                              " bytes");
        }

        const PyObject& offset = g_.at(args[1]);
        if (offset.kind != PyKind::Int || offset.integer < 0 || offset.integer > numel) {
            return make_error(who + ": storage offset is not an integer in [0, " +
                              std::to_string(numel) + "]");
        }
        auto shape = int_tuple(args[2]);
        auto stride = int_tuple(args[3]);
        if (!shape || !stride)
            return make_error(who + ": size or stride is not a tuple of integers");
        if (shape->size() != stride->size()) {
            return make_error(who + ": shape " + shape_to_string(*shape) + " and strides " +
                              shape_to_string(*stride) + " have different ranks");
        }
        const std::uint64_t room = static_cast<std::uint64_t>(numel - offset.integer) * esize;
        auto nbytes = checked_tensor_bytes(name, *dtype, *shape, room);
        if (!nbytes) {
            return make_error(nbytes.message() + " (storage '" + key + "' has " +
                              std::to_string(numel) + " elements, the tensor starts at element " +
                              std::to_string(offset.integer) + ")");
        }
        if (*nbytes > 0 && !contiguous(*shape, *stride)) {
            return make_error(who + ": shape " + shape_to_string(*shape) + " with strides " +
                              shape_to_string(*stride) +
                              " is not contiguous; only contiguous tensors are supported");
        }
        TensorInfo info;
        info.name = name;
        info.dtype = *dtype;
        info.shape = std::move(*shape);
        info.offset = entry->data_offset + static_cast<std::uint64_t>(offset.integer) * esize;
        info.nbytes = *nbytes;
        return info;
    }

  private:
    bool is_string(PyRef r, std::string_view s) const {
        return g_.at(r).kind == PyKind::String && g_.at(r).text == s;
    }

    std::optional<std::vector<std::int64_t>> int_tuple(PyRef r) const {
        const PyObject& t = g_.at(r);
        if (t.kind != PyKind::Tuple || t.items.size() > kMaxTensorRank) return std::nullopt;
        std::vector<std::int64_t> out;
        for (PyRef i : t.items) {
            if (g_.at(i).kind != PyKind::Int) return std::nullopt;
            out.push_back(g_.at(i).integer);
        }
        return out;
    }

    // PyTorch's rule: dimensions of size 1 may carry any stride.
    static bool contiguous(const std::vector<std::int64_t>& shape,
                           const std::vector<std::int64_t>& stride) {
        std::int64_t expected = 1;
        for (std::size_t i = shape.size(); i-- > 0;) {
            if (shape[i] != 1 && stride[i] != expected) return false;
            expected *= shape[i];  // bounded: the shape already fitted in the file
        }
        return true;
    }

    const PickleGraph& g_;
    const ZipReader& zip_;
    std::string prefix_;
};

}  // namespace

Result<ParsedWeights> read_pth(std::span<const std::byte> file) {
    auto zip = ZipReader::open(file);
    if (!zip) return zip.error();
    auto pkl = find_pickle(*zip);
    if (!pkl) return pkl.error();
    const std::string prefix = (*pkl)->name.substr(0, (*pkl)->name.size() - 9);

    if (const ZipEntry* order = zip->find(prefix + "/byteorder")) {
        const auto b = zip->data(*order);
        const std::string_view text(reinterpret_cast<const char*>(b.data()), b.size());
        if (text != "little") {
            return make_error("the checkpoint's byte order is '" + std::string(text.substr(0, 16)) +
                              "'; only little-endian checkpoints are supported");
        }
    }

    auto graph = unpickle(zip->data(**pkl));
    if (!graph) return make_error("'" + (*pkl)->name + "': " + graph.message());
    const PyObject& root = graph->at(graph->root());
    if (root.kind != PyKind::Dict) {
        return make_error("the checkpoint holds a " + std::string(py_kind_name(root.kind)) +
                          ", not a dict of tensors");
    }

    ParsedWeights out;
    std::set<std::string> seen;
    TensorBuilder builder(*graph, *zip, prefix);
    for (std::size_t i = 0; i + 1 < root.items.size(); i += 2) {
        const PyObject& key = graph->at(root.items[i]);
        const PyObject& value = graph->at(root.items[i + 1]);
        if (key.kind != PyKind::String) {
            return make_error("state dict key #" + std::to_string(i / 2) + " is a " +
                              std::string(py_kind_name(key.kind)) + ", not a string");
        }
        if (value.kind != PyKind::Tensor) {
            return make_error("state dict entry '" + key.text + "' is a " +
                              std::string(py_kind_name(value.kind)) + ", not a tensor");
        }
        if (!seen.insert(key.text).second) {
            return make_error("tensor '" + key.text + "' appears twice");
        }
        auto tensor = builder.build(key.text, value);
        if (!tensor) return tensor.error();
        out.tensors.push_back(std::move(*tensor));
    }
    out.metadata["pth.archive_name"] = prefix;
    return out;
}

}  // namespace ravel::format
