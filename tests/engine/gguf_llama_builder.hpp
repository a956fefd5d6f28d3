// Builds llama.cpp-style rwkv6/rwkv7 GGUF files from a BlinkDL checkpoint, applying by hand the
// transforms of llama.cpp's convert_hf_to_gguf.py (Rwkv6Model, Rwkv7Model): renames, squeezed
// vectors, fused token-shift mixes, transposed LoRAs and, for v6, rescaled output/value
// matrices (rescale_every_n_layers = 1; the FFN value matrices stored as q8_0). Written
// independently of the reader, which is what the tests check it against.
#pragma once

#include <cmath>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ravel/gguf.hpp"
#include "ravel/quant.hpp"
#include "ravel/weight_file.hpp"

namespace ravel::test {

using ravel::DType;

inline std::vector<std::byte> quantized(DType type, const std::vector<float>& x) {
    std::vector<std::byte> out(*ravel::dtype_bytes_for(type, x.size()));
    if (!ravel::quantize_row(type, x.data(), x.size(), out.data())) return {};
    return out;
}

inline std::vector<float> dequantized(DType type, const std::vector<std::byte>& b, std::size_t n) {
    std::vector<float> out(n);
    if (!ravel::dequantize_row(type, b.data(), n, out.data())) return {};
    return out;
}

// A tensor to write in a hand-built file: fp32 values (or pre-encoded bytes) and a shape.
struct Built {
    Built() = default;
    Built(std::vector<std::int64_t> s, std::vector<float> v)
        : shape(std::move(s)), values(std::move(v)) {}

