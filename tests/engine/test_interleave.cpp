// The interleaved q8_0 / q5_1 / q4_0 layout (model/interleave.hpp): a pure rearrangement of the row
// layout's blocks, rebuilt exactly block by block, made the same way whether a matrix is
// converted from floats or rearranged from rows, and chosen by the loader where the CPU
// kernels want it. (The kernels on it are checked in test_cpu_kernels.)
#include <QtTest>
#include <cstring>
#include <random>
#include <span>
#include <vector>

#include "model/cpu/kernels.hpp"
#include "model/interleave.hpp"
#include "model/matrix.hpp"
#include "model/weights.hpp"
#include "ravel/model.hpp"
#include "ravel/quant.hpp"

using namespace ravel;
using namespace ravel::detail;

namespace {

std::vector<float> random_values(std::size_t n, std::uint32_t seed) {
    std::mt19937 rng(seed);
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

std::size_t block_size(DType type) {
    return type == DType::Q8_0 ? 34 : type == DType::Q5_1 ? 24 : 18;
}

}  // namespace

class InterleaveTest : public QObject {
    Q_OBJECT

  private slots:
    // A loader copying a matrix is told, part by part and in order, which of the source's
    // bytes it will not read again; the copy is the same as without being told.
    void copied_parts_follow_the_source_in_order() {
        const int rows = 4096, cols = 1024;  // q8_0: 4.25 MiB
        const auto values = random_values(static_cast<std::size_t>(rows) * cols, 11u);
        auto by_rows = make_matrix(values.data(), rows, cols, DType::Q8_0);
        QVERIFY(by_rows.ok());
        std::vector<std::span<const std::byte>> parts;
        auto told = interleave_matrix(*by_rows, nullptr,
                                      [&](std::span<const std::byte> p) { parts.push_back(p); });
        auto plain = interleave_matrix(*by_rows, nullptr);
        QVERIFY(told.ok() && plain.ok());
        QCOMPARE(told->bytes(), plain->bytes());
        QVERIFY(std::memcmp(told->data, plain->data, plain->bytes()) == 0);
        QVERIFY(!parts.empty());
        const std::byte* next = by_rows->data;
        for (const auto& p : parts) {
            QCOMPARE(p.data(), next);
            QVERIFY(p.size() >= (std::size_t{4} << 20));
            next = p.data() + p.size();
        }
        QVERIFY(next <= by_rows->data + by_rows->bytes());
    }

    void every_block_is_rebuilt_exactly_data() {
        QTest::addColumn<int>("dtype");
        QTest::addColumn<int>("rows");
        QTest::addColumn<int>("cols");
        for (DType type : {DType::Q8_0, DType::Q5_1, DType::Q4_0}) {
            for (int rows : {1, 16, 17, 45}) {
                for (int cols : {32, 96, 4160}) {
                    QTest::addRow("%s/%dx%d", dtype_name(type).data(), rows, cols)
                        << int(type) << rows << cols;
                }
            }
        }
    }
    void every_block_is_rebuilt_exactly() {
        QFETCH(int, dtype);
        QFETCH(int, rows);
        QFETCH(int, cols);
        const auto type = static_cast<DType>(dtype);
        const auto values = random_values(static_cast<std::size_t>(rows) * cols, 5u + rows + cols);
        auto by_rows = make_matrix(values.data(), rows, cols, type);
        QVERIFY(by_rows.ok());
        auto x16 = interleave_matrix(*by_rows, nullptr);
        QVERIFY(x16.ok());
        QVERIFY(x16->interleaved());
        const int blocks = cols / 32;
        // 16 f16 scales per block (and for q5_1 16 f16 minima), padded to whole lines, then 4
        // (q4_0), 5 (q5_1: the nibbles and the high bits) or 8 (q8_0) lines.
        const std::size_t per_block = type == DType::Q5_1 ? 64 : 32;
        const std::size_t scales = (static_cast<std::size_t>(blocks) * per_block + 63) / 64 * 64;
        const std::size_t lines = type == DType::Q8_0 ? 8 : type == DType::Q5_1 ? 5 : 4;
        QCOMPARE(x16->group_bytes, scales + blocks * lines * 64);
        QCOMPARE(x16->bytes(), static_cast<std::uint64_t>((rows + 15) / 16) * x16->group_bytes);
        std::byte block[64];
        std::vector<float> want(static_cast<std::size_t>(cols)), got(want.size());
        for (int r = 0; r < rows; ++r) {
            for (int b = 0; b < blocks; ++b) {
                deinterleave_block(*x16, r, b, block);
                QCOMPARE(
                    std::memcmp(block, by_rows->row(r) + b * block_size(type), block_size(type)),
                    0);
            }
            matrix_row_f32(*by_rows, r, want.data());
            matrix_row_f32(*x16, r, got.data());
            QCOMPARE(std::memcmp(got.data(), want.data(), sizeof(float) * want.size()), 0);
        }
        // The padding rows of the last group have zero scales (and minima), so they add
        // nothing.
        for (int r = rows; r < (rows + 15) / 16 * 16; ++r) {
            for (int b = 0; b < blocks; ++b) {
                deinterleave_block(*x16, r, b, block);
                for (int i = 0; i < (type == DType::Q5_1 ? 4 : 2); ++i) QCOMPARE(int(block[i]), 0);
            }
        }
    }

