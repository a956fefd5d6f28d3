// Element-wise kernels of the forward pass: activations, token-shift mixes, layer/group norm and
// the per-channel (v4) and per-head (v5.2/v6) recurrences. Written over S plus the few extra
// operations E below. Included inside namespace ravel::detail::cpu::<isa>::{anonymous}.
//
// Release builds compile the model code for baseline x86-64 (SSE2), and libm's expf is scalar;
// these kernels are what the per-token work runs at the CPU's full width.

// E: what S lacks for element-wise work. Each kernels_<isa>.cpp is compiled with its own target
// flags, so the compiler's own feature macros say which instruction set this instantiation is.
#if defined(__AVX512F__)
struct E {
    static S::V max(S::V a, S::V b) { return _mm512_max_ps(a, b); }
    static S::V min(S::V a, S::V b) { return _mm512_min_ps(a, b); }
    static S::V div(S::V a, S::V b) { return _mm512_div_ps(a, b); }
    static S::V abs(S::V a) { return _mm512_abs_ps(a); }
    // a < b ? x : y per lane
    static S::V lt_select(S::V a, S::V b, S::V x, S::V y) {
        return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(a, b, _CMP_LT_OQ), y, x);
    }
    // 2^n for integral n in [-126, 127] held as floats.
    static S::V pow2i(S::V n) {
        const __m512i e = _mm512_add_epi32(_mm512_cvttps_epi32(n), _mm512_set1_epi32(127));
        return _mm512_castsi512_ps(_mm512_slli_epi32(e, 23));
    }
};
#elif defined(__AVX2__)
struct E {
    static S::V max(S::V a, S::V b) { return _mm256_max_ps(a, b); }
    static S::V min(S::V a, S::V b) { return _mm256_min_ps(a, b); }
    static S::V div(S::V a, S::V b) { return _mm256_div_ps(a, b); }
    static S::V abs(S::V a) {
        return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff)));
    }
    static S::V lt_select(S::V a, S::V b, S::V x, S::V y) {
        return _mm256_blendv_ps(y, x, _mm256_cmp_ps(a, b, _CMP_LT_OQ));
    }
    static S::V pow2i(S::V n) {
        const __m256i e = _mm256_add_epi32(_mm256_cvttps_epi32(n), _mm256_set1_epi32(127));
        return _mm256_castsi256_ps(_mm256_slli_epi32(e, 23));
    }
};
#else
// Portable lanes; the compiler maps the fixed-width loops onto whatever the baseline offers.
struct E {
    static S::V max(S::V a, S::V b) {
        S::V r;
        for (int i = 0; i < S::W; ++i) r.v[i] = a.v[i] > b.v[i] ? a.v[i] : b.v[i];
        return r;
    }
    static S::V min(S::V a, S::V b) {
        S::V r;
        for (int i = 0; i < S::W; ++i) r.v[i] = a.v[i] < b.v[i] ? a.v[i] : b.v[i];
        return r;
    }
    static S::V div(S::V a, S::V b) {
        S::V r;
        for (int i = 0; i < S::W; ++i) r.v[i] = a.v[i] / b.v[i];
        return r;
    }
    static S::V abs(S::V a) {
        S::V r;
        for (int i = 0; i < S::W; ++i) r.v[i] = a.v[i] < 0 ? -a.v[i] : a.v[i];
        return r;
    }
    static S::V lt_select(S::V a, S::V b, S::V x, S::V y) {
        S::V r;
        for (int i = 0; i < S::W; ++i) r.v[i] = a.v[i] < b.v[i] ? x.v[i] : y.v[i];
        return r;
    }
    static S::V pow2i(S::V n) {
        S::V r;
        for (int i = 0; i < S::W; ++i) {
            const std::uint32_t bits = static_cast<std::uint32_t>(static_cast<int>(n.v[i]) + 127)
                                       << 23;
            std::memcpy(&r.v[i], &bits, sizeof bits);
        }
        return r;
    }
};
#endif

