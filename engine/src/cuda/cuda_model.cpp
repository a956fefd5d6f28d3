#include "cuda/cuda_model.hpp"

#include <string>

#include "ravel_kernels/runtime.hpp"

namespace ravel::detail {

namespace {

std::uint64_t aligned(std::uint64_t n) {
    return (n + kCudaArenaAlignment - 1) / kCudaArenaAlignment * kCudaArenaAlignment;
}

// The members both passes visit, as (host member, device member) pairs.
template <class F>
void for_each_vector(F&& f) {
    using L = LayerWeights;
    using D = CudaLayer;
    f(&L::ln1_w, &D::ln1_w), f(&L::ln1_b, &D::ln1_b), f(&L::ln2_w, &D::ln2_w);
    f(&L::ln2_b, &D::ln2_b), f(&L::mix_k, &D::mix_k), f(&L::mix_v, &D::mix_v);
    f(&L::mix_r, &D::mix_r), f(&L::mix_g, &D::mix_g), f(&L::decay, &D::decay);
    f(&L::bonus, &D::bonus), f(&L::ln_x_w, &D::ln_x_w), f(&L::ln_x_b, &D::ln_x_b);
    f(&L::maa_x, &D::maa_x), f(&L::maa_w, &D::maa_w), f(&L::maa_k, &D::maa_k);
    f(&L::maa_v, &D::maa_v), f(&L::maa_r, &D::maa_r), f(&L::maa_g, &D::maa_g);
    f(&L::x_r, &D::x_r), f(&L::x_w, &D::x_w), f(&L::x_k, &D::x_k), f(&L::x_v, &D::x_v);
    f(&L::x_a, &D::x_a), f(&L::x_g, &D::x_g), f(&L::w0, &D::w0), f(&L::a0, &D::a0);
    f(&L::v0, &D::v0), f(&L::k_k, &D::k_k), f(&L::k_a, &D::k_a), f(&L::r_k, &D::r_k);
    f(&L::ffn_mix_k, &D::ffn_mix_k), f(&L::ffn_mix_r, &D::ffn_mix_r);
}

template <class F>
void for_each_matrix(F&& f) {
    using L = LayerWeights;
    using D = CudaLayer;
    f(&L::att_r, &D::att_r), f(&L::att_k, &D::att_k), f(&L::att_v, &D::att_v);
    f(&L::att_g, &D::att_g), f(&L::att_o, &D::att_o), f(&L::maa_w1, &D::maa_w1);
    f(&L::decay_w1, &D::decay_w1), f(&L::decay_w2, &D::decay_w2), f(&L::w1, &D::w1);
    f(&L::w2, &D::w2), f(&L::a1, &D::a1), f(&L::a2, &D::a2), f(&L::v1, &D::v1);
    f(&L::v2, &D::v2), f(&L::g1, &D::g1), f(&L::g2, &D::g2), f(&L::ffn_k, &D::ffn_k);
    f(&L::ffn_v, &D::ffn_v), f(&L::ffn_r, &D::ffn_r);
}

// Walks every tensor in a fixed order, handing out arena offsets; `copy` is called for each
// non-empty one (a no-op when only sizing).
class Packer {
  public:
    explicit Packer(std::byte* base) : base_(base) {}

    const float* vec(const Vec& v) {
        if (v.empty()) return nullptr;
        return static_cast<const float*>(place(v.data(), v.size() * sizeof(float)));
    }
    WeightView mat(const Matrix& m) {
        WeightView w;
        if (m.empty()) return w;
        if (m.interleaved()) {  // the loader keeps rows for a GPU; the kernels read rows
            interleaved_ = true;
            return w;
        }
        w.type = wtype_of(m.type);
        w.rows = m.rows;
        w.cols = m.cols;
        w.row_bytes = m.row_bytes;
        w.data = place(m.data, m.bytes());
        return w;
    }
    std::uint64_t used() const { return used_; }
    kernels::Status status() const { return status_; }
    bool saw_interleaved() const { return interleaved_; }