    std::vector<std::int64_t> shape;
    std::vector<float> values;
    DType type = DType::F32;
    std::vector<std::byte> encoded;  // used when type is not F32
};

inline ravel::Result<void> add_built(ravel::GgufWriter& w, const std::string& name, Built t) {
    const DType type = t.type;
    auto shape = t.shape;
    auto data = std::make_shared<Built>(std::move(t));
    return w.add_tensor(name, type, shape, [data](std::span<std::byte> out) -> ravel::Result<void> {
        if (data->type == DType::F32) {
            std::memcpy(out.data(), data->values.data(), out.size());
        } else {
            std::memcpy(out.data(), data->encoded.data(), out.size());
        }
        return {};
    });
}

inline std::vector<float> transpose(const std::vector<float>& x, std::int64_t rows,
                                    std::int64_t cols) {
    std::vector<float> out(x.size());
    for (std::int64_t i = 0; i < rows; ++i) {
        for (std::int64_t j = 0; j < cols; ++j) out[j * rows + i] = x[i * cols + j];
    }
    return out;
}

#define RAVEL_TRY(expr)              \
    do {                             \
        if (auto r_ = (expr); !r_) { \
            return r_.error();       \
        }                            \
    } while (false)

struct LlamaBuild {
    std::map<std::string, Built> orig;   // the source tensors, fp32
    std::vector<float> expect_value_l1;  // v6: blocks.1.ffn.value.weight as the reader must give it
};

inline ravel::Result<LlamaBuild> write_llama_rwkv7(
    const std::filesystem::path& source, const std::filesystem::path& path,
    const std::function<void(ravel::GgufWriter&)>& extra_metadata = {},
    const std::string& omit = {}) {  // a tensor to leave out, for damaged-file tests
    auto src = ravel::WeightFile::open(source);
    if (!src) return src.error();
    LlamaBuild result;
    auto& orig = result.orig;
    for (const auto& t : src->tensors()) orig[t.name] = Built(t.shape, *src->read_f32(t));
    const std::int64_t C = 128, L = 3;

    // llama.cpp's convert_hf_to_gguf.py (Rwkv7Model), written out by hand.
    ravel::GgufWriter w;
    const auto put = [&](ravel::GgufWriter& to, const std::string& name, Built t) {
        return name == omit ? ravel::Result<void>{} : add_built(to, name, std::move(t));
    };
    w.add_string("general.architecture", "rwkv7");
    w.add_u32("rwkv7.block_count", L);
    w.add_u32("rwkv7.embedding_length", C);
    w.add_u32("rwkv7.wkv.head_size", 64);
    w.add_string("tokenizer.ggml.model", "rwkv");
    if (extra_metadata) extra_metadata(w);
    auto vec = [&](const std::string& n) { return Built({C}, orig.at(n).values); };
    auto lora_t = [&](const std::string& n) {
        const auto& o = orig.at(n);
        return Built({o.shape[1], o.shape[0]}, transpose(o.values, o.shape[0], o.shape[1]));
    };
    RAVEL_TRY(put(w, "token_embd.weight", orig.at("emb.weight")));
    RAVEL_TRY(put(w, "token_embd_norm.weight", vec("blocks.0.ln0.weight")));
    RAVEL_TRY(put(w, "token_embd_norm.bias", vec("blocks.0.ln0.bias")));
    for (std::int64_t i = 0; i < L; ++i) {
        const std::string b = "blocks." + std::to_string(i) + ".";
        const std::string k = "blk." + std::to_string(i) + ".";
        RAVEL_TRY(put(w, k + "attn_norm.weight", vec(b + "ln1.weight")));
        RAVEL_TRY(put(w, k + "attn_norm.bias", vec(b + "ln1.bias")));
        RAVEL_TRY(put(w, k + "attn_norm_2.weight", vec(b + "ln2.weight")));
        RAVEL_TRY(put(w, k + "attn_norm_2.bias", vec(b + "ln2.bias")));
        Built fused({6, 1, 1, C}, {});
        for (const char* x : {"x_r", "x_w", "x_k", "x_v", "x_a", "x_g"}) {
            const auto& v = orig.at(b + "att." + x).values;
            fused.values.insert(fused.values.end(), v.begin(), v.end());
        }
        RAVEL_TRY(put(w, k + "time_mix_lerp_fused.weight", fused));
        for (const char* n : {"w", "a", "v", "g"}) {
            const std::string lo = n;
            const bool has_v = i > 0;
            // Layer 0: llama.cpp writes dummy v0/v1/v2 copied from a0/a1/a2.
            const std::string from = (lo == "v" && !has_v) ? "a" : lo;
            if (lo != "g") {
                RAVEL_TRY(put(w, k + "time_mix_" + lo + "0.weight", vec(b + "att." + from + "0")));
            }
            RAVEL_TRY(put(w, k + "time_mix_" + lo + "1.weight", lora_t(b + "att." + from + "1")));
            RAVEL_TRY(put(w, k + "time_mix_" + lo + "2.weight", lora_t(b + "att." + from + "2")));
        }
        RAVEL_TRY(put(w, k + "time_mix_k_k.weight", vec(b + "att.k_k")));
        RAVEL_TRY(put(w, k + "time_mix_k_a.weight", vec(b + "att.k_a")));
        RAVEL_TRY(put(w, k + "time_mix_r_k.weight", vec(b + "att.r_k")));
        for (const char* m : {"receptance", "key", "value", "output"}) {
            RAVEL_TRY(put(w, k + "time_mix_" + m + ".weight", orig.at(b + "att." + m + ".weight")));
        }
        RAVEL_TRY(put(w, k + "time_mix_ln.weight", vec(b + "att.ln_x.weight")));
        RAVEL_TRY(put(w, k + "time_mix_ln.bias", vec(b + "att.ln_x.bias")));
        RAVEL_TRY(put(w, k + "channel_mix_lerp_k.weight", vec(b + "ffn.x_k")));
        RAVEL_TRY(put(w, k + "channel_mix_key.weight", orig.at(b + "ffn.key.weight")));
        RAVEL_TRY(put(w, k + "channel_mix_value.weight", orig.at(b + "ffn.value.weight")));
    }
    RAVEL_TRY(put(w, "output_norm.weight", vec("ln_out.weight")));
    RAVEL_TRY(put(w, "output_norm.bias", vec("ln_out.bias")));
    RAVEL_TRY(put(w, "output.weight", orig.at("head.weight")));
    if (auto r = w.write(path); !r) return r.error();
    return result;
}

inline ravel::Result<LlamaBuild> write_llama_rwkv6(const std::filesystem::path& source,
                                                   const std::filesystem::path& path,
                                                   bool quantize_value = true) {
    auto src = ravel::WeightFile::open(source);
    if (!src) return src.error();
    LlamaBuild result;
    auto& orig = result.orig;
    for (const auto& t : src->tensors()) orig[t.name] = Built(t.shape, *src->read_f32(t));
    const std::int64_t C = 128, L = 2, D = 32, Dd = 64;

    ravel::GgufWriter w;
    w.add_string("general.architecture", "rwkv6");
    w.add_u32("rwkv6.block_count", L);
    w.add_u32("rwkv6.wkv.head_size", 64);
    w.add_u32("rwkv6.rescale_every_n_layers", 1);  // layer i divided by 2^i
    auto vec = [&](const std::string& n) { return Built({C}, orig.at(n).values); };
    RAVEL_TRY(add_built(w, "token_embd.weight", orig.at("emb.weight")));
    RAVEL_TRY(add_built(w, "token_embd_norm.weight", vec("blocks.0.ln0.weight")));
    RAVEL_TRY(add_built(w, "token_embd_norm.bias", vec("blocks.0.ln0.bias")));
    for (std::int64_t i = 0; i < L; ++i) {
        const std::string b = "blocks." + std::to_string(i) + ".";
        const std::string k = "blk." + std::to_string(i) + ".";
        const float scale = std::ldexp(1.0f, -static_cast<int>(i));
        RAVEL_TRY(add_built(w, k + "attn_norm.weight", vec(b + "ln1.weight")));
        RAVEL_TRY(add_built(w, k + "attn_norm.bias", vec(b + "ln1.bias")));
        RAVEL_TRY(add_built(w, k + "attn_norm_2.weight", vec(b + "ln2.weight")));
        RAVEL_TRY(add_built(w, k + "attn_norm_2.bias", vec(b + "ln2.bias")));
        RAVEL_TRY(add_built(w, k + "time_mix_lerp_x.weight", vec(b + "att.time_maa_x")));
        Built fused({5, 1, 1, C}, {});
        for (const char* x : {"w", "k", "v", "r", "g"}) {
            const auto& v = orig.at(b + "att.time_maa_" + x).values;
            fused.values.insert(fused.values.end(), v.begin(), v.end());
        }
        RAVEL_TRY(add_built(w, k + "time_mix_lerp_fused.weight", fused));
        const auto& w1 = orig.at(b + "att.time_maa_w1");
        RAVEL_TRY(add_built(w, k + "time_mix_w1.weight",
                            Built({5 * D, C}, transpose(w1.values, C, 5 * D))));
        Built w2({5, C, D}, {});
        const auto& ow2 = orig.at(b + "att.time_maa_w2").values;
        for (int s = 0; s < 5; ++s) {
            std::vector<float> slice(ow2.begin() + s * D * C, ow2.begin() + (s + 1) * D * C);
            const auto t = transpose(slice, D, C);
            w2.values.insert(w2.values.end(), t.begin(), t.end());
        }
        RAVEL_TRY(add_built(w, k + "time_mix_w2.weight", w2));
        RAVEL_TRY(add_built(w, k + "time_mix_decay.weight", vec(b + "att.time_decay")));
        RAVEL_TRY(
            add_built(w, k + "time_mix_decay_w1.weight",
                      Built({Dd, C}, transpose(orig.at(b + "att.time_decay_w1").values, C, Dd))));
        RAVEL_TRY(
            add_built(w, k + "time_mix_decay_w2.weight",
                      Built({C, Dd}, transpose(orig.at(b + "att.time_decay_w2").values, Dd, C))));
        RAVEL_TRY(add_built(w, k + "time_mix_first.weight", orig.at(b + "att.time_faaaa")));
        for (const char* m : {"receptance", "key", "value", "gate"}) {
            RAVEL_TRY(
                add_built(w, k + "time_mix_" + m + ".weight", orig.at(b + "att." + m + ".weight")));
        }
        Built out = orig.at(b + "att.output.weight");
        for (auto& v : out.values) v *= scale;
        RAVEL_TRY(add_built(w, k + "time_mix_output.weight", out));
        RAVEL_TRY(add_built(w, k + "time_mix_ln.weight", vec(b + "att.ln_x.weight")));
        RAVEL_TRY(add_built(w, k + "time_mix_ln.bias", vec(b + "att.ln_x.bias")));
        RAVEL_TRY(add_built(w, k + "channel_mix_lerp_k.weight", vec(b + "ffn.time_maa_k")));
        RAVEL_TRY(add_built(w, k + "channel_mix_lerp_r.weight", vec(b + "ffn.time_maa_r")));
        RAVEL_TRY(add_built(w, k + "channel_mix_key.weight", orig.at(b + "ffn.key.weight")));
        RAVEL_TRY(add_built(w, k + "channel_mix_receptance.weight",
                            orig.at(b + "ffn.receptance.weight")));
        // The FFN value matrix stored quantized: undoing the rescaling must keep it q8_0.
        Built value = orig.at(b + "ffn.value.weight");
        for (auto& v : value.values) v *= scale;
        if (quantize_value) {
            value.type = DType::Q8_0;
            value.encoded = quantized(DType::Q8_0, value.values);
            if (i == 1) {
                result.expect_value_l1 =
                    dequantized(DType::Q8_0, value.encoded, value.values.size());
                for (auto& v : result.expect_value_l1) v = std::ldexp(v, 1);
            }
        }
        RAVEL_TRY(add_built(w, k + "channel_mix_value.weight", value));
    }
    RAVEL_TRY(add_built(w, "output_norm.weight", vec("ln_out.weight")));
    RAVEL_TRY(add_built(w, "output_norm.bias", vec("ln_out.bias")));
    RAVEL_TRY(add_built(w, "output.weight", orig.at("head.weight")));
    if (auto r = w.write(path); !r) return r.error();
    return result;
}

#undef RAVEL_TRY

}  // namespace ravel::test
