// llama.cpp's RWKV GGUF (convert_hf_to_gguf.py, classes Rwkv6Model and Rwkv7Model) mapped back
// to BlinkDL names and semantics. What llama.cpp changed, and how it is undone here:
//   - names: token_embd -> emb, token_embd_norm -> blocks.0.ln0, blk.N.attn_norm -> ln1,
//     attn_norm_2 -> ln2, time_mix_* -> att.*, channel_mix_* -> ffn.*, output_norm -> ln_out,
//     output -> head (a rename: same bytes);
//   - vectors were squeezed ((1,1,C) -> (C)) and v7's r_k flattened: only the shape changes;
//   - the token-shift mixes were stacked into one time_mix_lerp_fused tensor (v6 order
//     w,k,v,r,g; v7 order r,w,k,v,a,g): each mix is a contiguous slice of it;
//   - LoRA matrices were transposed to ggml's (out, in) layout, and v6's time_maa_w2 per slice:
//     recomputed transposed, as fp32;
//   - v6 att.output and ffn.value of layer N were divided by 2^(N / rescale_every_n_layers)
//     (llama.cpp halves the residual instead): multiplied back, exact for powers of two;
//   - v7 layer 0 carries dummy v0/v1/v2 (copies of a0/a1/a2): dropped, as BlinkDL's layer 0
//     has no value residual.
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <unordered_map>

#include "format/gguf_weights.hpp"
#include "ravel/quant.hpp"

namespace ravel::format {

namespace {

constexpr int kMaxRescaleExponent = 100;

// Where a mapped tensor's bytes are: in the file, or for a K-quant tensor in its re-encoding
// (defer_kquant_reencoding), which a read may build and which fails for a corrupt block.
// Copyable, so a derived tensor's rebuild can keep one.
struct Sources {
    std::span<const std::byte> file;
    const DerivedTensors* derived;

    Result<std::span<const std::byte>> bytes(const TensorInfo& t) const {
        if (t.offset < derived->base()) {
            return file.subspan(static_cast<std::size_t>(t.offset),
                                static_cast<std::size_t>(t.nbytes));
        }
        const auto found = derived->find(t.offset, t.nbytes);
        if (found.size() == t.nbytes) return found;
        const std::string why = derived->failure(t.offset);
        return make_error(why.empty() ? "tensor '" + t.name + "' cannot be read" : why);
    }

    Result<std::vector<float>> read_f32(const TensorInfo& t) const {
        auto b = bytes(t);
        if (!b) return b.error();
        std::vector<float> v(static_cast<std::size_t>(t.elements()));
        auto r = dequantize_row(t.dtype, b->data(), v.size(), v.data());
        if (!r) return make_error("tensor '" + t.name + "': " + r.message());
        return v;
    }
};

bool scale_half(std::byte* p, bool bf16, int exponent) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    const float x = std::ldexp(bf16 ? bf16_to_f32(h) : f16_to_f32(h), exponent);
    const std::uint16_t back = bf16 ? f32_to_bf16(x) : f32_to_f16(x);
    if ((bf16 ? bf16_to_f32(back) : f16_to_f32(back)) != x) return false;
    std::memcpy(p, &back, 2);
    return true;
}

// Multiplies n values of `type` by 2^exponent in place: false where that is not exact.
bool scale_in_place(DType type, std::span<std::byte> b, std::size_t n, int exponent) {
    switch (type) {
        case DType::F32:
            for (std::size_t i = 0; i < n; ++i) {
                float x;
                std::memcpy(&x, b.data() + 4 * i, 4);
                x = std::ldexp(x, exponent);
                if (!std::isfinite(x)) return false;
                std::memcpy(b.data() + 4 * i, &x, 4);
            }
            return true;
        case DType::F16:
        case DType::BF16:
            for (std::size_t i = 0; i < n; ++i) {
                if (!scale_half(b.data() + 2 * i, type == DType::BF16, exponent)) return false;
            }
            return true;
        case DType::Q8_0:
        case DType::Q4_0:
        case DType::Q5_1: {
            // Every block starts with its f16 scale d; q5_1 follows it with its f16 min m.
            const std::size_t bb = dtype_block_bytes(type);
            for (std::size_t off = 0; off + bb <= b.size(); off += bb) {
                if (!scale_half(b.data() + off, false, exponent)) return false;
                if (type == DType::Q5_1 && !scale_half(b.data() + off + 2, false, exponent)) {
                    return false;
                }
            }
            return true;
        }
    }
    return false;
}

// `from` multiplied by 2^exponent into `out` (from.nbytes) in its stored type: false where
// that is not exact. A K-quant source's re-encoding is read only for this and given back.
Result<bool> rescale_exactly(const Sources& src, const TensorInfo& from, int exponent,
                             std::span<std::byte> out) {
    auto source = src.bytes(from);
    if (!source) return source.error();
    std::memcpy(out.data(), source->data(), out.size());
    src.derived->release(*source);
    return scale_in_place(from.dtype, out, static_cast<std::size_t>(from.elements()), exponent);
}

// `from` multiplied by 2^exponent into `out` (4 bytes per value) as fp32; its source given
// back as above.
Result<void> rescale_to_f32(const Sources& src, const TensorInfo& from, int exponent,
                            std::span<std::byte> out) {
    auto source = src.bytes(from);
    if (!source) return source.error();
    std::vector<float> values(static_cast<std::size_t>(from.elements()));
    auto decoded = dequantize_row(from.dtype, source->data(), values.size(), values.data());
    src.derived->release(*source);
    if (!decoded) return make_error("tensor '" + from.name + "': " + decoded.message());
    for (auto& v : values) {
        v = std::ldexp(v, exponent);
        if (!std::isfinite(v)) {
            return make_error("tensor '" + from.name + "' overflows when its rescaling by 2^" +
                              std::to_string(exponent) + " is undone");
        }
    }
    std::memcpy(out.data(), values.data(), out.size());
    return {};
}

class Mapper {
  public:
    Mapper(const GgufFile& g, std::span<const std::byte> file, DerivedTensors& derived)
        : sources_{file, &derived}, derived_(derived) {
        for (const auto& t : g.tensors) by_name_.emplace(t.name, &t);
    }

