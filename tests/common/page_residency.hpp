// Which pages of a span are mapped into this process (/proc/self/pagemap), for tests of code
// that gives memory back to the system while keeping its address range.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include <fcntl.h>
#include <unistd.h>

namespace ravel::test {

// How many of the whole pages inside `bytes` are mapped into this process (/proc/self/pagemap,
// bit 63 of each page's entry); nullopt where pagemap cannot be read.
inline std::optional<std::size_t> present_pages(std::span<const std::byte> bytes) {
    const auto page = static_cast<std::uintptr_t>(::sysconf(_SC_PAGESIZE));
    const auto begin = (reinterpret_cast<std::uintptr_t>(bytes.data()) + page - 1) / page;
    const auto end = (reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size()) / page;
    const int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::size_t present = 0;
    bool ok = true;
    for (auto p = begin; p < end && ok; ++p) {
        std::uint64_t entry = 0;
        ok = ::pread(fd, &entry, sizeof entry, static_cast<off_t>(p * sizeof entry)) ==
             static_cast<ssize_t>(sizeof entry);
        present += (entry >> 63) & 1;
    }
    ::close(fd);
    if (!ok) return std::nullopt;
    return present;
}

}  // namespace ravel::test
