#include "cuda/cuda_session.hpp"

#include <algorithm>
#include <string>

#include "ravel_kernels/blas.hpp"
#include "ravel_kernels/elementwise.hpp"
#include "ravel_kernels/matvec.hpp"
#include "ravel_kernels/norm.hpp"
#include "ravel_kernels/runtime.hpp"
#include "ravel_kernels/wkv4.hpp"
#include "ravel_kernels/wkv5.hpp"
#include "ravel_kernels/wkv7.hpp"

namespace ravel::detail {

namespace k = ravel::kernels;

namespace {

// Up to this many tokens a product reads each weight once through the matvec kernels; longer
// chunks go through cuBLAS.
constexpr int kMatvecTokens = 4;
constexpr float kLayerNormEps = 1e-5f;
constexpr float kGroupNormEps = 64e-5f;
constexpr float kNormalizeEps = 1e-12f;
constexpr int kFloatBuffers = 19;  // T x C buffers in the workspace

// Floats per token of the LoRA buffers: RWKV-7 keeps its four first halves side by side.
int lora_width(const ModelConfig& cfg) {
    return std::max(
        {5 * cfg.lora_mix, cfg.lora_decay, cfg.lora_w + cfg.lora_a + cfg.lora_v + cfg.lora_g, 1});
}

std::size_t aligned(std::size_t n) {
    return (n + 255) / 256 * 256;
}

struct Layout {
    std::size_t tc, ffn, lora, logits, tokens, scratch, total;
};

Layout layout_for(const ModelConfig& cfg, const CudaModel* cm, int T) {
    const std::size_t t = static_cast<std::size_t>(T);
    Layout l{};
    l.tc = aligned(t * cfg.n_embd * sizeof(float));
    l.ffn = aligned(t * cfg.dim_ffn * sizeof(float));
    l.lora = aligned(t * lora_width(cfg) * sizeof(float));
    l.logits = aligned(t * cfg.n_vocab * sizeof(float));
    l.tokens = aligned(t * sizeof(int));
    l.scratch = 0;
    if (cm != nullptr) {
        for (const WeightView& w : cm->matrices) {
            l.scratch = std::max(l.scratch, k::gemm_scratch_bytes(w, T));
        }
    } else {
        // Before upload: the widest input rounded to 16 bits, plus a quantized slice.
        const std::size_t cols = static_cast<std::size_t>(std::max(cfg.n_embd, cfg.dim_ffn));
        l.scratch = aligned(t * cols * 2) + (64u << 20);
    }
    l.scratch = aligned(l.scratch);
    l.total = kFloatBuffers * l.tc + l.ffn + 2 * l.lora + l.logits + l.tokens + l.scratch;
    return l;
}

}  // namespace

std::uint64_t CudaSession::workspace_bytes(const ModelConfig& config, int tokens) {
    return layout_for(config, nullptr, tokens).total + config.state_floats() * sizeof(float);
}

CudaSession::CudaSession(std::shared_ptr<const Model> model, const CudaSessionOptions& options)
    : model_(std::move(model)), cm_(*model_->cuda_model()), options_(options) {}

Result<std::unique_ptr<CudaSession>> CudaSession::create(std::shared_ptr<const Model> model,
                                                         const CudaSessionOptions& options) {
    if (model->cuda_model() == nullptr) return make_error("the model is not on a GPU");
    std::unique_ptr<CudaSession> s(new CudaSession(std::move(model), options));
    if (auto e = k::set_device(s->cm_.device); e != 0) {
        return make_error(std::string("cannot select the GPU: ") + k::error_string(e));
    }
    if (auto e = k::stream_create(&s->stream_); e != 0) {
        return make_error(std::string("cannot create a CUDA stream: ") + k::error_string(e));
    }
    std::string why;
    s->blas_ = k::blas_create(s->stream_, why);
    if (s->blas_ == nullptr) return make_error(why);
    const std::size_t state_bytes = s->model_->config().state_floats() * sizeof(float);
    void* state = nullptr;
    if (auto e = k::device_alloc(&state, state_bytes); e != 0) {
        k::last_error();
        return make_error("cannot allocate the recurrent state on the GPU: " +
                          std::string(k::error_string(e)));
    }
    s->state_ = static_cast<float*>(state);
    return s;
}

CudaSession::~CudaSession() {
    k::set_device(cm_.device);
    if (stream_ != nullptr) k::stream_sync(stream_);
    release_workspace();
    if (state_ != nullptr) k::device_free(state_);
    k::blas_destroy(blas_);
    if (stream_ != nullptr) k::stream_destroy(stream_);
}

void CudaSession::release_workspace() {
    k::graph_destroy(graph_);
    graph_ = nullptr;
    if (work_ != nullptr) k::device_free(work_);
    work_ = nullptr;
    capacity_ = 0;
}

Result<void> CudaSession::ensure_capacity(int tokens) {
    if (tokens <= capacity_) return {};
    if (stream_ != nullptr) k::stream_sync(stream_);
    release_workspace();
    const Layout l = layout_for(model_->config(), &cm_, tokens);
    void* work = nullptr;
    if (auto e = k::device_alloc(&work, l.total); e != 0) {
        k::last_error();
        return make_error("cannot allocate " + std::to_string(l.total >> 20) +
                          " MiB of GPU workspace for " + std::to_string(tokens) +
                          " tokens: " + k::error_string(e) + " (use smaller chunks)");
    }
    work_ = work;
    capacity_ = tokens;
    auto* p = static_cast<std::byte*>(work);
    auto take = [&p](std::size_t bytes) {
        std::byte* out = p;
        p += bytes;
        return out;
    };
    float** tc_buffers[kFloatBuffers] = {&x_,    &xx_, &t_[0],    &t_[1], &t_[2],  &t_[3], &t_[4],
                                         &t_[5], &r_,  &k_,       &v_,    &g_,     &w_,    &a_,
                                         &y_,    &kk_, &v_first_, &vres_, &normed_};
    for (float** b : tc_buffers) *b = reinterpret_cast<float*>(take(l.tc));
    ffn_ = reinterpret_cast<float*>(take(l.ffn));
    lora_in_ = reinterpret_cast<float*>(take(l.lora));
    lora_out_ = reinterpret_cast<float*>(take(l.lora));
    logits_ = reinterpret_cast<float*>(take(l.logits));
    tokens_ = reinterpret_cast<int*>(take(l.tokens));
    gemm_scratch_ = take(l.scratch);
    gemm_scratch_bytes_ = l.scratch;
    return {};
}

void CudaSession::check(int status, const char* what) {
    if (status != 0 && error_.empty()) {
        error_ = std::string(what) + ": " + k::error_string(status);
    }
}

Result<void> CudaSession::take_error() {
    if (error_.empty()) return {};
    std::string e = "GPU forward pass failed: " + error_;
    error_.clear();
    return make_error(std::move(e));
}

CudaSession::LayerPtrs CudaSession::layer_state(int l) const {
    const ModelConfig& cfg = model_->config();
    const std::size_t C = static_cast<std::size_t>(cfg.n_embd);
    const std::size_t per_layer = cfg.state_floats() / static_cast<std::size_t>(cfg.n_layer);
    float* base = state_ + per_layer * static_cast<std::size_t>(l);
    return {base, base + C, base + per_layer - C};
}

Result<void> CudaSession::upload_state(std::span<const float> values) {
    if (values.size() != model_->config().state_floats()) {
        return make_error("state has the wrong size for this model");
    }
    k::set_device(cm_.device);
    check(k::copy_h2d_async(state_, values.data(), values.size_bytes(), stream_), "state upload");
    check(k::stream_sync(stream_), "state upload");
    return take_error();
}

Result<void> CudaSession::download_state(std::span<float> values) {
    if (values.size() != model_->config().state_floats()) {
        return make_error("state has the wrong size for this model");
    }
    k::set_device(cm_.device);
    check(k::copy_d2h_async(values.data(), state_, values.size_bytes(), stream_), "state download");
    check(k::stream_sync(stream_), "state download");
    return take_error();
}

void CudaSession::matmul(const WeightView& w, const float* x, int ldx, int T, float* y, int ldy,
                         bool accumulate, k::Activation act) {
    if (T <= kMatvecTokens) {
        check(k::matvec(w, x, ldx, T, y, ldy, accumulate, stream_, act), "matrix-vector product");
    } else {
        check(k::gemm(blas_, w, x, ldx, T, y, ldy, accumulate, gemm_scratch_, gemm_scratch_bytes_,
                      stream_),
              "cuBLAS product");
        check(k::activate(y, T, w.rows, ldy, act, stream_), "activation");
    }
}

void CudaSession::products(std::initializer_list<Product> list, int T) {
    if (T == 1 && list.size() > 1 && list.size() <= static_cast<std::size_t>(k::kMaxMatvecJobs)) {
        k::MatvecJob jobs[k::kMaxMatvecJobs];
        int n = 0;
        for (const Product& p : list) jobs[n++] = {*p.w, p.x, p.y, p.accumulate, p.act};
        check(k::matvec_group(jobs, n, stream_), "matrix-vector products");
        return;
    }
    for (const Product& p : list) matmul(*p.w, p.x, p.ldx, T, p.y, p.ldy, p.accumulate, p.act);
}

void CudaSession::norm_shift(const float* x, const float* ln_w, const float* ln_b, float* prev,
                             int T, const k::MixSet& set, k::MixMode mode, const char* what) {
    const int C = model_->config().n_embd;
    if (T == 1) {
        check(k::layer_norm_shift(x, ln_w, ln_b, xx_, prev, C, kLayerNormEps, set, mode, stream_),
              what);
        return;
    }
    check(k::layer_norm(x, ln_w, ln_b, xx_, T, C, kLayerNormEps, stream_), what);
    shift(xx_, prev, T, set, mode, what);
}

void CudaSession::shift(const float* xx, float* prev, int T, const k::MixSet& set, k::MixMode mode,
                        const char* what) {
    const int C = model_->config().n_embd;
    check(k::token_mix(xx, prev, T, C, set, mode, stream_), what);
    check(k::copy_d2d_async(prev, xx + static_cast<std::size_t>(T - 1) * C, sizeof(float) * C,
                            stream_),
          what);
}

Result<void> CudaSession::forward(const std::int32_t* tokens, int T, float* logits, bool all_rows) {
    if (T <= 0) return {};
    if (auto e = k::set_device(cm_.device); e != 0) {
        return make_error(std::string("cannot select the GPU: ") + k::error_string(e));
    }
    if (auto ok = ensure_capacity(T); !ok) return ok;
    static_assert(sizeof(std::int32_t) == sizeof(int));
    check(k::copy_h2d_async(tokens_, tokens, sizeof(int) * static_cast<std::size_t>(T), stream_),
          "token upload");
    if (T == 1 && options_.graphs && !graph_failed_) {
        if (graph_ == nullptr) {
            // Capture records the launches without running them; the replay below runs them.
            int s = k::capture_begin(stream_);
            if (s == 0) {
                enqueue(1, all_rows);
                s = k::capture_end(stream_, &graph_);
            }
            if (s != 0 || !error_.empty()) {
                // Not capturable here (an old driver, a tool): decode without a graph.
                k::graph_destroy(graph_);
                graph_ = nullptr;
                graph_failed_ = true;
                error_.clear();
                k::last_error();
            }
        }
        if (graph_ != nullptr) {
            check(k::graph_launch(graph_, stream_), "graph launch");
        } else {
            enqueue(1, all_rows);
        }
    } else {
        enqueue(T, all_rows);
    }
    const std::size_t rows = all_rows ? static_cast<std::size_t>(T) : 1;
    check(k::copy_d2h_async(logits, logits_,
                            rows * static_cast<std::size_t>(model_->config().n_vocab) * 4, stream_),
          "logits download");
    check(k::stream_sync(stream_), "forward pass");
    return take_error();
}

void CudaSession::enqueue(int T, bool all_rows) {
    const ModelConfig& cfg = model_->config();
    const int C = cfg.n_embd;
    check(k::gather_rows(cm_.emb, tokens_, T, x_, stream_), "embedding");
    for (int l = 0; l < cfg.n_layer; ++l) {
        switch (cfg.arch) {
            case Arch::V4:
                time_mix_v4(l, T);
                break;
            case Arch::V5_2:
            case Arch::V6:
                time_mix_v5(l, T);
                break;
            case Arch::V7:
                time_mix_v7(l, T);
                break;
        }
        channel_mix(l, T);
    }
    const int first = all_rows ? 0 : T - 1;
    const int rows = T - first;
    check(k::layer_norm(x_ + static_cast<std::size_t>(first) * C, cm_.ln_out_w, cm_.ln_out_b,
                        normed_, rows, C, kLayerNormEps, stream_),
          "output layer norm");
    matmul(cm_.head, normed_, C, rows, logits_, cfg.n_vocab, false);
}

namespace {
k::MixSet mix_set(std::initializer_list<k::MixTerm> terms) {
    k::MixSet s;
    for (const k::MixTerm& t : terms) s.terms[s.count++] = t;
    return s;
}
}  // namespace

void CudaSession::time_mix_v4(int l, int T) {
    const int C = model_->config().n_embd;
    const CudaLayer& w = cm_.layers[static_cast<std::size_t>(l)];
    const LayerPtrs s = layer_state(l);
    norm_shift(
        x_, w.ln1_w, w.ln1_b, s.att_x_prev, T,
        mix_set({{w.mix_k, nullptr, t_[0]}, {w.mix_v, nullptr, t_[1]}, {w.mix_r, nullptr, t_[2]}}),
        k::MixMode::Blend, "ln1 and token shift");
    products(
        {{&w.att_k, t_[0], C, k_, C}, {&w.att_v, t_[1], C, v_, C}, {&w.att_r, t_[2], C, r_, C}}, T);
    check(k::wkv4(T, C, w.decay, w.bonus, k_, v_, r_, s.att, s.att + C, s.att + 2 * C, y_, stream_),
          "WKV v4");
    matmul(w.att_o, y_, C, T, x_, C, true);
}

void CudaSession::time_mix_v5(int l, int T) {
    const ModelConfig& cfg = model_->config();
    const int C = cfg.n_embd, H = cfg.n_head, N = cfg.head_size;
    const bool v6 = cfg.arch == Arch::V6;
    const CudaLayer& w = cm_.layers[static_cast<std::size_t>(l)];
    const LayerPtrs s = layer_state(l);
    float *xw = t_[0], *xk = t_[1], *xv = t_[2], *xr = t_[3], *xg = t_[4], *xxx = t_[5];
    const float* decay = w.decay;
    if (v6) {
        check(k::layer_norm(x_, w.ln1_w, w.ln1_b, xx_, T, C, kLayerNormEps, stream_), "ln1");
        const int D = cfg.lora_mix;
        check(k::token_mix(xx_, s.att_x_prev, T, C, mix_set({{w.maa_x, nullptr, xxx}}),
                           k::MixMode::Lerp, stream_),
              "token shift");
        matmul(w.maa_w1, xxx, C, T, lora_out_, 5 * D, false, k::Activation::Tanh);
        const float* maa[5] = {w.maa_w, w.maa_k, w.maa_v, w.maa_r, w.maa_g};
        float* outs[5] = {xw, xk, xv, xr, xg};
        for (int i = 0; i < 5; ++i) {
            matmul(w.maa_w2[i], lora_out_ + static_cast<std::size_t>(i) * D, 5 * D, T, y_, C,
                   false);
            check(k::token_mix(xx_, s.att_x_prev, T, C, mix_set({{maa[i], y_, outs[i]}}),
                               k::MixMode::Lerp, stream_),
                  "token shift");
        }
        const int Dd = cfg.lora_decay;
        matmul(w.decay_w1, xw, C, T, lora_in_, Dd, false, k::Activation::Tanh);
        matmul(w.decay_w2, lora_in_, Dd, T, w_, C, false);
        check(k::v6_decay(w_, w.decay, T, C, stream_), "decay");
        decay = w_;
        // Six mixes read the shift state above, so it is replaced only now.
        check(k::copy_d2d_async(s.att_x_prev, xx_ + static_cast<std::size_t>(T - 1) * C,
                                sizeof(float) * C, stream_),
              "token shift");
    } else {
        norm_shift(x_, w.ln1_w, w.ln1_b, s.att_x_prev, T,
                   mix_set({{w.mix_k, nullptr, xk},
                            {w.mix_v, nullptr, xv},
                            {w.mix_r, nullptr, xr},
                            {w.mix_g, nullptr, xg}}),
                   k::MixMode::Blend, "ln1 and token shift");
    }
    products({{&w.att_r, xr, C, r_, C},
              {&w.att_k, xk, C, k_, C},
              {&w.att_v, xv, C, v_, C},
              {&w.att_g, xg, C, g_, C, false, k::Activation::Silu}},
             T);
    check(k::wkv5(T, H, N, r_, k_, v_, decay, v6, w.bonus, s.att, y_, stream_,
                  options_.force_sequence_wkv),
          "WKV v5");
    k::GroupNormOut gn;
    gn.w = w.ln_x_w;
    gn.b = w.ln_x_b;
    gn.g = g_;
    check(k::group_norm_out(y_, T, H, N, kGroupNormEps, gn, stream_), "group norm");
    matmul(w.att_o, y_, C, T, x_, C, true);
}

void CudaSession::time_mix_v7(int l, int T) {
    const ModelConfig& cfg = model_->config();
    const int C = cfg.n_embd, H = cfg.n_head, N = cfg.head_size;
    const CudaLayer& w = cm_.layers[static_cast<std::size_t>(l)];
    const LayerPtrs s = layer_state(l);
    float *xr = t_[0], *xw = t_[1], *xk = t_[2], *xv = t_[3], *xa = t_[4], *xg = t_[5];
    norm_shift(x_, w.ln1_w, w.ln1_b, s.att_x_prev, T,
               mix_set({{w.x_r, nullptr, xr},
                        {w.x_w, nullptr, xw},
                        {w.x_k, nullptr, xk},
                        {w.x_v, nullptr, xv},
                        {w.x_a, nullptr, xa},
                        {w.x_g, nullptr, xg}}),
               k::MixMode::Lerp, "ln1 and token shift");

    // LoRAs out = f(x W1) W2, W1 and W2 stored transposed as (D, C) and (C, D); each first half
    // has its own slice of lora_in_ so the four run side by side, beside r, k and v.
    const int Dw = w.w1.rows, Da = w.a1.rows, Dg = w.g1.rows;
    float* hw = lora_in_;
    float* ha = hw + static_cast<std::size_t>(T) * Dw;
    float* hg = ha + static_cast<std::size_t>(T) * Da;
    float* hv = hg + static_cast<std::size_t>(T) * Dg;
    const Product r_proj{&w.att_r, xr, C, r_, C}, k_proj{&w.att_k, xk, C, k_, C},
        v_proj{&w.att_v, xv, C, v_, C}, w_in{&w.w1, xw, C, hw, Dw, false, k::Activation::Tanh},
        a_in{&w.a1, xa, C, ha, Da}, g_in{&w.g1, xg, C, hg, Dg, false, k::Activation::Sigmoid},
        w_out{&w.w2, hw, Dw, w_, C}, a_out{&w.a2, ha, Da, a_, C}, g_out{&w.g2, hg, Dg, g_, C};
    if (w.has_value_residual) {
        const int Dv = w.v1.rows;
        products({r_proj, k_proj, v_proj, w_in, a_in, g_in, {&w.v1, xv, C, hv, Dv}}, T);
        products({w_out, a_out, g_out, {&w.v2, hv, Dv, vres_, C}}, T);
    } else {
        products({r_proj, k_proj, v_proj, w_in, a_in, g_in}, T);
        products({w_out, a_out, g_out}, T);
    }

    if (T == 1 && !options_.force_sequence_wkv) {
        k::Wkv7Decode d{};
        d.r = r_, d.w = w_, d.a = a_, d.k = k_, d.v = v_;
        d.vres = w.has_value_residual ? vres_ : nullptr;
        d.v_first = v_first_;
        d.first_layer = l == 0;
        d.g = g_;
        d.w0 = w.w0, d.a0 = w.a0, d.k_k = w.k_k, d.k_a = w.k_a, d.v0 = w.v0, d.r_k = w.r_k;
        d.ln_w = w.ln_x_w, d.ln_b = w.ln_x_b;
        d.state = s.att;
        d.y = y_;
        d.norm_eps = kNormalizeEps;
        d.group_norm_eps = kGroupNormEps;
        check(k::wkv7_decode(d, H, N, stream_), "RWKV-7 attention");
        matmul(w.att_o, y_, C, T, x_, C, true);
        return;
    }
    k::V7Prepare prep{
        w_,   a_,   k_,    kk_,   v_,  v_first_, w.has_value_residual ? vres_ : nullptr,
        w.w0, w.a0, w.k_k, w.k_a, w.v0};
    check(k::v7_prepare(prep, T, C, stream_), "RWKV-7 preparation");
    const std::size_t TC = static_cast<std::size_t>(T) * C;
    if (l == 0) {
        check(k::copy_d2d_async(v_first_, v_, sizeof(float) * TC, stream_), "value residual");
    }
    check(k::l2_normalize(kk_, T * H, N, kNormalizeEps, stream_), "kk normalisation");
    check(
        k::wkv7(T, H, N, r_, w_, k_, v_, kk_, a_, s.att, y_, stream_, options_.force_sequence_wkv),
        "WKV v7");
    k::GroupNormOut gn;
    gn.w = w.ln_x_w;
    gn.b = w.ln_x_b;
    gn.g = g_;
    gn.r = r_;
    gn.k = k_;
    gn.rk = w.r_k;
    gn.v = v_;
    check(k::group_norm_out(y_, T, H, N, kGroupNormEps, gn, stream_), "group norm");
    matmul(w.att_o, y_, C, T, x_, C, true);
}

void CudaSession::channel_mix(int l, int T) {
    const ModelConfig& cfg = model_->config();
    const int C = cfg.n_embd, F = cfg.dim_ffn;
    const CudaLayer& w = cm_.layers[static_cast<std::size_t>(l)];
    const LayerPtrs s = layer_state(l);
    float *kx = t_[0], *rx = t_[1];
    const bool lerp = cfg.arch == Arch::V6 || cfg.arch == Arch::V7;
    k::MixSet set = mix_set({{w.ffn_mix_k, nullptr, kx}});
    if (w.ffn_mix_r != nullptr) set.terms[set.count++] = {w.ffn_mix_r, nullptr, rx};
    norm_shift(x_, w.ln2_w, w.ln2_b, s.ffn_x_prev, T, set,
               lerp ? k::MixMode::Lerp : k::MixMode::Blend, "ln2 and token shift");
    const Product key{&w.ffn_k, kx, C, ffn_, F, false, k::Activation::ReluSquare};
    if (cfg.arch == Arch::V7) {
        products({key}, T);
        matmul(w.ffn_v, ffn_, F, T, x_, C, true);
        return;
    }
    products({key, {&w.ffn_r, rx, C, r_, C}}, T);
    matmul(w.ffn_v, ffn_, F, T, y_, C, false);
    check(k::add_sigmoid_gated(x_, r_, y_, static_cast<std::size_t>(T) * C, stream_), "gate");
}

}  // namespace ravel::detail