    std::vector<TensorInfo> out;

    bool has(const std::string& name) const { return by_name_.count(name) > 0; }

    Result<const TensorInfo*> need(const std::string& name, const std::string& for_what) {
        auto it = by_name_.find(name);
        if (it == by_name_.end()) {
            return make_error("tensor '" + name + "' is missing (it holds " + for_what + ")");
        }
        used_.insert(name);
        return it->second;
    }
    void drop(const std::string& name) { used_.insert(name); }

    // Same bytes, BlinkDL name and shape; the element count must agree.
    Result<void> reshape(const std::string& src, const std::string& dst,
                         std::vector<std::int64_t> shape) {
        auto t = need(src, dst);
        if (!t) return t.error();
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        if ((*t)->elements() != n) {
            return make_error("tensor '" + src + "' has shape " + (*t)->shape_string() + " (" +
                              std::to_string((*t)->elements()) + " values); " + dst + " needs " +
                              std::to_string(n));
        }
        TensorInfo info = **t;
        info.name = dst;
        info.shape = std::move(shape);
        out.push_back(std::move(info));
        return {};
    }

    // A 2-D tensor kept as it is, checked against the expected shape.
    Result<void> matrix(const std::string& src, const std::string& dst, std::int64_t rows,
                        std::int64_t cols) {
        auto t = need(src, dst);
        if (!t) return t.error();
        if ((*t)->shape != std::vector<std::int64_t>{rows, cols}) {
            return make_error("tensor '" + src + "' has shape " + (*t)->shape_string() +
                              "; expected (" + std::to_string(rows) + ", " + std::to_string(cols) +
                              ")");
        }
        TensorInfo info = **t;
        info.name = dst;
        out.push_back(std::move(info));
        return {};
    }

