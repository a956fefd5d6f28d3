#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "format/gguf_reader.hpp"
#include "format/shape_check.hpp"
#include "ravel/gguf.hpp"

namespace ravel {

namespace {

using format::GgufValueType;

void put_u32(std::vector<std::byte>& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
void put_u64(std::vector<std::byte>& b, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back(static_cast<std::byte>(v >> (8 * i)));
}
void put_str(std::vector<std::byte>& b, std::string_view s) {
    put_u64(b, s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    b.insert(b.end(), p, p + s.size());
}

std::uint32_t type_id(GgufValueType t) {
    return static_cast<std::uint32_t>(t);
}

std::uint64_t align_up(std::uint64_t v, std::uint64_t a) {
    return (v + a - 1) / a * a;
}

// A file descriptor closed (and its temporary file removed unless committed) on every path.
class TempFile {
  public:
    explicit TempFile(std::filesystem::path final_path)
        : final_(std::move(final_path)),
          temp_(final_.string() + ".partial-" + std::to_string(::getpid())) {}
    ~TempFile() {
        if (fd_ >= 0) ::close(fd_);
        if (!committed_) {
            std::error_code ec;
            std::filesystem::remove(temp_, ec);
        }
    }

    Result<void> open() {
        fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd_ < 0) return fail("cannot create");
        pending_.reserve(kChunk);
        return {};
    }
    // Buffered into whole kChunk pieces at kChunk-aligned offsets: a kernel whose page cache
    // holds large folios then caches the new file in 2 MiB folios, so a model loaded right after
    // its conversion maps its in-place tensors 2 MiB at a time (see mapped_file.cpp). Written
    // tensor by tensor, with their padding, it was cached in small folios and mapped about half
    // that way (0.46 of 0.89 GB for a v7 24x1024 f16 file).
    Result<void> write(std::span<const std::byte> b) {
        while (!b.empty()) {
            const std::size_t n = std::min(b.size(), kChunk - pending_.size());
            const std::size_t at = pending_.size();
            pending_.resize(at + n);
            std::memcpy(pending_.data() + at, b.data(), n);
            b = b.subspan(n);
            written_ += n;
            if (pending_.size() == kChunk) {
                if (auto r = flush(); !r) return r;
            }
        }
        return {};
    }
    Result<void> pad_to(std::uint64_t alignment) {
        static constexpr std::byte zeros[256] = {};
        std::uint64_t pad = align_up(written_, alignment) - written_;
        while (pad > 0) {
            const auto n = std::min<std::uint64_t>(pad, sizeof zeros);
            if (auto r = write({zeros, static_cast<std::size_t>(n)}); !r) return r;
            pad -= n;
        }
        return {};
    }
    Result<void> commit() {
        if (auto r = flush(); !r) return r;
        if (::fsync(fd_) != 0) return fail("cannot flush");
        if (::close(fd_) != 0) {
            fd_ = -1;
            return fail("cannot close");
        }
        fd_ = -1;
        std::error_code ec;
        std::filesystem::rename(temp_, final_, ec);
        if (ec) {
            return make_error("cannot rename " + temp_.string() + " to " + final_.string() + ": " +
                              ec.message());
        }
        committed_ = true;
        return {};
    }
    std::uint64_t written() const { return written_; }

  private:
    static constexpr std::size_t kChunk = std::size_t{2} << 20;

    Result<void> flush() {
        std::span<const std::byte> b(pending_);
        while (!b.empty()) {
            const ssize_t n = ::write(fd_, b.data(), b.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return fail("cannot write");
            b = b.subspan(static_cast<std::size_t>(n));
        }
        pending_.clear();
        return {};
    }
    Error fail(const char* what) const {
        return make_error(std::string(what) + " " + temp_.string() + ": " + std::strerror(errno));
    }

    std::filesystem::path final_;
    std::filesystem::path temp_;
    int fd_ = -1;
    std::vector<std::byte> pending_;  // at most kChunk bytes not yet written
    std::uint64_t written_ = 0;
    bool committed_ = false;
};

}  // namespace

void GgufWriter::add_string(std::string key, std::string_view value) {
    Kv kv{std::move(key), type_id(GgufValueType::String), {}};
    put_str(kv.value, value);
    kv_.push_back(std::move(kv));
}

void GgufWriter::add_u32(std::string key, std::uint32_t value) {
    Kv kv{std::move(key), type_id(GgufValueType::U32), {}};
    put_u32(kv.value, value);
    kv_.push_back(std::move(kv));
}

void GgufWriter::add_f32(std::string key, float value) {
    Kv kv{std::move(key), type_id(GgufValueType::F32), {}};
    std::uint32_t bits;
    std::memcpy(&bits, &value, 4);
    put_u32(kv.value, bits);
    kv_.push_back(std::move(kv));
}

void GgufWriter::add_string_array(std::string key, const std::vector<std::string>& values) {
    Kv kv{std::move(key), type_id(GgufValueType::Array), {}};
    put_u32(kv.value, type_id(GgufValueType::String));
    put_u64(kv.value, values.size());
    for (const auto& s : values) put_str(kv.value, s);
    kv_.push_back(std::move(kv));
}

void GgufWriter::add_i32_array(std::string key, const std::vector<std::int32_t>& values) {
    Kv kv{std::move(key), type_id(GgufValueType::Array), {}};
    put_u32(kv.value, type_id(GgufValueType::I32));
    put_u64(kv.value, values.size());
    for (auto v : values) put_u32(kv.value, static_cast<std::uint32_t>(v));
    kv_.push_back(std::move(kv));
}

Result<void> GgufWriter::add_tensor(std::string name, DType type, std::vector<std::int64_t> shape,
                                    Fill fill) {
    if (shape.empty() || shape.size() > format::kGgufMaxDims) {
        return make_error("tensor '" + name + "' has " + std::to_string(shape.size()) +
                          " dimensions; GGUF stores 1 to 4");
    }
    const auto block = static_cast<std::int64_t>(dtype_block_elements(type));
    if (shape.back() % block != 0) {
        return make_error("tensor '" + name + "' " + format::shape_to_string(shape) + ": rows of " +
                          std::to_string(shape.back()) + " values do not fill whole " +
                          std::string(dtype_name(type)) + " blocks");
    }
    auto bytes = format::checked_tensor_bytes(name, type, shape, UINT64_MAX);
    if (!bytes) return bytes.error();
    tensors_.push_back({std::move(name), type, std::move(shape), *bytes, std::move(fill)});
    return {};
}

Result<std::uint64_t> GgufWriter::write(const std::filesystem::path& path) const {
    if (alignment_ == 0 || (alignment_ & (alignment_ - 1)) != 0) {
        return make_error("GGUF alignment " + std::to_string(alignment_) +
                          " is not a power of two");
    }
    std::vector<std::byte> header;
    for (const char c : std::string_view("GGUF")) header.push_back(static_cast<std::byte>(c));
    put_u32(header, 3);
    put_u64(header, tensors_.size());
    const bool write_alignment = alignment_ != 32;
    put_u64(header, kv_.size() + (write_alignment ? 1 : 0));
    if (write_alignment) {
        put_str(header, "general.alignment");
        put_u32(header, type_id(GgufValueType::U32));
        put_u32(header, alignment_);
    }
    for (const auto& kv : kv_) {
        put_str(header, kv.key);
        put_u32(header, kv.type);
        header.insert(header.end(), kv.value.begin(), kv.value.end());
    }
    std::uint64_t offset = 0;
    for (const auto& t : tensors_) {
        put_str(header, t.name);
        put_u32(header, static_cast<std::uint32_t>(t.shape.size()));
        for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it) {
            put_u64(header, static_cast<std::uint64_t>(*it));
        }
        put_u32(header, format::ggml_type_of(t.type));
        put_u64(header, offset);
        offset = align_up(offset + t.nbytes, alignment_);
    }

    TempFile out(path);
    if (auto r = out.open(); !r) return r.error();
    if (auto r = out.write(header); !r) return r.error();
    if (auto r = out.pad_to(alignment_); !r) return r.error();
    std::vector<std::byte> buffer;
    for (const auto& t : tensors_) {
        buffer.assign(static_cast<std::size_t>(t.nbytes), std::byte{0});
        if (auto r = t.fill(buffer); !r) {
            return make_error("tensor '" + t.name + "': " + r.message());
        }
        if (auto r = out.write(buffer); !r) return r.error();
        if (auto r = out.pad_to(alignment_); !r) return r.error();
    }
    const std::uint64_t total = out.written();
    if (auto r = out.commit(); !r) return r.error();
    return total;
}

}  // namespace ravel
