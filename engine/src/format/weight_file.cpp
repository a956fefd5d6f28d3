#include "ravel/weight_file.hpp"

#include <cstdint>
#include <cstdio>
#include <cstring>

#include "format/gguf_weights.hpp"
#include "format/le_bytes.hpp"
#include "format/mapped_file.hpp"
#include "format/pth_reader.hpp"
#include "format/safetensors_reader.hpp"
#include "ravel/quant.hpp"

namespace ravel {

std::string_view file_format_name(FileFormat format) {
    switch (format) {
        case FileFormat::Pth:
            return "pth";
        case FileFormat::Safetensors:
            return "safetensors";
        case FileFormat::Gguf:
            return "gguf";
        case FileFormat::Synthetic:
            return "synthetic";
    }
    return "?";
}

namespace {

bool starts_with(std::span<const std::byte> b, std::string_view magic) {
    return b.size() >= magic.size() && std::memcmp(b.data(), magic.data(), magic.size()) == 0;
}

std::string first_bytes_hex(std::span<const std::byte> b) {
    std::string s;
    for (std::size_t i = 0; i < b.size() && i < 8; ++i) {
        char buf[4];
        std::snprintf(buf, sizeof buf, "%02x", std::to_integer<unsigned>(b[i]));
        if (i) s += ' ';
        s += buf;
    }
    return s;
}

enum class Detected { Pth, Safetensors, Gguf, LegacyTorch, Unknown };

Detected detect(std::span<const std::byte> b) {
    if (starts_with(b, "PK\x03\x04") || starts_with(b, "PK\x05\x06")) return Detected::Pth;
    if (starts_with(b, "GGUF")) return Detected::Gguf;
    // Pre-1.6 torch.save wrote a bare pickle starting with PROTO 2 and a magic long.
    if (starts_with(b, "\x80\x02\x8a\x0a")) return Detected::LegacyTorch;
    // safetensors has no magic: a header length followed by the JSON object's '{'. The length
    // is not checked here so that an impossible one is reported as such, not as "unknown".
    if (b.size() >= 9 && std::to_integer<char>(b[8]) == '{' && format::load_u64(b.data()) >= 2) {
        return Detected::Safetensors;
    }
    return Detected::Unknown;
}

}  // namespace

Result<WeightFile> WeightFile::open(const std::filesystem::path& path) {
    auto mapped = MappedFile::open(path);
    if (!mapped) return mapped.error();
    std::shared_ptr<MappedFile> file = std::move(*mapped);
    const auto bytes = file->bytes();
    const std::string where = path.string() + ": ";

    Result<format::ParsedWeights> parsed = make_error("");
    FileFormat format = FileFormat::Pth;
    switch (detect(bytes)) {
        case Detected::Pth:
            parsed = format::read_pth(bytes);
            break;
        case Detected::Safetensors:
            format = FileFormat::Safetensors;
            parsed = format::read_safetensors(bytes);
            break;
        case Detected::Gguf: {
            // The deferred K-quant re-encodings keep this, and with it the mapping: both live
            // as long as the WeightFile's derived tensors.
            auto gguf = format::read_gguf(
                bytes, [file](std::span<const std::byte> done) { file->drop_pages(done); });
            if (!gguf) return make_error(where + gguf.message());
            // Reading llama.cpp's small tensors (lerps, LoRAs) to derive ours touched every
            // layer, and the kernel maps a file's pages around each touch (whole 2 MiB folios
            // where the page cache holds them): 40-50 MB of a 117 MB q4_0 file stayed in the
            // resident set through the load, on top of the weights being built. The page cache
            // keeps the data; a later read maps it again.
            file->drop_pages(bytes);
            return WeightFile(path, FileFormat::Gguf, std::move(file),
                              std::move(gguf->parsed.tensors), std::move(gguf->parsed.metadata),
                              std::move(gguf->derived));
        }
        case Detected::LegacyTorch:
            return make_error(where +
                              "this is a legacy (pre-1.6) PyTorch file, which is not supported; "
                              "re-save it with a current torch.save");
        case Detected::Unknown:
            return make_error(where +
                              "not a recognised model file (expected a PyTorch .pth zip archive, "
                              ".safetensors or GGUF); it starts with bytes " +
                              first_bytes_hex(bytes));
    }
    if (!parsed) return make_error(where + parsed.message());
    return WeightFile(path, format, std::move(file), std::move(parsed->tensors),
                      std::move(parsed->metadata));
}

WeightFile::WeightFile(std::filesystem::path path, FileFormat format,
                       std::shared_ptr<MappedFile> file, std::vector<TensorInfo> tensors,
                       std::map<std::string, std::string> metadata,
                       std::shared_ptr<const DerivedTensors> derived)
    : path_(std::move(path)),
      format_(format),
      file_(std::move(file)),
      tensors_(std::move(tensors)),
      metadata_(std::move(metadata)),
      derived_(std::move(derived)) {}

WeightFile::WeightFile(WeightFile&&) noexcept = default;
WeightFile& WeightFile::operator=(WeightFile&&) noexcept = default;
WeightFile::~WeightFile() = default;

std::uint64_t WeightFile::file_size() const {
    return file_ ? file_->size() : 0;
}

const TensorInfo* WeightFile::find(std::string_view name) const {
    for (const auto& t : tensors_) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

std::span<const std::byte> WeightFile::bytes(const TensorInfo& tensor) const {
    if (derived_ && tensor.offset >= derived_->base()) {
        return derived_->find(tensor.offset, tensor.nbytes);
    }
    const std::uint64_t size = file_size();
    if (tensor.offset > size || tensor.nbytes > size - tensor.offset) return {};
    return {file_->data() + tensor.offset, static_cast<std::size_t>(tensor.nbytes)};
}

void WeightFile::drop_pages(std::span<const std::byte> bytes) const {
    if (file_) file_->drop_pages(bytes);
    if (derived_) derived_->release(bytes);
}

void WeightFile::drop_file_pages() const {
    if (file_) file_->drop_pages(file_->bytes());
}

Result<std::vector<float>> WeightFile::read_f32(const TensorInfo& tensor) const {
    const auto b = bytes(tensor);
    const auto expected =
        tensor.elements() < 0
            ? std::nullopt
            : dtype_bytes_for(tensor.dtype, static_cast<std::uint64_t>(tensor.elements()));
    if (!expected || *expected != tensor.nbytes) {
        return make_error(path_.string() + ": tensor '" + tensor.name + "' has " +
                          std::to_string(tensor.nbytes) + " bytes, which does not match its " +
                          std::string(dtype_name(tensor.dtype)) + " shape " +
                          tensor.shape_string());
    }
    if (b.size() != tensor.nbytes) {
        if (derived_ && tensor.offset >= derived_->base()) {
            if (const std::string why = derived_->failure(tensor.offset); !why.empty())
                return make_error(path_.string() + ": " + why);
        }
        return make_error(path_.string() + ": tensor '" + tensor.name + "' lies outside the file");
    }
    std::vector<float> out(static_cast<std::size_t>(tensor.elements()));
    if (out.empty()) return out;
    if (auto r = dequantize_row(tensor.dtype, b.data(), out.size(), out.data()); !r) {
        return make_error(path_.string() + ": tensor '" + tensor.name + "': " + r.message());
    }
    return out;
}

}  // namespace ravel