    // `parts` equal slices along the outermost dimension, each `shape` in BlinkDL form.
    Result<void> split(const std::string& src, const std::vector<std::string>& dsts,
                       const std::vector<std::int64_t>& shape) {
        auto t = need(src, "the token-shift mixes");
        if (!t) return t.error();
        std::int64_t n = 1;
        for (auto d : shape) n *= d;
        const auto parts = static_cast<std::int64_t>(dsts.size());
        if ((*t)->elements() != n * parts) {
            return make_error("tensor '" + src + "' has shape " + (*t)->shape_string() +
                              "; expected " + std::to_string(parts) + " x " + std::to_string(n) +
                              " values");
        }
        const auto part_bytes = dtype_bytes_for((*t)->dtype, static_cast<std::uint64_t>(n));
        if (!part_bytes || *part_bytes * static_cast<std::uint64_t>(parts) != (*t)->nbytes) {
            return make_error("tensor '" + src + "' cannot be split into " + std::to_string(parts) +
                              " whole " + std::string(dtype_name((*t)->dtype)) + " parts");
        }
        for (std::size_t i = 0; i < dsts.size(); ++i) {
            TensorInfo info = **t;
            info.name = dsts[i];
            info.shape = shape;
            info.offset = (*t)->offset + i * *part_bytes;
            info.nbytes = *part_bytes;
            out.push_back(std::move(info));
        }
        return {};
    }

    // (a, b) -> (b, a), or (n, a, b) -> (n, b, a), recomputed as fp32. `expect` is the source
    // shape llama.cpp wrote.
    Result<void> transposed(const std::string& src, const std::string& dst,
                            const std::vector<std::int64_t>& expect) {
        auto t = need(src, dst);
        if (!t) return t.error();
        if ((*t)->shape != expect) {
            return make_error("tensor '" + src + "' has shape " + (*t)->shape_string() +
                              "; expected " + shape_to_string(expect));
        }
        auto values = sources_.read_f32(**t);
        if (!values) return values.error();
        const std::size_t rank = expect.size();
        const auto a = static_cast<std::size_t>(expect[rank - 2]);
        const auto b = static_cast<std::size_t>(expect[rank - 1]);
        const std::size_t batch = rank == 3 ? static_cast<std::size_t>(expect[0]) : 1;
        auto alloc = derived_.allocate(values->size() * sizeof(float));
        auto* dstp = reinterpret_cast<float*>(alloc.bytes.data());
        for (std::size_t n = 0; n < batch; ++n) {
            const float* s = values->data() + n * a * b;
            float* d = dstp + n * a * b;
            for (std::size_t i = 0; i < a; ++i) {
                for (std::size_t j = 0; j < b; ++j) d[j * a + i] = s[i * b + j];
            }
        }
        TensorInfo info;
        info.name = dst;
        info.dtype = DType::F32;
        info.shape = expect;
        std::swap(info.shape[rank - 2], info.shape[rank - 1]);
        info.offset = alloc.offset;
        info.nbytes = alloc.bytes.size();
        out.push_back(std::move(info));
        return {};
    }

    // A matrix multiplied by 2^exponent. Kept in its stored type when that is exact (powers of
    // two only move exponents and block scales), else recomputed as fp32; which of the two is
    // decided here, by computing it. The loader gives the buffer back once it has copied it
    // (a later read computes it again), so the rescaled layers are not held twice.
    Result<void> scaled(const std::string& src, const std::string& dst, std::int64_t rows,
                        std::int64_t cols, int exponent) {
        if (exponent == 0) return matrix(src, dst, rows, cols);
        auto t = need(src, dst);
        if (!t) return t.error();
        if ((*t)->shape != std::vector<std::int64_t>{rows, cols}) {
            return make_error("tensor '" + src + "' has shape " + (*t)->shape_string() +
                              "; expected (" + std::to_string(rows) + ", " + std::to_string(cols) +
                              ")");
        }
        const TensorInfo from = **t;
        const Sources sources = sources_;
        auto alloc = derived_.allocate(
            from.nbytes, [sources, from, exponent](std::span<std::byte> out) -> Result<void> {
                auto exact = rescale_exactly(sources, from, exponent, out);
                if (!exact) return exact.error();
                if (!*exact) {
                    return make_error("tensor '" + from.name +
                                      "' no longer rescales exactly: the file changed after it "
                                      "was opened");
                }
                return {};
            });
        auto exact = rescale_exactly(sources_, from, exponent, alloc.bytes);
        if (!exact) return exact.error();
        TensorInfo info = from;
        info.name = dst;
        if (!*exact) {
            derived_.release(alloc.bytes);
            const std::uint64_t n = static_cast<std::uint64_t>(from.elements()) * sizeof(float);
            alloc = derived_.allocate(n, [sources, from, exponent](std::span<std::byte> out) {
                return rescale_to_f32(sources, from, exponent, out);
            });
            if (auto r = rescale_to_f32(sources_, from, exponent, alloc.bytes); !r) return r;
            info.dtype = DType::F32;
        }
        info.offset = alloc.offset;
        info.nbytes = alloc.bytes.size();
        out.push_back(std::move(info));
        return {};
    }