// e^x. x is reduced to r = x - n ln2 with |r| <= ln2/2 (ln2 split in two so n ln2 is exact), e^r
// is a degree-6 polynomial (Cephes' expf coefficients) and 2^n goes into the exponent field.
// Inputs are clamped to [-87.34, 88] so 2^n stays a normal float: below -87.34 the result is 0,
// above 88 it saturates at e^88 (no inf). Measured against double-precision exp on [-87.3, 88)
// in steps of 3.1e-6: max relative error 1.19e-7 (about 1 ulp).
inline S::V exp_v(S::V x) {
    const S::V lo = S::set1(-87.336544f);
    const S::V xc = E::min(E::max(x, lo), S::set1(88.0f));
    // Round to nearest by the 1.5 * 2^23 trick: exact for |x log2(e)| < 2^22, and the same in
    // every instantiation.
    const S::V magic = S::set1(12582912.0f);
    const S::V n = S::sub(S::add(S::mul(xc, S::set1(1.44269504088896341f)), magic), magic);
    S::V r = S::fma(n, S::set1(-0.693359375f), xc);
    r = S::fma(n, S::set1(2.12194440e-4f), r);
    S::V p = S::set1(1.9875691500e-4f);
    p = S::fma(p, r, S::set1(1.3981999507e-3f));
    p = S::fma(p, r, S::set1(8.3334519073e-3f));
    p = S::fma(p, r, S::set1(4.1665795894e-2f));
    p = S::fma(p, r, S::set1(1.6666665459e-1f));
    p = S::fma(p, r, S::set1(5.0000001201e-1f));
    p = S::fma(S::mul(p, r), r, S::add(r, S::set1(1.0f)));
    return E::lt_select(x, lo, S::zero(), S::mul(p, E::pow2i(n)));
}

inline S::V sigmoid_v(S::V x) {
    const S::V one = S::set1(1.0f);
    return E::div(one, S::add(one, exp_v(S::sub(S::zero(), x))));
}

// tanh from e^-2|x| loses relative accuracy near 0 (1 - e^-2|x| cancels), so small |x| use the
// series x - x^3/3 + 2x^5/15 - 17x^7/315, whose next term is below 1e-8 relative there.
inline S::V tanh_v(S::V x) {
    const S::V one = S::set1(1.0f);
    const S::V ax = E::abs(x);
    const S::V t = exp_v(S::mul(ax, S::set1(-2.0f)));
    const S::V big = E::div(S::sub(one, t), S::add(one, t));
    const S::V x2 = S::mul(ax, ax);
    S::V p = S::set1(-17.0f / 315.0f);
    p = S::fma(p, x2, S::set1(2.0f / 15.0f));
    p = S::fma(p, x2, S::set1(-1.0f / 3.0f));
    const S::V small = S::fma(S::mul(p, x2), ax, ax);
    const S::V mag = E::lt_select(ax, S::set1(0.15f), small, big);
    return E::lt_select(x, S::zero(), S::sub(S::zero(), mag), mag);
}

// The activations of KernelTable::Act on one vector (z already includes the bias).
template <int Act>
inline S::V activation(S::V z) {
    if constexpr (Act == KernelTable::kRelu2) {
        const S::V r = E::max(z, S::zero());
        return S::mul(r, r);
    } else if constexpr (Act == KernelTable::kSigmoid) {
        return sigmoid_v(z);
    } else if constexpr (Act == KernelTable::kSilu) {
        return S::mul(z, sigmoid_v(z));
    } else if constexpr (Act == KernelTable::kTanh) {
        return tanh_v(z);
    } else if constexpr (Act == KernelTable::kExpNegExp) {
        return exp_v(S::sub(S::zero(), exp_v(z)));
    } else {  // kV7Decay: exp(-e^-0.5 * sigmoid(z))
        return exp_v(S::mul(S::set1(-0.606531f), sigmoid_v(z)));
    }
}

template <int Act>
void activate_n(float* x, const float* bias, int n) {
    int i = 0;
    for (; i + S::W <= n; i += S::W) {
        S::V z = S::load(x + i);
        if (bias != nullptr) z = S::add(z, S::load(bias + i));
        S::store(x + i, activation<Act>(z));
    }
    if (i < n) {  // the tail through a padded vector, so it gets the same arithmetic
        float buf[S::W] = {};
        for (int j = i; j < n; ++j) buf[j - i] = x[j] + (bias != nullptr ? bias[j] : 0.0f);
        S::store(buf, activation<Act>(S::load(buf)));
        for (int j = i; j < n; ++j) x[j] = buf[j - i];
    }
}

void activate(int act, float* x, const float* bias, int n) {
    switch (act) {
        case KernelTable::kRelu2:
            return activate_n<KernelTable::kRelu2>(x, bias, n);
        case KernelTable::kSigmoid:
            return activate_n<KernelTable::kSigmoid>(x, bias, n);
        case KernelTable::kSilu:
            return activate_n<KernelTable::kSilu>(x, bias, n);
        case KernelTable::kTanh:
            return activate_n<KernelTable::kTanh>(x, bias, n);
        case KernelTable::kExpNegExp:
            return activate_n<KernelTable::kExpNegExp>(x, bias, n);
        default:
            return activate_n<KernelTable::kV7Decay>(x, bias, n);
    }
}

