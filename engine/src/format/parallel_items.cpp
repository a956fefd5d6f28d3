#include "format/parallel_items.hpp"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

namespace ravel::format {

std::size_t item_workers(std::size_t items) {
    const std::size_t hardware = std::thread::hardware_concurrency();
    return std::max<std::size_t>(1, std::min({hardware, std::size_t{16}, items}));
}

Result<void> for_each_item(std::size_t items, std::size_t workers,
                           const std::function<Result<void>(std::size_t, std::size_t)>& work) {
    std::atomic<std::size_t> next{0};
    std::atomic<bool> failed{false};
    std::mutex error_mutex;
    std::optional<Error> error;
    auto fail = [&](Error e) {
        const std::lock_guard lock(error_mutex);
        if (!error) error = std::move(e);
        failed = true;
    };
    auto run = [&](std::size_t worker) noexcept {
        try {
            for (std::size_t i = next++; i < items && !failed; i = next++) {
                if (auto ok = work(worker, i); !ok) return fail(ok.error());
            }
        } catch (const std::bad_alloc&) {
            fail(make_error("out of memory"));
        }
    };
    std::vector<std::thread> helpers;
    try {
        for (std::size_t w = 1; w < std::max<std::size_t>(workers, 1); ++w) {
            helpers.emplace_back(run, w);
        }
    } catch (const std::system_error&) {
        // No more threads to be had: those started and this one share the items.
    }
    run(0);
    for (auto& t : helpers) t.join();
    if (error) return *error;
    return {};
}

}  // namespace ravel::format
