// Little-endian append/read helpers for the resume record. The reader never reads past its
// span: every take() checks the remaining length first, so hostile lengths fail cleanly.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ravel/resume_record.hpp"

namespace ravel::snapshot_detail {

static_assert(std::endian::native == std::endian::little,
              "the resume record stores native floats; big-endian hosts need byte swapping");

class ByteWriter {
  public:
    void raw(const void* data, std::size_t n) {
        const auto* p = static_cast<const std::byte*>(data);
        out_.insert(out_.end(), p, p + n);
    }
    void u32(std::uint32_t v) { raw(&v, sizeof v); }
    void u64(std::uint64_t v) { raw(&v, sizeof v); }
    void i64(std::int64_t v) { raw(&v, sizeof v); }
    void tag(std::string_view four) { raw(four.data(), 4); }
    void reserve(std::size_t n) { out_.reserve(n); }
    ResumeBlob& bytes() { return out_; }

  private:
    ResumeBlob out_;
};

class ByteReader {
  public:
    explicit ByteReader(std::span<const std::byte> in) : in_(in) {}

    std::size_t remaining() const { return in_.size() - pos_; }
    std::size_t position() const { return pos_; }

    std::optional<std::span<const std::byte>> take(std::uint64_t n) {
        if (n > remaining()) return std::nullopt;
        auto s = in_.subspan(pos_, static_cast<std::size_t>(n));
        pos_ += static_cast<std::size_t>(n);
        return s;
    }
    template <class T>
    std::optional<T> scalar() {
        auto s = take(sizeof(T));
        if (!s) return std::nullopt;
        T v;
        std::memcpy(&v, s->data(), sizeof(T));
        return v;
    }

  private:
    std::span<const std::byte> in_;
    std::size_t pos_ = 0;
};

}  // namespace ravel::snapshot_detail
