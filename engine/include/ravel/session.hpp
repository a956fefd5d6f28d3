// A model plus a state plus scratch buffers. One session is used by one thread at a time;
// several sessions may share one Model.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ravel/model.hpp"
#include "ravel/result.hpp"
#include "ravel/state.hpp"

namespace ravel {

namespace detail {
class ThreadPool;
}

// Prompt tokens per sequence-mode chunk on the CPU, for the app, `ravel-cli chat` and `bench`
// alike. The GEMM is as efficient at 64 as at 512 tokens; per-chunk costs (one barrier per
// product, the recurrences' start) favour longer chunks, and cancelling waits for one chunk
// (about 0.1-0.2 s at 128 on two cores for a 0.1B model).
constexpr int kDefaultPromptChunk = 128;

struct FeedOptions {
    // Tokens per sequence-mode chunk; the prompt is processed as matrix-matrix work per chunk.
    int chunk_size = kDefaultPromptChunk;
    // Checked between chunks; when set, feed stops with a cancelled error. The state then holds
    // every whole chunk processed so far (see Session::tokens_processed()).
    const std::atomic<bool>* cancel = nullptr;
    // When non-empty, receives one row of n_vocab logits per fed token.
    std::span<float> all_logits;
};

struct SessionOptions {
    // CPU threads for matrix products, counting the calling thread; 0 = default_thread_count()
    // (ravel/machine.hpp): one per physical core the process may run on.
    int threads = 1;
};

class Session {
  public:
    explicit Session(std::shared_ptr<const Model> model, const SessionOptions& options = {});
    ~Session();
    Session(const Session& other);  // forks: same model, copied state and logits
    Session& operator=(const Session& other);
    Session(Session&&) noexcept;
    Session& operator=(Session&&) noexcept;

    const Model& model() const { return *model_; }
    const std::shared_ptr<const Model>& model_ptr() const { return model_; }

    // One-token mode. Returns the logits after `token` (valid until the next call).
    Result<std::span<const float>> step(std::int32_t token);
    // Sequence mode: the same result as stepping token by token.
    Result<std::span<const float>> feed(std::span<const std::int32_t> tokens,
                                        const FeedOptions& options = {});

    // Logits after the last processed token (empty before the first).
    std::span<const float> logits() const;
    // On a GPU model the state lives on the device and is copied back here when asked for.
    const State& state() const;
    Result<void> set_state(const State& state);
    // Restores state, last logits and token count together (used when resuming).
    Result<void> restore(const State& state, std::span<const float> logits,
                         std::uint64_t tokens_processed);
    std::uint64_t tokens_processed() const { return tokens_processed_; }
    void reset();
    int threads() const;

  private:
    // A read pass (ravel/machine.hpp) runs on this session's CPU threads.
    friend class ReadPasses;
    detail::ThreadPool& cpu_pool();

    struct Scratch;
    std::shared_ptr<const Model> model_;
    SessionOptions options_;
    mutable State state_;  // a GPU session refreshes it from the device in state()
    std::vector<float> logits_;
    std::uint64_t tokens_processed_ = 0;
    std::unique_ptr<Scratch> scratch_;
};

}  // namespace ravel
