#include "format/zip_reader.hpp"

#include <algorithm>
#include <limits>

#include "format/le_bytes.hpp"

namespace ravel::format {

namespace {
constexpr std::uint32_t kLocalSig = 0x04034b50;
constexpr std::uint32_t kCentralSig = 0x02014b50;
constexpr std::uint32_t kEocdSig = 0x06054b50;
constexpr std::uint32_t kZip64EocdSig = 0x06064b50;
constexpr std::uint32_t kZip64LocatorSig = 0x07064b50;
constexpr std::size_t kEocdSize = 22;
constexpr std::size_t kZip64LocatorSize = 20;
constexpr std::size_t kZip64EocdSize = 56;
constexpr std::size_t kCentralSize = 46;
constexpr std::size_t kLocalSize = 30;
constexpr std::uint32_t k32Max = 0xffffffffu;
constexpr std::uint16_t k16Max = 0xffffu;

// True when [offset, offset + length) lies inside a buffer of `size` bytes, without overflow.
bool fits(std::uint64_t offset, std::uint64_t length, std::uint64_t size) {
    return offset <= size && length <= size - offset;
}

struct Directory {
    std::uint64_t entries = 0;
    std::uint64_t size = 0;
    std::uint64_t offset = 0;
};

Result<Directory> read_zip64_directory(std::span<const std::byte> a, std::size_t eocd) {
    const std::byte* loc = a.data() + eocd - kZip64LocatorSize;
    const std::uint64_t record = load_u64(loc + 8);
    if (!fits(record, kZip64EocdSize, a.size())) {
        return make_error("zip64 end-of-directory record offset " + std::to_string(record) +
                          " lies outside the " + std::to_string(a.size()) + "-byte file");
    }
    const std::byte* z = a.data() + record;
    if (load_u32(z) != kZip64EocdSig) {
        return make_error("zip64 end-of-directory record at offset " + std::to_string(record) +
                          " has a bad signature");
    }
    if (load_u32(z + 16) != 0 || load_u32(z + 20) != 0) {
        return make_error("multi-disk zip archives are not supported");
    }
    return Directory{load_u64(z + 32), load_u64(z + 40), load_u64(z + 48)};
}

Result<Directory> read_directory_location(std::span<const std::byte> a) {
    if (a.size() < kEocdSize) {
        return make_error("not a complete zip archive: " + std::to_string(a.size()) +
                          " bytes is too short for the end-of-directory record");
    }
    // The record sits at the end, followed only by a comment of at most 65535 bytes.
    const std::size_t last = a.size() - kEocdSize;
    const std::size_t first = last > 0xffff ? last - 0xffff : 0;
    std::size_t eocd = a.size();
    for (std::size_t pos = last + 1; pos-- > first;) {
        if (load_u32(a.data() + pos) == kEocdSig &&
            pos + kEocdSize + load_u16(a.data() + pos + 20) <= a.size()) {
            eocd = pos;
            break;
        }
    }
    if (eocd == a.size()) {
        return make_error(
            "not a complete zip archive: end-of-central-directory record not found (truncated "
            "file?)");
    }
    const std::byte* e = a.data() + eocd;
    if (load_u16(e + 4) != 0 || load_u16(e + 6) != 0) {
        return make_error("multi-disk zip archives are not supported");
    }
    Directory dir{load_u16(e + 10), load_u32(e + 12), load_u32(e + 16)};
    const bool has_locator = eocd >= kZip64LocatorSize &&
                             load_u32(a.data() + eocd - kZip64LocatorSize) == kZip64LocatorSig;
    if (has_locator) return read_zip64_directory(a, eocd);
    if (dir.entries == k16Max || dir.size == k32Max || dir.offset == k32Max) {
        return make_error("zip64 archive without a zip64 end-of-directory locator");
    }
    return dir;
}

// Replaces the 32-bit fields that are saturated with the values from the zip64 extra field.
Result<void> apply_zip64_extra(const std::byte* extra, std::size_t length, std::uint64_t& size,
                               std::uint64_t& csize, std::uint64_t& offset,
                               const std::string& name) {
    const bool need_size = size == k32Max;
    const bool need_csize = csize == k32Max;
    const bool need_offset = offset == k32Max;
    if (!need_size && !need_csize && !need_offset) return {};
    std::size_t pos = 0;
    while (pos + 4 <= length) {
        const std::uint16_t id = load_u16(extra + pos);
        const std::uint16_t field = load_u16(extra + pos + 2);
        pos += 4;
        if (field > length - pos) break;
        if (id == 0x0001) {
            const std::byte* f = extra + pos;
            std::size_t left = field;
            auto take = [&](std::uint64_t& out) {
                if (left < 8) return false;
                out = load_u64(f);
                f += 8;
                left -= 8;
                return true;
            };
            if ((need_size && !take(size)) || (need_csize && !take(csize)) ||
                (need_offset && !take(offset))) {
                return make_error("zip entry '" + name + "': zip64 extra field is too short");
            }
            return {};
        }
        pos += field;
    }
    return make_error("zip entry '" + name + "': sizes need a zip64 extra field, which is missing");
}
}  // namespace

Result<ZipReader> ZipReader::open(std::span<const std::byte> a) {
    auto loc = read_directory_location(a);
    if (!loc) return loc.error();
    const Directory dir = *loc;
    if (!fits(dir.offset, dir.size, a.size())) {
        return make_error("zip central directory (offset " + std::to_string(dir.offset) + ", " +
                          std::to_string(dir.size) + " bytes) runs past the end of the " +
                          std::to_string(a.size()) + "-byte file");
    }
    // Each entry needs at least kCentralSize bytes, so the count is bounded before reserving.
    if (dir.entries > dir.size / kCentralSize) {
        return make_error("zip directory claims " + std::to_string(dir.entries) +
                          " entries but holds only " + std::to_string(dir.size) + " bytes");
    }

    ZipReader zip;
    zip.archive_ = a;
    zip.entries_.reserve(static_cast<std::size_t>(dir.entries));
    std::uint64_t pos = dir.offset;
    const std::uint64_t end = dir.offset + dir.size;
    for (std::uint64_t i = 0; i < dir.entries; ++i) {
        if (!fits(pos, kCentralSize, end) || load_u32(a.data() + pos) != kCentralSig) {
            return make_error("zip central directory entry " + std::to_string(i) +
                              " is damaged (bad signature or past the directory's end)");
        }
        const std::byte* c = a.data() + pos;
        const std::uint16_t flags = load_u16(c + 8);
        const std::uint16_t method = load_u16(c + 10);
        std::uint64_t csize = load_u32(c + 20);
        std::uint64_t size = load_u32(c + 24);
        const std::size_t name_len = load_u16(c + 28);
        const std::size_t extra_len = load_u16(c + 30);
        const std::size_t comment_len = load_u16(c + 32);
        std::uint64_t local = load_u32(c + 42);
        if (!fits(pos + kCentralSize, name_len + extra_len + comment_len, end)) {
            return make_error("zip central directory entry " + std::to_string(i) +
                              " runs past the directory's end");
        }
        std::string name(reinterpret_cast<const char*>(c + kCentralSize), name_len);
        if (auto r =
                apply_zip64_extra(c + kCentralSize + name_len, extra_len, size, csize, local, name);
            !r) {
            return r.error();
        }
        pos += kCentralSize + name_len + extra_len + comment_len;

        if (flags & 1u) return make_error("zip entry '" + name + "' is encrypted");
        if (method != 0) {
            return make_error("zip entry '" + name + "' is compressed (method " +
                              std::to_string(method) +
                              "); only stored entries are supported, as PyTorch writes them");
        }
        if (csize != size) {
            return make_error("zip entry '" + name + "' is stored but its compressed size " +
                              std::to_string(csize) + " differs from its size " +
                              std::to_string(size));
        }
        if (!fits(local, kLocalSize, a.size())) {
            return make_error("zip entry '" + name + "': local header offset " +
                              std::to_string(local) + " lies outside the " +
                              std::to_string(a.size()) + "-byte file");
        }
        const std::byte* l = a.data() + local;
        if (load_u32(l) != kLocalSig) {
            return make_error("zip entry '" + name + "': no local header at offset " +
                              std::to_string(local) + " (bad signature)");
        }
        const std::size_t local_name = load_u16(l + 26);
        const std::size_t local_extra = load_u16(l + 28);
        if (!fits(local + kLocalSize, local_name + local_extra, a.size()) ||
            local_name != name_len || std::memcmp(l + kLocalSize, name.data(), name_len) != 0) {
            return make_error("zip entry '" + name + "': local header at offset " +
                              std::to_string(local) + " does not match the central directory");
        }
        const std::uint64_t data = local + kLocalSize + local_name + local_extra;
        if (!fits(data, size, a.size())) {
            return make_error("zip entry '" + name + "': its " + std::to_string(size) +
                              " bytes at offset " + std::to_string(data) +
                              " run past the end of the " + std::to_string(a.size()) +
                              "-byte file");
        }
        zip.entries_.push_back(ZipEntry{std::move(name), data, size});
    }

    std::sort(zip.entries_.begin(), zip.entries_.end(),
              [](const ZipEntry& x, const ZipEntry& y) { return x.name < y.name; });
    const auto dup =
        std::adjacent_find(zip.entries_.begin(), zip.entries_.end(),
                           [](const ZipEntry& x, const ZipEntry& y) { return x.name == y.name; });
    if (dup != zip.entries_.end()) {
        return make_error("zip entry '" + dup->name + "' appears twice");
    }
    return zip;
}

const ZipEntry* ZipReader::find(std::string_view name) const {
    const auto it =
        std::lower_bound(entries_.begin(), entries_.end(), name,
                         [](const ZipEntry& e, std::string_view n) { return e.name < n; });
    if (it == entries_.end() || it->name != name) return nullptr;
    return &*it;
}

std::span<const std::byte> ZipReader::data(const ZipEntry& entry) const {
    return archive_.subspan(static_cast<std::size_t>(entry.data_offset),
                            static_cast<std::size_t>(entry.size));
}

}  // namespace ravel::format