    // Every tensor must have been placed: one this code does not know could change the
    // model's meaning, so it is an error rather than silently ignored.
    Result<void> finish() const {
        for (const auto& [name, t] : by_name_) {
            if (used_.count(name) == 0) {
                return make_error("tensor '" + name +
                                  "' is not part of the RWKV layout Ravel knows; the file may "
                                  "come from a newer llama.cpp");
            }
        }
        return {};
    }

  private:
    Sources sources_;
    DerivedTensors& derived_;
    std::unordered_map<std::string, const TensorInfo*> by_name_;
    std::set<std::string> used_;
};

Result<std::int64_t> positive(const GgufFile& g, const std::string& key, std::uint64_t max) {
    const auto v = g.get_uint(key);
    if (!v) return make_error("metadata '" + key + "' (an unsigned integer) is missing");
    if (*v == 0 || *v > max) {
        return make_error("metadata '" + key + "' = " + std::to_string(*v) + " is out of range");
    }
    return static_cast<std::int64_t>(*v);
}

}  // namespace

Result<std::vector<TensorInfo>> map_llama_rwkv(const GgufFile& g, std::span<const std::byte> file,
                                               int rwkv_version, DerivedTensors& derived) {
    const std::string arch = rwkv_version == 6 ? "rwkv6" : "rwkv7";
    Mapper m(g, file, derived);

    auto emb = m.need("token_embd.weight", "the token embedding");
    if (!emb) return emb.error();
    if ((*emb)->shape.size() != 2 || (*emb)->shape[0] <= 0 || (*emb)->shape[1] <= 0) {
        return make_error("tensor 'token_embd.weight' has shape " + (*emb)->shape_string() +
                          "; expected (vocabulary, embedding)");
    }
    const std::int64_t V = (*emb)->shape[0];
    const std::int64_t C = (*emb)->shape[1];
    if (auto e = g.get_uint(arch + ".embedding_length"); e && *e != static_cast<std::uint64_t>(C)) {
        return make_error("metadata " + arch + ".embedding_length = " + std::to_string(*e) +
                          " disagrees with token_embd.weight " + (*emb)->shape_string());
    }
    // Each layer has well over ten tensors, which bounds a hostile block count.
    auto n_layer = positive(g, arch + ".block_count", g.tensors.size() / 10 + 1);
    if (!n_layer) return n_layer.error();
    auto head_size = positive(g, arch + ".wkv.head_size", static_cast<std::uint64_t>(C));
    if (!head_size) return head_size.error();
    if (C % *head_size != 0) {
        return make_error("metadata " + arch + ".wkv.head_size = " + std::to_string(*head_size) +
                          " does not divide the embedding size " + std::to_string(C));
    }
    const std::int64_t H = C / *head_size;
    const std::int64_t N = *head_size;
    const std::vector<std::int64_t> vec3{1, 1, C};
    std::int64_t rescale = 0;
    if (rwkv_version == 6) {
        if (auto r = g.get_uint(arch + ".rescale_every_n_layers")) {
            rescale = static_cast<std::int64_t>(std::min<std::uint64_t>(*r, 1u << 20));
        }
    }

    auto try_all = [](std::initializer_list<Result<void>> rs) -> Result<void> {
        for (const auto& r : rs) {
            if (!r) return r.error();
        }
        return {};
    };

    {
        TensorInfo e = **emb;
        e.name = "emb.weight";
        m.out.push_back(std::move(e));
    }
    if (auto r = try_all({m.reshape("token_embd_norm.weight", "blocks.0.ln0.weight", {C}),
                          m.reshape("token_embd_norm.bias", "blocks.0.ln0.bias", {C})});
        !r) {
        return r.error();
    }

    for (std::int64_t i = 0; i < *n_layer; ++i) {
        const std::string s = "blk." + std::to_string(i) + ".";
        const std::string d = "blocks." + std::to_string(i) + ".";
        const int exponent =
            rescale > 0
                ? static_cast<int>(std::min<std::int64_t>(i / rescale, kMaxRescaleExponent + 1))
                : 0;
        if (exponent > kMaxRescaleExponent) {
            return make_error("metadata " + arch + ".rescale_every_n_layers = " +
                              std::to_string(rescale) + " implies an impossible rescaling");
        }
        auto common = try_all({
            m.reshape(s + "attn_norm.weight", d + "ln1.weight", {C}),
            m.reshape(s + "attn_norm.bias", d + "ln1.bias", {C}),
            m.reshape(s + "attn_norm_2.weight", d + "ln2.weight", {C}),
            m.reshape(s + "attn_norm_2.bias", d + "ln2.bias", {C}),
            m.matrix(s + "time_mix_receptance.weight", d + "att.receptance.weight", C, C),
            m.matrix(s + "time_mix_key.weight", d + "att.key.weight", C, C),
            m.matrix(s + "time_mix_value.weight", d + "att.value.weight", C, C),
            m.scaled(s + "time_mix_output.weight", d + "att.output.weight", C, C, exponent),
            m.reshape(s + "time_mix_ln.weight", d + "att.ln_x.weight", {C}),
            m.reshape(s + "time_mix_ln.bias", d + "att.ln_x.bias", {C}),
        });
        if (!common) return make_error("layer " + std::to_string(i) + ": " + common.message());

        auto ffn_key = m.need(s + "channel_mix_key.weight", d + "ffn.key.weight");
        if (!ffn_key) return ffn_key.error();
        if ((*ffn_key)->shape.size() != 2 || (*ffn_key)->shape[1] != C) {
            return make_error("tensor '" + s + "channel_mix_key.weight' has shape " +
                              (*ffn_key)->shape_string() + "; expected (ffn, " + std::to_string(C) +
                              ")");
        }
        const std::int64_t F = (*ffn_key)->shape[0];
        {
            TensorInfo k = **ffn_key;
            k.name = d + "ffn.key.weight";
            m.out.push_back(std::move(k));
        }
        if (auto r =
                m.scaled(s + "channel_mix_value.weight", d + "ffn.value.weight", C, F, exponent);
            !r) {
            return r.error();
        }

        Result<void> r;
        if (rwkv_version == 6) {
            const std::vector<std::string> mixes{d + "att.time_maa_w", d + "att.time_maa_k",
                                                 d + "att.time_maa_v", d + "att.time_maa_r",
                                                 d + "att.time_maa_g"};
            if (m.has(s + "time_mix_lerp_fused.weight")) {
                r = m.split(s + "time_mix_lerp_fused.weight", mixes, vec3);
            } else {
                // Files from before the lerps were fused.
                const char* names[] = {"w", "k", "v", "r", "g"};
                for (int j = 0; j < 5 && r; ++j) {
                    r = m.reshape(s + "time_mix_lerp_" + names[j] + ".weight", mixes[j], vec3);
                }
            }
            if (!r) return r.error();
            auto w1 = m.need(s + "time_mix_w1.weight", d + "att.time_maa_w1");
            if (!w1) return w1.error();
            const std::int64_t D5 = (*w1)->shape.size() == 2 ? (*w1)->shape[0] : 0;
            auto dw1 = m.need(s + "time_mix_decay_w1.weight", d + "att.time_decay_w1");
            if (!dw1) return dw1.error();
            const std::int64_t Dd = (*dw1)->shape.size() == 2 ? (*dw1)->shape[0] : 0;
            if (D5 <= 0 || D5 % 5 != 0 || Dd <= 0) {
                return make_error("layer " + std::to_string(i) +
                                  ": time_mix_w1 / time_mix_decay_w1 have unexpected shapes " +
                                  (*w1)->shape_string() + " / " + (*dw1)->shape_string());
            }
            r = try_all({
                m.reshape(s + "time_mix_lerp_x.weight", d + "att.time_maa_x", vec3),
                m.transposed(s + "time_mix_w1.weight", d + "att.time_maa_w1", {D5, C}),
                m.transposed(s + "time_mix_w2.weight", d + "att.time_maa_w2", {5, C, D5 / 5}),
                m.reshape(s + "time_mix_decay.weight", d + "att.time_decay", vec3),
                m.transposed(s + "time_mix_decay_w1.weight", d + "att.time_decay_w1", {Dd, C}),
                m.transposed(s + "time_mix_decay_w2.weight", d + "att.time_decay_w2", {C, Dd}),
                m.reshape(s + "time_mix_first.weight", d + "att.time_faaaa", {H, N}),
                m.matrix(s + "time_mix_gate.weight", d + "att.gate.weight", C, C),
                m.matrix(s + "channel_mix_receptance.weight", d + "ffn.receptance.weight", C, C),
                m.reshape(s + "channel_mix_lerp_k.weight", d + "ffn.time_maa_k", vec3),
                m.reshape(s + "channel_mix_lerp_r.weight", d + "ffn.time_maa_r", vec3),
            });
        } else {
            auto fused = m.need(s + "time_mix_lerp_fused.weight", "the token-shift mixes");
            if (!fused) return fused.error();
            if ((*fused)->elements() == 5 * C) {
                return make_error("layer " + std::to_string(i) +
                                  ": RWKV-7 without the gate (5 token-shift mixes, as in ARWKV) "
                                  "is not supported");
            }
            r = m.split(s + "time_mix_lerp_fused.weight",
                        {d + "att.x_r", d + "att.x_w", d + "att.x_k", d + "att.x_v", d + "att.x_a",
                         d + "att.x_g"},
                        vec3);
            if (!r) return r.error();
            // LoRA widths come from the shapes llama.cpp wrote: (width, C) for the down matrix.
            // A missing matrix is reported as missing (need()'s message), not as a bad shape.
            auto width = [&](const std::string& name) -> Result<std::int64_t> {
                auto t = m.need(name, "a LoRA matrix");
                if (!t) return t.error();
                if ((*t)->shape.size() != 2 || (*t)->shape[0] <= 0) {
                    return make_error("layer " + std::to_string(i) + ": " + name +
                                      " must be a 2-D matrix");
                }
                return (*t)->shape[0];
            };
            const auto Dw = width(s + "time_mix_w1.weight");
            if (!Dw) return Dw.error();
            const auto Da = width(s + "time_mix_a1.weight");
            if (!Da) return Da.error();
            const auto Dg = width(s + "time_mix_g1.weight");
            if (!Dg) return Dg.error();
            r = try_all({
                m.reshape(s + "time_mix_w0.weight", d + "att.w0", vec3),
                m.transposed(s + "time_mix_w1.weight", d + "att.w1", {*Dw, C}),
                m.transposed(s + "time_mix_w2.weight", d + "att.w2", {C, *Dw}),
                m.reshape(s + "time_mix_a0.weight", d + "att.a0", vec3),
                m.transposed(s + "time_mix_a1.weight", d + "att.a1", {*Da, C}),
                m.transposed(s + "time_mix_a2.weight", d + "att.a2", {C, *Da}),
                m.transposed(s + "time_mix_g1.weight", d + "att.g1", {*Dg, C}),
                m.transposed(s + "time_mix_g2.weight", d + "att.g2", {C, *Dg}),
                m.reshape(s + "time_mix_k_k.weight", d + "att.k_k", vec3),
                m.reshape(s + "time_mix_k_a.weight", d + "att.k_a", vec3),
                m.reshape(s + "time_mix_r_k.weight", d + "att.r_k", {H, N}),
                m.reshape(s + "channel_mix_lerp_k.weight", d + "ffn.x_k", vec3),
            });
            if (!r) return r.error();
            if (i == 0) {
                // Dummies llama.cpp adds so its loader finds them; layer 0 has no value residual.
                for (const char* v :
                     {"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight"}) {
                    m.drop(s + v);
                }
            } else {
                const auto Dv = width(s + "time_mix_v1.weight");
                if (!Dv) return Dv.error();
                r = try_all({
                    m.reshape(s + "time_mix_v0.weight", d + "att.v0", vec3),
                    m.transposed(s + "time_mix_v1.weight", d + "att.v1", {*Dv, C}),
                    m.transposed(s + "time_mix_v2.weight", d + "att.v2", {C, *Dv}),
                });
            }
        }
        if (!r) return make_error("layer " + std::to_string(i) + ": " + r.message());
    }

    if (auto r = try_all({m.reshape("output_norm.weight", "ln_out.weight", {C}),
                          m.reshape("output_norm.bias", "ln_out.bias", {C}),
                          m.matrix("output.weight", "head.weight", V, C)});
        !r) {
        return r.error();
    }
    if (auto r = m.finish(); !r) return r.error();
    return std::move(m.out);
}

}  // namespace ravel::format
