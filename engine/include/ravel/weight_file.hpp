// A model file opened for reading: the tensor directory plus read-only access to the bytes.
// Formats: BlinkDL .pth (PyTorch zip + restricted pickle), .safetensors and GGUF (Ravel's own
// and llama.cpp's rwkv6/rwkv7; see docs/gguf.md). The file is mapped read-only; every offset and
// size is checked against its length before anything is used.
#pragma once

#include <cstddef>
#include <filesystem>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ravel/result.hpp"
#include "ravel/tensor.hpp"

namespace ravel {

// Synthetic: random weights built in memory for benchmarks (no file).
enum class FileFormat { Pth, Safetensors, Gguf, Synthetic };
std::string_view file_format_name(FileFormat format);

class MappedFile;
class DerivedTensors;

class WeightFile {
  public:
    // Detects the format from the file's first bytes, not its name.
    static Result<WeightFile> open(const std::filesystem::path& path);

    WeightFile(WeightFile&&) noexcept;
    WeightFile& operator=(WeightFile&&) noexcept;
    ~WeightFile();

    const std::filesystem::path& path() const { return path_; }
    FileFormat format() const { return format_; }
    std::uint64_t file_size() const;
    const std::vector<TensorInfo>& tensors() const { return tensors_; }
    const TensorInfo* find(std::string_view name) const;
    // Free-form string metadata (safetensors __metadata__, GGUF key/values).
    const std::map<std::string, std::string>& metadata() const { return metadata_; }

    // Keeps the mapped bytes alive for objects that point into them (e.g. in-place weights),
    // together with any tensors a GGUF reader derived in memory (see bytes()).
    std::shared_ptr<const void> mapping() const {
        if (!derived_) return file_;
        struct Both {
            std::shared_ptr<MappedFile> file;
            std::shared_ptr<const DerivedTensors> derived;
        };
        return std::make_shared<const Both>(Both{file_, derived_});
    }

    // Raw little-endian bytes of a tensor, inside the mapping (valid while this object lives).
    // A few GGUF tensors are computed by the reader (llama.cpp stores some RWKV tensors
    // transposed or rescaled); their offsets lie past the end of the file and their bytes live
    // in buffers this object owns, aligned to 64 bytes. A GGUF's K-quant tensors are
    // re-encoded at their first read: empty when that fails (a corrupt block; read_f32 says
    // why).
    std::span<const std::byte> bytes(const TensorInfo& tensor) const;
    // Drops the pages wholly inside `bytes` from memory once they were copied elsewhere, where
    // that is safe: bytes of the mapped file itself, which a later read maps again from the
    // file, and the whole buffer of a re-encoded K-quant tensor, which a later bytes() encodes
    // again from the file. Other derived tensors are left alone. Best effort; spans from
    // bytes() over what was dropped must not be read afterwards.
    void drop_pages(std::span<const std::byte> bytes) const;
    // Unmaps every page of the mapped file from this process. The page cache keeps them and a
    // later read maps them again, so every span from bytes() stays readable; derived tensors'
    // buffers are untouched.
    void drop_file_pages() const;
    // The tensor converted to fp32 (from any DType; quantized blocks are dequantized).
    Result<std::vector<float>> read_f32(const TensorInfo& tensor) const;

    // Used by the format readers.
    WeightFile(std::filesystem::path path, FileFormat format, std::shared_ptr<MappedFile> file,
               std::vector<TensorInfo> tensors, std::map<std::string, std::string> metadata,
               std::shared_ptr<const DerivedTensors> derived = nullptr);

  private:
    std::filesystem::path path_;
    FileFormat format_ = FileFormat::Pth;
    std::shared_ptr<MappedFile> file_;
    std::vector<TensorInfo> tensors_;
    std::map<std::string, std::string> metadata_;
    std::shared_ptr<const DerivedTensors> derived_;
};

}  // namespace ravel