inline float sum_n(const float* x, int n) {
    S::V a0 = S::zero(), a1 = S::zero();
    int i = 0;
    for (; i + 2 * S::W <= n; i += 2 * S::W) {
        a0 = S::add(a0, S::load(x + i));
        a1 = S::add(a1, S::load(x + i + S::W));
    }
    for (; i + S::W <= n; i += S::W) a0 = S::add(a0, S::load(x + i));
    float s = S::sum(S::add(a0, a1));
    for (; i < n; ++i) s += x[i];
    return s;
}

// Two passes (mean, then the squared deviations), so large means cost no precision; the
// 2 x W partial sums keep each float accumulator short.
void layer_norm(const float* x, const float* w, const float* b, float* y, int n, float eps) {
    const float mean = sum_n(x, n) / static_cast<float>(n);
    const S::V mv = S::set1(mean);
    S::V a0 = S::zero(), a1 = S::zero();
    int i = 0;
    for (; i + 2 * S::W <= n; i += 2 * S::W) {
        const S::V d0 = S::sub(S::load(x + i), mv);
        const S::V d1 = S::sub(S::load(x + i + S::W), mv);
        a0 = S::fma(d0, d0, a0);
        a1 = S::fma(d1, d1, a1);
    }
    for (; i + S::W <= n; i += S::W) {
        const S::V d = S::sub(S::load(x + i), mv);
        a0 = S::fma(d, d, a0);
    }
    float ss = S::sum(S::add(a0, a1));
    for (; i < n; ++i) ss += (x[i] - mean) * (x[i] - mean);
    const float inv = 1.0f / __builtin_sqrtf(ss / static_cast<float>(n) + eps);
    const S::V iv = S::set1(inv);
    i = 0;
    for (; i + S::W <= n; i += S::W) {
        const S::V d = S::mul(S::sub(S::load(x + i), mv), iv);
        S::store(y + i, S::fma(d, S::load(w + i), S::load(b + i)));
    }
    for (; i < n; ++i) y[i] = (x[i] - mean) * inv * w[i] + b[i];
}

// out = x + (s - x) * m
void lerp(const float* x, const float* s, const float* m, float* out, int n) {
    int i = 0;
    for (; i + S::W <= n; i += S::W) {
        const S::V xv = S::load(x + i);
        S::store(out + i, S::fma(S::sub(S::load(s + i), xv), S::load(m + i), xv));
    }
    for (; i < n; ++i) out[i] = x[i] + (s[i] - x[i]) * m[i];
}

// out = x * m + s * (1 - m)
void mix(const float* x, const float* s, const float* m, float* out, int n) {
    const S::V one = S::set1(1.0f);
    int i = 0;
    for (; i + S::W <= n; i += S::W) {
        const S::V mv = S::load(m + i);
        S::store(out + i, S::fma(S::load(x + i), mv, S::mul(S::load(s + i), S::sub(one, mv))));
    }
    for (; i < n; ++i) out[i] = x[i] * m[i] + s[i] * (1.0f - m[i]);
}

void add(float* x, const float* y, int n) {
    int i = 0;
    for (; i + S::W <= n; i += S::W) S::store(x + i, S::add(S::load(x + i), S::load(y + i)));
    for (; i < n; ++i) x[i] += y[i];
}

void mul(float* x, const float* y, int n) {
    int i = 0;
    for (; i + S::W <= n; i += S::W) S::store(x + i, S::mul(S::load(x + i), S::load(y + i)));
    for (; i < n; ++i) x[i] *= y[i];
}

// x += sigmoid(r) * v
void add_gated(float* x, const float* r, const float* v, int n) {
    int i = 0;
    for (; i + S::W <= n; i += S::W) {
        S::store(x + i, S::fma(sigmoid_v(S::load(r + i)), S::load(v + i), S::load(x + i)));
    }
    if (i < n) {
        float buf[S::W] = {};
        for (int j = i; j < n; ++j) buf[j - i] = r[j];
        S::store(buf, sigmoid_v(S::load(buf)));
        for (int j = i; j < n; ++j) x[j] += buf[j - i] * v[j];
    }
}

