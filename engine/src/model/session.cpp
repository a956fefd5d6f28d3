#include "ravel/session.hpp"

#include <algorithm>
#include <string>

#include "model/cpu/thread_pool.hpp"
#include "model/forward.hpp"
#if RAVEL_HAVE_CUDA
#include <cstdlib>

#include "cuda/cuda_session.hpp"
#endif

namespace ravel {

struct Session::Scratch {
    explicit Scratch(int threads) : pool(threads) { ws.pool = &pool; }
    detail::ThreadPool pool;
    detail::Workspace ws;
#if RAVEL_HAVE_CUDA
    // A model on a GPU runs there; the state's truth is on the device between calls.
    std::unique_ptr<detail::CudaSession> gpu;
    bool host_newer = true;     // the host state changed since the last upload
    bool device_newer = false;  // the device ran tokens since the last download

    Result<void> gpu_ready(const std::shared_ptr<const Model>& model, const State& state) {
        if (!gpu) {
            detail::CudaSessionOptions o;
            const char* graphs = std::getenv("RAVEL_CUDA_GRAPHS");
            o.graphs = graphs == nullptr || std::string(graphs) != "0";
            const char* seq = std::getenv("RAVEL_CUDA_SEQUENCE_WKV");
            o.force_sequence_wkv = seq != nullptr && std::string(seq) == "1";
            auto s = detail::CudaSession::create(model, o);
            if (!s) return s.error();
            gpu = std::move(*s);
            host_newer = true;
        }
        if (host_newer) {
            if (auto ok = gpu->upload_state(state.values()); !ok) return ok;
            host_newer = false;
            device_newer = false;
        }
        return {};
    }
    void host_changed() {
        host_newer = true;
        device_newer = false;
    }
    void sync_to_host(State& state) {
        if (gpu && device_newer && gpu->download_state(state.values())) device_newer = false;
    }
#else
    void host_changed() {}
#endif
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : model_(std::move(model)),
      options_(options),
      state_(model_->config()),
      scratch_(std::make_unique<Scratch>(options.threads)) {}

int Session::threads() const {
    return scratch_->pool.size();
}

detail::ThreadPool& Session::cpu_pool() {
    return scratch_->pool;
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Session::Session(const Session& other)
    : model_(other.model_),
      options_(other.options_),
      state_(other.state()),
      logits_(other.logits_),
      tokens_processed_(other.tokens_processed_),
      scratch_(std::make_unique<Scratch>(other.options_.threads)) {}

Session& Session::operator=(const Session& other) {
    if (this != &other) {
        model_ = other.model_;
        options_ = other.options_;
        state_ = other.state();
        logits_ = other.logits_;
        tokens_processed_ = other.tokens_processed_;
        scratch_ = std::make_unique<Scratch>(other.options_.threads);
    }
    return *this;
}

namespace {
Result<void> check_tokens(std::span<const std::int32_t> tokens, int n_vocab) {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
        if (tokens[i] < 0 || tokens[i] >= n_vocab) {
            return make_error("token " + std::to_string(tokens[i]) + " at position " +
                              std::to_string(i) + " is outside the model's vocabulary (0.." +
                              std::to_string(n_vocab - 1) + ")");
        }
    }
    return {};
}
}  // namespace

Result<std::span<const float>> Session::step(std::int32_t token) {
    return feed(std::span<const std::int32_t>(&token, 1), FeedOptions{1, nullptr, {}});
}

Result<std::span<const float>> Session::feed(std::span<const std::int32_t> tokens,
                                             const FeedOptions& options) {
    const ModelConfig& cfg = model_->config();
    const std::size_t V = static_cast<std::size_t>(cfg.n_vocab);
    if (tokens.empty()) return logits();
    if (auto ok = check_tokens(tokens, cfg.n_vocab); !ok) return ok.error();
    if (!options.all_logits.empty() && options.all_logits.size() < tokens.size() * V) {
        return make_error("all_logits buffer holds " + std::to_string(options.all_logits.size()) +
                          " values; " + std::to_string(tokens.size() * V) + " are needed");
    }
    const int chunk = std::max(1, options.chunk_size);
#if RAVEL_HAVE_CUDA
    const bool on_gpu = model_->cuda_model() != nullptr;
    if (on_gpu) {
        if (auto ok = scratch_->gpu_ready(model_, state_); !ok) return ok.error();
    }
#endif
    logits_.resize(V);
    // Only the last chunk needs logits unless every row is asked for: the head is the largest
    // matrix, and its one-row product is memory-bound. `skipped` is the size of the last chunk
    // run without them, so a cancelled feed can still leave the logits of its last token.
    int skipped = 0;
    for (std::size_t start = 0; start < tokens.size(); start += static_cast<std::size_t>(chunk)) {
        if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) {
            if (skipped > 0) detail::head(*model_, scratch_->ws, skipped, logits_.data(), false);
            return cancelled_error();
        }
        const int T = static_cast<int>(std::min<std::size_t>(chunk, tokens.size() - start));
        const bool all = !options.all_logits.empty();
        const bool last = start + static_cast<std::size_t>(T) == tokens.size();
        float* out = all ? options.all_logits.data() + start * V : logits_.data();
#if RAVEL_HAVE_CUDA
        if (on_gpu) {
            scratch_->device_newer = true;
            if (auto ok = scratch_->gpu->forward(tokens.data() + start, T, out, all); !ok) {
                return ok.error();
            }
        } else {
            detail::forward(*model_, state_, tokens.data() + start, T, scratch_->ws,
                            all || last ? out : nullptr, all);
            skipped = all || last ? 0 : T;
        }
#else
        detail::forward(*model_, state_, tokens.data() + start, T, scratch_->ws,
                        all || last ? out : nullptr, all);
        skipped = all || last ? 0 : T;
#endif
        if (all) std::copy(out + (T - 1) * V, out + T * V, logits_.begin());
        tokens_processed_ += static_cast<std::uint64_t>(T);
    }
    return logits();
}

const State& Session::state() const {
#if RAVEL_HAVE_CUDA
    if (scratch_) scratch_->sync_to_host(state_);
#endif
    return state_;
}

std::span<const float> Session::logits() const {
    return logits_;
}

Result<void> Session::set_state(const State& state) {
    if (!state.fits(model_->config())) {
        return make_error("this state was made for a different model shape (RWKV " +
                          std::string(arch_name(state.config().arch)) + ", " +
                          std::to_string(state.config().n_layer) + " layers, width " +
                          std::to_string(state.config().n_embd) + ")");
    }
    state_ = state;
    if (scratch_) scratch_->host_changed();
    return {};
}

Result<void> Session::restore(const State& state, std::span<const float> logits,
                              std::uint64_t tokens_processed) {
    if (!logits.empty() && logits.size() != static_cast<std::size_t>(model_->config().n_vocab)) {
        return make_error("saved logits have " + std::to_string(logits.size()) +
                          " values; the model's vocabulary has " +
                          std::to_string(model_->config().n_vocab));
    }
    if (auto ok = set_state(state); !ok) return ok;
    logits_.assign(logits.begin(), logits.end());
    tokens_processed_ = tokens_processed;
    return {};
}

void Session::reset() {
    state_.reset();
    if (scratch_) scratch_->host_changed();
    logits_.clear();
    tokens_processed_ = 0;
}

}  // namespace ravel
