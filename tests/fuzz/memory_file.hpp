// The readers under fuzzing take paths; each input becomes an anonymous memory file opened
// through /proc/self/fd, so nothing touches the disk.
#pragma once

#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace ravel::fuzz {

class MemoryFile {
  public:
    MemoryFile(const std::uint8_t* data, std::size_t size) {
        fd_ = memfd_create("ravel-fuzz", MFD_CLOEXEC);
        if (fd_ < 0) return;
        std::size_t written = 0;
        while (written < size) {
            const ssize_t n = write(fd_, data + written, size - written);
            if (n <= 0) break;
            written += static_cast<std::size_t>(n);
        }
        complete_ = written == size;
    }
    ~MemoryFile() {
        if (fd_ >= 0) close(fd_);
    }
    MemoryFile(const MemoryFile&) = delete;
    MemoryFile& operator=(const MemoryFile&) = delete;

    bool ok() const { return fd_ >= 0 && complete_; }
    std::string path() const { return "/proc/self/fd/" + std::to_string(fd_); }

  private:
    int fd_ = -1;
    bool complete_ = false;
};

}  // namespace ravel::fuzz