inline float dot_n(const float* a, const float* b, int n) {
    S::V a0 = S::zero(), a1 = S::zero();
    int i = 0;
    for (; i + 2 * S::W <= n; i += 2 * S::W) {
        a0 = S::fma(S::load(a + i), S::load(b + i), a0);
        a1 = S::fma(S::load(a + i + S::W), S::load(b + i + S::W), a1);
    }
    for (; i + S::W <= n; i += S::W) a0 = S::fma(S::load(a + i), S::load(b + i), a0);
    float s = S::sum(S::add(a0, a1));
    for (; i < n; ++i) s += a[i] * b[i];
    return s;
}

// One token row of RWKV-7 keys (H heads of N): kk = normalize(k * k_k) per head, kka = kk * a,
// k = k * (1 + (a - 1) * k_a).
void v7_keys(float* k, float* kk, float* kka, const float* a, const float* k_k, const float* k_a,
             int H, int N) {
    const S::V one = S::set1(1.0f);
    for (int h = 0; h < H; ++h) {
        const int o = h * N;
        int i = 0;
        for (; i + S::W <= N; i += S::W) {
            S::store(kk + o + i, S::mul(S::load(k + o + i), S::load(k_k + o + i)));
        }
        for (; i < N; ++i) kk[o + i] = k[o + i] * k_k[o + i];
        const float norm = __builtin_sqrtf(dot_n(kk + o, kk + o, N));
        const float inv = 1.0f / (norm > 1e-12f ? norm : 1e-12f);  // F.normalize's eps
        const S::V iv = S::set1(inv);
        i = 0;
        for (; i + S::W <= N; i += S::W) {
            const S::V kkv = S::mul(S::load(kk + o + i), iv);
            const S::V av = S::load(a + o + i);
            S::store(kk + o + i, kkv);
            S::store(kka + o + i, S::mul(kkv, av));
            const S::V scale = S::fma(S::sub(av, one), S::load(k_a + o + i), one);
            S::store(k + o + i, S::mul(S::load(k + o + i), scale));
        }
        for (; i < N; ++i) {
            kk[o + i] *= inv;
            kka[o + i] = kk[o + i] * a[o + i];
            k[o + i] = k[o + i] * (1.0f + (a[o + i] - 1.0f) * k_a[o + i]);
        }
    }
}

// One token row of the RWKV-7 output: y = (GroupNorm(y) + (r . k . r_k per head) v) * g.
void v7_output(float* y, const float* r, const float* k, const float* v, const float* g,
               const float* r_k, const float* ln_w, const float* ln_b, int H, int N, float eps) {
    for (int h = 0; h < H; ++h) {
        const int o = h * N;
        layer_norm(y + o, ln_w + o, ln_b + o, y + o, N, eps);
        S::V acc = S::zero();
        int i = 0;
        for (; i + S::W <= N; i += S::W) {
            acc = S::fma(S::mul(S::load(r + o + i), S::load(k + o + i)), S::load(r_k + o + i), acc);
        }
        float bonus = S::sum(acc);
        for (; i < N; ++i) bonus += r[o + i] * k[o + i] * r_k[o + i];
        const S::V bv = S::set1(bonus);
        i = 0;
        for (; i + S::W <= N; i += S::W) {
            const S::V yv = S::fma(bv, S::load(v + o + i), S::load(y + o + i));
            S::store(y + o + i, S::mul(yv, S::load(g + o + i)));
        }
        for (; i < N; ++i) y[o + i] = (y[o + i] + bonus * v[o + i]) * g[o + i];
    }
}

// e^(a - max(a, b)) and e^(b - max(a, b)): one of the two is e^0 = 1, so one exp serves both.
inline void exp_pair(S::V a, S::V b, S::V& ea, S::V& eb) {
    const S::V e = exp_v(S::sub(S::zero(), E::abs(S::sub(a, b))));
    const S::V one = S::set1(1.0f);
    ea = E::lt_select(a, b, e, one);
    eb = E::lt_select(a, b, one, e);
}

// One token of RWKV-4's max-shifted WKV for W channels: returns y, updates the state aa, bb, pp.
inline S::V wkv4_step(S::V kt, S::V vt, S::V rt, S::V u, S::V w, S::V& aa, S::V& bb, S::V& pp) {
    S::V e1, e2;
    const S::V ww = S::add(u, kt);
    exp_pair(pp, ww, e1, e2);
    const S::V y =
        S::mul(sigmoid_v(rt), E::div(S::fma(e1, aa, S::mul(e2, vt)), S::fma(e1, bb, e2)));
    const S::V decayed = S::add(w, pp);
    exp_pair(decayed, kt, e1, e2);
    aa = S::fma(e1, aa, S::mul(e2, vt));
    bb = S::fma(e1, bb, e2);
    pp = E::max(decayed, kt);
    return y;
}

