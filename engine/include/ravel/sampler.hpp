// Choosing the next token from logits. Settings are a plain value; the Sampler adds the mutable
// part (the repetition-penalty table and the random generator), which is what a resume record
// stores. Given the same seed and the same logits the same tokens come out on every machine:
// the generator is our own xoshiro256**, bits become doubles by our own arithmetic, and every
// ordering decision uses a strict total order (logit, then token id), so no library's sort or
// distribution implementation can change the result.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "ravel/result.hpp"

namespace ravel {

struct SamplerSettings {
    // 0 picks the arg-max (greedy); otherwise logits are divided by it. Range [0, 5].
    float temperature = 1.0f;
    // Keep only the k most likely tokens; 0 = off.
    int top_k = 0;
    // Keep the smallest set of most likely tokens whose probability sums to at least top_p.
    // Range (0, 1]; 1 = off.
    float top_p = 1.0f;
    // Drop tokens less likely than min_p times the most likely one. Range [0, 1); 0 = off.
    float min_p = 0.0f;
    // ChatRWKV's repetition penalty: logits[t] -= presence + weight[t] * frequency for every
    // token with weight > 0. Each accepted token first multiplies all weights by penalty_decay,
    // then adds 1 to its own weight (unless it is exempt: whitespace or digits).
    float presence_penalty = 0.0f;   // range [-5, 5]
    float frequency_penalty = 0.0f;  // range [-5, 5]
    float penalty_decay = 0.996f;    // range [0, 1]
    // Tokens that are never sampled.
    std::vector<std::int32_t> banned_tokens;
    // Generation stops when the text produced contains one of these (enforced by Generator;
    // the stop text itself is not part of the reply).
    std::vector<std::string> stop_sequences;
    int max_tokens = 512;  // range [1, 1'000'000]
    std::uint64_t seed = 0;

    // ChatRWKV's chat defaults (temperature 1, top-p 0.3, presence/frequency 0.5, decay 0.996).
    static SamplerSettings chat_defaults();

    // Checks every field; the message names the field, its allowed range and the bad value.
    Result<void> validate() const;

    bool operator==(const SamplerSettings& other) const = default;
};

// xoshiro256** (Blackman & Vigna), seeded through splitmix64. Small and exactly specified, so
// its output is identical everywhere.
class Xoshiro256 {
  public:
    explicit Xoshiro256(std::uint64_t seed = 0);
    std::uint64_t next();
    // Uniform in [0, 1): the top 53 bits scaled by 2^-53.
    double next_double();
    const std::array<std::uint64_t, 4>& state() const { return s_; }
    // Rejects the all-zero state, from which the generator never leaves.
    bool set_state(const std::array<std::uint64_t, 4>& s);

  private:
    std::array<std::uint64_t, 4> s_{};
};

class Sampler {
  public:
    // Construct only from settings that passed validate(); use create() for unchecked input.
    explicit Sampler(SamplerSettings settings = {});
    static Result<Sampler> create(SamplerSettings settings);

    const SamplerSettings& settings() const { return settings_; }
    // Replaces the settings but keeps the penalty table and the random generator's position, so
    // a /set in the middle of a chat does not reset history. Re-seeding needs reset().
    Result<void> update_settings(SamplerSettings settings);

    // Tokens whose mask entry is true never gain penalty weight (ChatRWKV exempts tokens that
    // decode to whitespace or digits). Built by the caller from its tokenizer; tokens beyond the
    // mask's size are not exempt.
    void set_penalty_exempt(std::shared_ptr<const std::vector<bool>> mask);

    // Chooses a token: bans (settings plus `extra_bans`, e.g. end-of-text at the first reply
    // token), penalties, then the filters top-k, top-p, min-p on the untempered distribution
    // (as ChatRWKV does, so a filter keeps the same set at every temperature), then temperature
    // over the survivors and a draw. Returns -1 when logits is empty or every token is banned.
    // Does not update the penalty table: call accept() with the token actually used.
    std::int32_t sample(std::span<const float> logits,
                        std::span<const std::int32_t> extra_bans = {});
    // The first step of sample(), exposed for inspection: sets banned tokens to -infinity and
    // subtracts the repetition penalties, in place.
    void adjust_logits(std::span<float> logits,
                       std::span<const std::int32_t> extra_bans = {}) const;
    // Records that `token` was emitted: decays every weight, then adds 1 to the token's own.
    void accept(std::int32_t token);

    // Forgets the penalty table and re-seeds the generator from settings().seed.
    void reset();

    // The resume record's sampler part: the generator state and the penalty table.
    std::vector<std::byte> save() const;
    // Rebuilds a sampler from save() output. The bytes are untrusted: every length, token id and
    // weight is checked, and nothing larger than the input is allocated.
    static Result<Sampler> restore(SamplerSettings settings, std::span<const std::byte> bytes,
                                   std::shared_ptr<const std::vector<bool>> penalty_exempt = {});

    // Current weight of a token in the penalty table (0 when absent).
    float penalty_weight(std::int32_t token) const;
    std::size_t penalty_entries() const { return weights_.size(); }
    std::uint64_t accepted_tokens() const { return accepted_; }
    const Xoshiro256& rng() const { return rng_; }
    // Replaces only the random generator, e.g. to regenerate a reply from an earlier penalty
    // table while still drawing fresh numbers.
    void set_rng(const Xoshiro256& rng) { rng_ = rng; }
    // Moves the generator past the numbers `count` calls of sample() would draw, without logits:
    // sample() draws exactly one number per call, none at temperature 0 (and none when every
    // token is banned, which a replay of tokens that were drawn cannot meet). Keep in step
    // with sample().
    void skip_draws(std::uint64_t count);

  private:
    bool exempt(std::int32_t token) const;

    // The steps of sample() (sampler_selection.cpp), over work_ and candidates_.
    bool better(std::int32_t a, std::int32_t b) const;
    double prob(std::int32_t t) const { return probs_[static_cast<std::size_t>(t)]; }
    // Finite logits become the candidates; returns the best (-1 for none) and its logit.
    std::int32_t collect_candidates(float& best_logit);
    void best_values(std::size_t count);
    void order_best();
    // probs_[t] = e^((logit - best) / temperature) for the candidates (or every word).
    void set_weights(float best_logit, float temperature);
    void keep_top_p(float best_logit);
    void keep_nucleus(double target, float best_logit, float lowest);
    std::int32_t draw();

    SamplerSettings settings_;
    Xoshiro256 rng_;
    std::unordered_map<std::int32_t, float> weights_;
    std::uint64_t accepted_ = 0;
    std::shared_ptr<const std::vector<bool>> exempt_;
    // Scratch reused between calls so sampling a 65536-token vocabulary does not allocate.
    std::vector<float> work_;
    std::vector<std::int32_t> candidates_;
    std::vector<float> values_;  // candidates' logits, for selecting the best few
    std::vector<double> probs_;
    std::vector<double> bucket_sums_;     // top-p: candidates' weights per logit bucket
    std::vector<std::uint16_t> buckets_;  // top-p: each candidate's bucket
    std::vector<std::int32_t> boundary_;  // top-p: the candidates of the bucket it ends in
    std::vector<std::int32_t> scratch_;   // top-p: a large boundary bucket, bucketed again
    std::vector<float> scaled_;           // logits / temperature, for tempered weights
    std::vector<double> block_sums_;      // the draw's weight per block of candidates
    std::vector<float> maxima_;           // the best few: each block's largest logit
};

}  // namespace ravel