    // q5_1's high bits in the interleaved line: bit 8k + j holds weight 4j + k's, so that one
    // shift puts the four weights of a step at bit 4 of their bytes.
    void q5_1_high_bits_are_rearranged_by_step() {
        for (int n = 0; n < 32; ++n) {
            const int j = n / 4, k = n % 4;
            QCOMPARE(q5_1_high_bits_to_lane(1u << n), 1u << (8 * k + j));
            QCOMPARE(q5_1_high_bits_from_lane(1u << (8 * k + j)), 1u << n);
        }
        std::mt19937 rng(3);
        for (int i = 0; i < 1000; ++i) {
            const std::uint32_t qh = rng();
            QCOMPARE(q5_1_high_bits_from_lane(q5_1_high_bits_to_lane(qh)), qh);
        }
    }

    // Converting straight into the interleaved layout (as a load does, slices of rows shared
    // by threads) gives the same bytes as rearranging a converted row-layout matrix, whose rows
    // are each what quantize_row makes of them.
    void converting_interleaved_equals_rearranging_rows() {
        const int rows = 9000, cols = 64;  // three conversion slices of up to 4096 rows
        const auto values = random_values(static_cast<std::size_t>(rows) * cols, 11);
        for (DType type : {DType::Q8_0, DType::Q5_1, DType::Q4_0}) {
            auto by_rows = make_matrix(values.data(), rows, cols, type);
            QVERIFY(by_rows.ok());
            std::vector<std::byte> row(by_rows->row_bytes);
            for (int r = 0; r < rows; ++r) {
                QVERIFY(ravel::quantize_row(
                    type, values.data() + static_cast<std::size_t>(r) * cols, cols, row.data()));
                if (std::memcmp(row.data(), by_rows->row(r), row.size()) != 0) {
                    QFAIL(qPrintable(QString("row %1 differs").arg(r)));
                }
            }
            auto direct =
                make_matrix(values.data(), rows, cols, type, nullptr, MatrixLayout::Interleaved16);
            QVERIFY(by_rows.ok() && direct.ok());
            auto rearranged = interleave_matrix(*by_rows, nullptr);
            QVERIFY(rearranged.ok());
            QVERIFY(direct->interleaved());
            QCOMPARE(direct->bytes(), rearranged->bytes());
            QCOMPARE(std::memcmp(direct->data, rearranged->data, direct->bytes()), 0);
        }
    }

    void other_types_keep_the_row_layout() {
        const auto values = random_values(17 * 64, 3);
        for (DType type : {DType::F32, DType::F16, DType::BF16}) {
            auto m = make_matrix(values.data(), 17, 64, type, nullptr, MatrixLayout::Interleaved16);
            QVERIFY(m.ok());
            QVERIFY(!m->interleaved());
            QCOMPARE(m->bytes(), static_cast<std::uint64_t>(17) * m->row_bytes);
        }
        auto f16 = make_matrix(values.data(), 17, 64, DType::F16);
        QVERIFY(f16.ok());
        QVERIFY(!interleave_matrix(*f16, nullptr).ok());
    }

    // The loader interleaves q8_0 / q4_0 matrices exactly where the CPU kernels want it, never
    // the embedding (read a row at a time), and keeps rows for a model placed on a GPU. A model
    // asked for on a GPU that ends up on the CPU (no GPU, no driver) gets the CPU's layout.
    void loader_interleaves_where_the_kernels_want_it() {
        for (DType type : {DType::Q8_0, DType::Q5_1, DType::Q4_0, DType::F16}) {
            LoadOptions options;
            options.weight_type = type;
            auto spec = parse_synthetic_spec("v7:2x64:100");
            QVERIFY(spec.ok());
            auto model = Model::synthetic(*spec, options);
            QVERIFY2(model.ok(), model.ok() ? "" : model.message().c_str());
            const ModelWeights& w = (*model)->weights();
            const bool want = cpu::kernels().interleave_quantized && interleavable(type);
            QCOMPARE(w.head.interleaved(), want);
            QCOMPARE(w.layers[0].att_r.interleaved(), want);
            QCOMPARE(w.layers[1].ffn_v.interleaved(), want);
            QVERIFY(!w.emb.interleaved());
            options.device = "cuda";
            auto gpu_bound = Model::synthetic(*spec, options);
            QVERIFY(gpu_bound.ok());
            const bool on_gpu = (*gpu_bound)->device().starts_with("cuda");
            QCOMPARE((*gpu_bound)->weights().head.interleaved(), want && !on_gpu);
            QCOMPARE((*gpu_bound)->weights().layers[0].att_r.interleaved(), want && !on_gpu);
            if (!on_gpu) QVERIFY(!(*gpu_bound)->device_note().empty());  // and it says why
        }
    }
};

QTEST_APPLESS_MAIN(InterleaveTest)
#include "test_interleave.moc"