// RWKV-4's WKV over T tokens for n channels (token rows `stride` apart), vectorised across
// channels. The channel tail runs through padded vectors so every channel gets the same
// arithmetic. aa, bb, pp are the state of these n channels.
void wkv4(const float* k, const float* v, const float* r, const float* u, const float* w, float* aa,
          float* bb, float* pp, float* y, int T, int n, std::size_t stride) {
    int c = 0;
    for (; c + S::W <= n; c += S::W) {
        const S::V uv = S::load(u + c), wv = S::load(w + c);
        S::V av = S::load(aa + c), bv = S::load(bb + c), pv = S::load(pp + c);
        for (int t = 0; t < T; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * stride + c;
            S::store(y + o,
                     wkv4_step(S::load(k + o), S::load(v + o), S::load(r + o), uv, wv, av, bv, pv));
        }
        S::store(aa + c, av);
        S::store(bb + c, bv);
        S::store(pp + c, pv);
    }
    if (c == n) return;
    const int lanes = n - c;
    float ua[S::W] = {}, wa[S::W] = {}, aaa[S::W] = {}, bba[S::W] = {}, ppa[S::W] = {};
    for (int j = 0; j < lanes; ++j) {
        ua[j] = u[c + j];
        wa[j] = w[c + j];
        aaa[j] = aa[c + j];
        bba[j] = bb[c + j];
        ppa[j] = pp[c + j];
    }
    const S::V uv = S::load(ua), wv = S::load(wa);
    S::V av = S::load(aaa), bv = S::load(bba), pv = S::load(ppa);
    for (int t = 0; t < T; ++t) {
        const std::size_t o = static_cast<std::size_t>(t) * stride + c;
        float ka[S::W] = {}, va[S::W] = {}, ra[S::W] = {}, ya[S::W];
        for (int j = 0; j < lanes; ++j) {
            ka[j] = k[o + j];
            va[j] = v[o + j];
            ra[j] = r[o + j];
        }
        S::store(ya, wkv4_step(S::load(ka), S::load(va), S::load(ra), uv, wv, av, bv, pv));
        for (int j = 0; j < lanes; ++j) y[o + j] = ya[j];
    }
    S::store(aaa, av);
    S::store(bba, bv);
    S::store(ppa, pv);
    for (int j = 0; j < lanes; ++j) {
        aa[c + j] = aaa[j];
        bb[c + j] = bba[j];
        pp[c + j] = ppa[j];
    }
}

// One token of the RWKV-5.2/6 state update for one head (S is N x N, [key i, value j]):
//   y_j = sum_i r_i (u_i k_i v_j + S_ij);  S_ij = k_i v_j + w_i S_ij
void wkv5_head(float* S, int N, const float* r, const float* k, const float* v, const float* w,
               const float* u, float* y) {
    const int nv = N / S::W * S::W;
    for (int j = 0; j < N; ++j) y[j] = 0.0f;
    for (int i = 0; i < N; ++i) {
        float* Si = S + static_cast<std::size_t>(i) * N;
        const float ri = r[i];
        const float rui = ri * u[i] * k[i];
        const S::V riv = S::set1(ri), ruiv = S::set1(rui), kiv = S::set1(k[i]), wiv = S::set1(w[i]);
        for (int j = 0; j < nv; j += S::W) {
            const S::V vj = S::load(v + j);
            const S::V s = S::load(Si + j);
            S::store(y + j, S::fma(riv, s, S::fma(ruiv, vj, S::load(y + j))));
            S::store(Si + j, S::fma(wiv, s, S::mul(kiv, vj)));
        }
        for (int j = nv; j < N; ++j) {
            y[j] += rui * v[j] + ri * Si[j];
            Si[j] = k[i] * v[j] + w[i] * Si[j];
        }
    }
}

// Defined in simd_kernels.inl after this file.
void wkv7_head(float* S, int N, const float* w, const float* kk, const float* kka, const float* k,
               const float* v, const float* r, float* y);

