#include "ravel/session.hpp"

#include <algorithm>
#include <string>

#include "model/cpu/thread_pool.hpp"
#include "model/forward.hpp"

namespace ravel {

struct Session::Scratch {
    explicit Scratch(int threads) : pool(threads) { ws.pool = &pool; }
    detail::ThreadPool pool;
    detail::Workspace ws;
};

Session::Session(std::shared_ptr<const Model> model, const SessionOptions& options)
    : model_(std::move(model)),
      options_(options),
      state_(model_->config()),
      scratch_(std::make_unique<Scratch>(options.threads)) {}

int Session::threads() const {
    return scratch_->pool.size();
}

Session::~Session() = default;
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;

Session::Session(const Session& other)
    : model_(other.model_),
      options_(other.options_),
      state_(other.state_),
      logits_(other.logits_),
      tokens_processed_(other.tokens_processed_),
      scratch_(std::make_unique<Scratch>(other.options_.threads)) {}

Session& Session::operator=(const Session& other) {
    if (this != &other) {
        model_ = other.model_;
        options_ = other.options_;
        state_ = other.state_;
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
    logits_.resize(V);
    std::vector<float> rows;
    for (std::size_t start = 0; start < tokens.size(); start += static_cast<std::size_t>(chunk)) {
        if (options.cancel != nullptr && options.cancel->load(std::memory_order_relaxed)) {
            return cancelled_error();
        }
        const int T = static_cast<int>(std::min<std::size_t>(chunk, tokens.size() - start));
        const bool all = !options.all_logits.empty();
        float* out = all ? options.all_logits.data() + start * V : logits_.data();
        detail::forward(*model_, state_, tokens.data() + start, T, scratch_->ws, out, all);
        if (all) std::copy(out + (T - 1) * V, out + T * V, logits_.begin());
        tokens_processed_ += static_cast<std::uint64_t>(T);
    }
    return logits();
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
    logits_.clear();
    tokens_processed_ = 0;
}

}  // namespace ravel