  private:
    const void* place(const void* src, std::uint64_t bytes) {
        std::byte* dst = base_ == nullptr ? nullptr : base_ + used_;
        if (dst != nullptr && status_ == 0) status_ = kernels::copy_h2d(dst, src, bytes);
        used_ += aligned(bytes);
        return dst;
    }
    std::byte* base_;
    std::uint64_t used_ = 0;
    kernels::Status status_ = 0;
    bool interleaved_ = false;
};

void pack(Packer& p, const ModelWeights& w, CudaModel* out) {
    CudaModel scratch;
    CudaModel& m = out != nullptr ? *out : scratch;
    m.emb = p.mat(w.emb);
    m.layers.resize(w.layers.size());
    for (std::size_t i = 0; i < w.layers.size(); ++i) {
        const LayerWeights& src = w.layers[i];
        CudaLayer& dst = m.layers[i];
        for_each_vector([&](auto host, auto dev) { dst.*dev = p.vec(src.*host); });
        for_each_matrix([&](auto host, auto dev) { dst.*dev = p.mat(src.*host); });
        for (int j = 0; j < 5; ++j) dst.maa_w2[j] = p.mat(src.maa_w2[j]);
        dst.has_value_residual = src.has_value_residual;
    }
    m.ln_out_w = p.vec(w.ln_out_w);
    m.ln_out_b = p.vec(w.ln_out_b);
    m.head = p.mat(w.head);
    m.matrices.clear();
    m.matrices.push_back(m.head);
    for (const CudaLayer& l : m.layers) {
        for_each_matrix([&](auto, auto dev) {
            if ((l.*dev).rows > 0) m.matrices.push_back(l.*dev);
        });
        for (const auto& x : l.maa_w2) {
            if (x.rows > 0) m.matrices.push_back(x);
        }
    }
}

}  // namespace

kernels::WType wtype_of(DType type) {
    switch (type) {
        case DType::F32:
            return kernels::WType::F32;
        case DType::F16:
            return kernels::WType::F16;
        case DType::BF16:
            return kernels::WType::BF16;
        case DType::Q8_0:
            return kernels::WType::Q8_0;
        case DType::Q5_1:
            return kernels::WType::Q5_1;
        case DType::Q4_0:
            return kernels::WType::Q4_0;
    }
    return kernels::WType::F32;
}

CudaModel::~CudaModel() {
    if (arena != nullptr) {
        kernels::set_device(device);
        kernels::device_free(arena);
    }
}

std::uint64_t cuda_weight_bytes(const ModelWeights& weights) {
    Packer sizing(nullptr);
    pack(sizing, weights, nullptr);
    return sizing.used();
}

Result<std::shared_ptr<const CudaModel>> upload_model(const ModelWeights& weights, int device,
                                                      std::string device_name) {
    auto m = std::make_shared<CudaModel>();
    m->device = device;
    m->device_name = std::move(device_name);
    if (auto s = kernels::set_device(device); s != 0) {
        return make_error("cannot select GPU " + std::to_string(device) + ": " +
                          kernels::error_string(s));
    }
    const std::uint64_t bytes = cuda_weight_bytes(weights);
    if (auto s = kernels::device_alloc(&m->arena, bytes); s != 0) {
        m->arena = nullptr;
        kernels::last_error();
        return make_error("cannot allocate " + std::to_string(bytes >> 20) +
                          " MiB for the weights on " + m->device_name + ": " +
                          kernels::error_string(s));
    }
    m->arena_bytes = bytes;
    Packer p(static_cast<std::byte*>(m->arena));
    pack(p, weights, m.get());
    if (p.saw_interleaved()) {
        return make_error("internal: weights laid out for the CPU kernels cannot go to the GPU");
    }
    if (p.status() != 0) {
        return make_error(std::string("copying the weights to the GPU failed: ") +
                          kernels::error_string(p.status()));
    }
    return std::shared_ptr<const CudaModel>(std::move(m));
}

}  // namespace ravel::detail