// RWKV-7 over T tokens for one head, on the transposed state U = S^T (U[j] is key j's column of
// values). Every per-token product then becomes broadcast-and-FMA over whole vectors,
//   sa = sum_j kk_j U[j];  U[j] = U[j] w_j - sa kka_j + v k_j;  y = sum_j r_j U[j],
// with no horizontal sums (wkv7_head needs two per value row). NV = N / W vectors per column;
// small NV uses two sets of accumulators so the FMA chains cover the latency.
template <int NV>
void wkv7_columns(float* U, int T, std::size_t stride, const float* w, const float* kk,
                  const float* kka, const float* k, const float* v, const float* r, float* y) {
    constexpr int N = NV * S::W;
    constexpr int kSets = NV >= 8 ? 1 : 2;
    for (int t = 0; t < T; ++t) {
        const std::size_t o = static_cast<std::size_t>(t) * stride;
        S::V acc[kSets][NV];
        for (int s = 0; s < kSets; ++s) {
            for (int q = 0; q < NV; ++q) acc[s][q] = S::zero();
        }
        for (int j = 0; j < N; j += kSets) {
            for (int s = 0; s < kSets; ++s) {
                const S::V kj = S::set1(kk[o + j + s]);
                const float* Uj = U + static_cast<std::size_t>(j + s) * N;
                for (int q = 0; q < NV; ++q)
                    acc[s][q] = S::fma(kj, S::load(Uj + q * S::W), acc[s][q]);
            }
        }
        S::V nsa[NV], vv[NV];
        for (int q = 0; q < NV; ++q) {
            S::V sa = acc[0][q];
            for (int s = 1; s < kSets; ++s) sa = S::add(sa, acc[s][q]);
            nsa[q] = S::sub(S::zero(), sa);
            vv[q] = S::load(v + o + q * S::W);
            for (int s = 0; s < kSets; ++s) acc[s][q] = S::zero();
        }
        for (int j = 0; j < N; j += kSets) {
            for (int s = 0; s < kSets; ++s) {
                const S::V wj = S::set1(w[o + j + s]);
                const S::V aj = S::set1(kka[o + j + s]);
                const S::V kj = S::set1(k[o + j + s]);
                const S::V rj = S::set1(r[o + j + s]);
                float* Uj = U + static_cast<std::size_t>(j + s) * N;
                for (int q = 0; q < NV; ++q) {
                    S::V u = S::mul(S::load(Uj + q * S::W), wj);
                    u = S::fma(nsa[q], aj, u);
                    u = S::fma(vv[q], kj, u);
                    S::store(Uj + q * S::W, u);
                    acc[s][q] = S::fma(u, rj, acc[s][q]);
                }
            }
        }
        for (int q = 0; q < NV; ++q) {
            S::V yq = acc[0][q];
            for (int s = 1; s < kSets; ++s) yq = S::add(yq, acc[s][q]);
            S::store(y + o + q * S::W, yq);
        }
    }
}

inline void transpose_square(const float* in, float* out, int N) {
    for (int i = 0; i < N; ++i) {
        for (int j = 0; j < N; ++j)
            out[static_cast<std::size_t>(j) * N + i] = in[static_cast<std::size_t>(i) * N + j];
    }
}

// T tokens of one RWKV-7 head (token rows `stride` floats apart; S as in wkv7_head). Head sizes
// of 2, 4, 8 or 16 vectors up to 128 run on the transposed state; others token by token.
void wkv7_seq(float* S, int N, int T, std::size_t stride, const float* w, const float* kk,
              const float* kka, const float* k, const float* v, const float* r, float* y) {
    constexpr int kMaxN = 128;  // a 64 KiB transposed copy on the stack
    const int nv = N / S::W;
    const bool columns = N % S::W == 0 && N <= kMaxN && (nv == 2 || nv == 4 || nv == 8 || nv == 16);
    if (!columns || T < 2) {
        for (int t = 0; t < T; ++t) {
            const std::size_t o = static_cast<std::size_t>(t) * stride;
            wkv7_head(S, N, w + o, kk + o, kka + o, k + o, v + o, r + o, y + o);
        }
        return;
    }
    alignas(64) float U[kMaxN * kMaxN];
    transpose_square(S, U, N);
    switch (nv) {
        case 2:
            wkv7_columns<2>(U, T, stride, w, kk, kka, k, v, r, y);
            break;
        case 4:
            wkv7_columns<4>(U, T, stride, w, kk, kka, k, v, r, y);
            break;
        case 8:
            wkv7_columns<8>(U, T, stride, w, kk, kka, k, v, r, y);
            break;
        default:
            wkv7_columns<16>(U, T, stride, w, kk, kka, k, v, r, y);
            break;
    }
    transpose_square(U, S, N);
}
