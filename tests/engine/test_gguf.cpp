// GGUF: Ravel's converter round-trips the reference models in every weight type; llama.cpp-style
// rwkv6/rwkv7 files (built here from the reference models with llama.cpp's transforms, written
// independently of the reader) read back as the original BlinkDL tensors; hostile headers give
// clear errors.
#include <QTemporaryDir>
#include <QtTest>
#include <bit>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "format/gguf_derived.hpp"
#include "format/kquant.hpp"
#include "gguf_llama_builder.hpp"
#include "page_residency.hpp"
#include "proc_smaps.hpp"
#include "ravel/gguf.hpp"
#include "ravel/model_fingerprint.hpp"
#include "ravel/quant.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"
#include "test_data.hpp"

namespace {

using ravel::DType;
using ravel::TensorInfo;
using ravel::WeightFile;
using ravel::test::add_built;
using ravel::test::Built;
using ravel::test::dequantized;
using ravel::test::quantized;
namespace fs = std::filesystem;

const char* const kModels[] = {
    "tiny-4v0-660K",
    "tiny-5v2-730K",
    "tiny-6v0-3m-Q5_1dq",
    "tiny-7v0-834K",
    "random-v4-L2-D128-V1000",
    "random-v5.2-L2-D128-H2x64-V1000",
    "random-v6.0-L2-D128-H2x64-V1000",
    "random-v7.0-L3-D128-H2x64-V1000",
};

fs::path model_path(const char* name) {
    return ravel::test::shared_data_dir() / "models" / name / "model.safetensors";
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * 4) == 0;
}

// The inside of Python's repr() of a bytes object, as llama.cpp writes World tokens.
std::string python_bytes_repr_inside(std::string_view b) {
    const bool dq = b.find('\'') != std::string_view::npos && b.find('"') == std::string_view::npos;
    std::string out;
    for (unsigned char c : b) {
        if (c == '\\') {
            out += "\\\\";
        } else if (c == '\'' && !dq) {
            out += "\\'";
        } else if (c == '\n') {
            out += "\\n";
        } else if (c == '\r') {
            out += "\\r";
        } else if (c == '\t') {
            out += "\\t";
        } else if (c < 0x20 || c >= 0x7f) {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", c);
            out += buf;
        } else {
            out.push_back(static_cast<char>(c));
        }
    }
    return out;
}

// ---- q4_K / q5_K / q6_K reference blocks and their values, decoded by gguf-py ----

#include "kquant_golden.inc"

struct KQuantCase {
    const char* name;
    std::uint32_t type;
    std::span<const std::uint8_t> blocks;
    std::span<const std::uint32_t> value_bits;
};

const KQuantCase kKQuantCases[] = {
    {"q4_K", k_q4_K_type, k_q4_K_blocks, k_q4_K_values},
    {"q5_K", k_q5_K_type, k_q5_K_blocks, k_q5_K_values},
    {"q6_K", k_q6_K_type, k_q6_K_blocks, k_q6_K_values},
};

float golden_value(const KQuantCase& c, std::size_t i) {
    return std::bit_cast<float>(c.value_bits[i]);
}

// ---- Hand-built GGUF bytes for the hostile-input tests (independent of GgufWriter) ----

struct Bytes {
    std::string b;
    void u32(std::uint32_t v) {
        for (int i = 0; i < 4; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
    }
    void u64(std::uint64_t v) {
        for (int i = 0; i < 8; ++i) b.push_back(static_cast<char>(v >> (8 * i)));
    }
    void str(std::string_view s) {
        u64(s.size());
        b += s;
    }
    void kv_str(std::string_view k, std::string_view v) {
        str(k);
        u32(8);
        str(v);
    }
    void kv_u32(std::string_view k, std::uint32_t v) {
        str(k);
        u32(4);
        u32(v);
    }
};

struct Knobs {
    std::string magic = "GGUF";
    std::uint32_t version = 3;
    std::uint64_t n_tensors = 1;
    std::uint64_t n_kv = 2;
    std::string arch = "ravel-rwkv";
    std::uint32_t ggml_type = 0;
    std::vector<std::uint64_t> ne = {4};
    std::uint64_t offset = 0;
    std::size_t data_bytes = 16;
    std::string extra_kv;  // raw bytes appended after the two normal entries (count it in n_kv)
};

std::string make_gguf(const Knobs& k) {
    Bytes g;
    g.b = k.magic;
    g.u32(k.version);
    g.u64(k.n_tensors);
    g.u64(k.n_kv);
    g.kv_str("general.architecture", k.arch);
    g.kv_u32("ravel.format_version", 1);
    g.b += k.extra_kv;
    g.str("blocks.0.ln1.weight");
    g.u32(static_cast<std::uint32_t>(k.ne.size()));
    for (auto d : k.ne) g.u64(d);
    g.u32(k.ggml_type);
    g.u64(k.offset);
    while (g.b.size() % 32 != 0) g.b.push_back('\0');
    for (std::size_t i = 0; i < k.data_bytes; ++i) g.b.push_back(static_cast<char>(i));
    return g.b;
}

}  // namespace

class TestGguf : public QObject {
    Q_OBJECT

    QTemporaryDir dir_;

    fs::path temp(const std::string& name) const {
        return fs::path(dir_.path().toStdString()) / name;
    }

    ravel::Result<WeightFile> open_bytes(const std::string& name, const std::string& bytes) {
        const auto p = temp(name);
        std::ofstream(p, std::ios::binary)
            .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return WeightFile::open(p);
    }

    void expect_error(const std::string& name, const std::string& bytes, const char* needle) {
        auto f = open_bytes(name, bytes);
        QVERIFY2(!f, name.c_str());
        QVERIFY2(f.message().find(needle) != std::string::npos, f.message().c_str());
    }

    // A file that opens (its header is sound) but whose tensor `tensor` is an error when read:
    // a K-quant block is only decoded then. bytes() finds nothing, every time.
    void expect_read_error(const std::string& name, const std::string& bytes, const char* tensor,
                           const char* needle) {
        auto f = open_bytes(name, bytes);
        QVERIFY2(f, f ? "" : f.message().c_str());
        const auto* t = f->find(tensor);
        QVERIFY(t != nullptr);
        for (int attempt = 0; attempt < 2; ++attempt) {
            QVERIFY(f->bytes(*t).empty());
            auto values = f->read_f32(*t);
            QVERIFY2(!values, name.c_str());
            QVERIFY2(values.message().find(needle) != std::string::npos, values.message().c_str());
        }
        // Hashing it for a model fingerprint is a read too: without the tensor, the fingerprint
        // would be cached for a file that does not load.
        const auto fp = ravel::compute_fingerprint(*f, ravel::ModelConfig{});
        QVERIFY2(!fp && !fp.cancelled(), name.c_str());
        QVERIFY2(fp.message().find(needle) != std::string::npos, fp.message().c_str());
    }

    static std::string tensor_name(std::size_t i) {
        std::string name = "t";
        name += std::to_string(i);
        return name;
    }

    // Whether 8 MiB written in 2 MiB pieces, then mapped with MADV_HUGEPAGE and read, is mapped
    // 2 MiB at a time here (what the writer's pieces are for).
    bool huge_folios_from_aligned_writes() const {
        constexpr std::size_t kPiece = std::size_t{2} << 20, kSize = 4 * kPiece;
        const auto path = temp("control.bin");
        const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) return false;
        const std::vector<char> piece(kPiece, 1);
        bool ok = true;
        for (std::size_t at = 0; at < kSize && ok; at += kPiece) {
            ok = ::write(fd, piece.data(), kPiece) == static_cast<ssize_t>(kPiece);
        }
        void* p = ok ? ::mmap(nullptr, kSize, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
        ::close(fd);
        if (p == MAP_FAILED) return false;
        (void)::madvise(p, kSize, MADV_HUGEPAGE);
        volatile char sink = 0;
        for (std::size_t i = 0; i < kSize; i += 4096) sink = static_cast<const char*>(p)[i];
        (void)sink;
        const bool huge = ravel::test::smaps_number(p, "FilePmdMapped:") > 0;
        ::munmap(p, kSize);
        return huge;
    }

  private slots:
    void initTestCase() { QVERIFY(dir_.isValid()); }

    void minimal_valid_file_reads() {
        auto f = open_bytes("valid.gguf", make_gguf({}));
        QVERIFY2(f, f ? "" : f.message().c_str());
        QCOMPARE(f->format(), ravel::FileFormat::Gguf);
        QCOMPARE(f->tensors().size(), std::size_t{1});
        const TensorInfo& t = f->tensors()[0];
        QCOMPARE(t.offset % 32, std::uint64_t{0});
        QCOMPARE(t.nbytes, std::uint64_t{16});
        QCOMPARE(f->metadata().at("general.architecture"), std::string("ravel-rwkv"));
    }

    void hostile_headers_are_clear_errors() {
        const std::string valid = make_gguf({});
        // Every truncation of a valid file fails cleanly (the last 16 bytes are tensor data).
        for (std::size_t n = 0; n < valid.size(); ++n) {
            auto f = open_bytes("trunc.gguf", valid.substr(0, n));
            QVERIFY2(!f, qPrintable(QString("prefix of %1 bytes was accepted").arg(n)));
        }
        expect_error("trunc_data.gguf", valid.substr(0, valid.size() - 1), "truncated");

        Knobs k;
        k.version = 1;
        expect_error("v1.gguf", make_gguf(k), "version 1");
        k = {};
        k.offset = 4096;
        expect_error("offset.gguf", make_gguf(k), "past the end");
        k = {};
        k.offset = 8;
        expect_error("misaligned.gguf", make_gguf(k), "alignment");
        k = {};
        k.n_tensors = ~0ull;
        expect_error("ntensors.gguf", make_gguf(k), "tensors");
        k = {};
        k.n_kv = 1ull << 60;
        expect_error("nkv.gguf", make_gguf(k), "metadata entries");
        {
            // A count the file's size allows (a large, here sparse, file) but no model has: a
            // clear error before anything is reserved for it, not an allocation failure.
            k = {};
            k.n_tensors = 3'000'000;
            const auto p = temp("many_tensors.gguf");
            std::ofstream(p, std::ios::binary) << make_gguf(k);
            std::filesystem::resize_file(p, std::uint64_t{256} << 20);
            auto f = WeightFile::open(p);
            QVERIFY(!f);
            QVERIFY2(f.message().find("at most") != std::string::npos, f.message().c_str());
            std::filesystem::remove(p);
        }
        k = {};
        k.ggml_type = 12;  // q4_K
        k.ne = {256};
        expect_error("q4k.gguf", make_gguf(k), "q4_K");
        k = {};
        k.ggml_type = 200;
        expect_error("type200.gguf", make_gguf(k), "unknown type 200");
        k = {};
        k.ne = {1ull << 32, 1ull << 32, 1ull << 32};
        expect_error("overflow.gguf", make_gguf(k), "too large");
        k = {};
        k.ne = {1, 1, 1, 1, 4};
        expect_error("rank.gguf", make_gguf(k), "dimensions");
        k = {};
        k.ggml_type = 8;  // q8_0 rows must hold whole 32-value blocks
        k.ne = {16};
        expect_error("partial_block.gguf", make_gguf(k), "whole blocks");
        k = {};
        k.arch = "llama";
        expect_error("llama.gguf", make_gguf(k), "'llama' is not supported");
        k = {};
        k.arch = "rwkv6qwen2";
        expect_error("qwen.gguf", make_gguf(k), "not supported");

        // Huge string length, huge array length, unknown value type, duplicate key.
        Bytes e;
        e.u64(1ull << 62);
        k = {};
        k.n_kv = 3;
        k.extra_kv = e.b;
        expect_error("hugestr.gguf", make_gguf(k), "remain");
        e = {};
        e.str("big.array");
        e.u32(9);
        e.u32(4);
        e.u64(1ull << 61);
        k.extra_kv = e.b;
        expect_error("hugearr.gguf", make_gguf(k), "elements");
        e = {};
        e.str("strings");
        e.u32(9);
        e.u32(8);
        e.u64(1ull << 40);
        k.extra_kv = e.b;
        expect_error("hugestrarr.gguf", make_gguf(k), "strings");
        e = {};
        e.str("odd");
        e.u32(77);
        k.extra_kv = e.b;
        expect_error("valtype.gguf", make_gguf(k), "unknown value type");
        e = {};
        e.kv_u32("ravel.format_version", 1);
        k.extra_kv = e.b;
        expect_error("dup.gguf", make_gguf(k), "twice");
        e = {};
        e.kv_u32("general.alignment", 24);
        k.extra_kv = e.b;
        expect_error("align.gguf", make_gguf(k), "power of two");
        e = {};
        e.kv_u32("ravel.format_version", 1);
        k = {};
        k.n_kv = 2;
        k.arch = "ravel-rwkv";
        // A future Ravel format version is refused rather than misread, and a file without
        // one is not called newer.
        auto ravel_header = [](std::optional<std::uint32_t> version) {
            Bytes v;
            v.b = "GGUF";
            v.u32(3);
            v.u64(0);
            v.u64(version ? 2 : 1);
            v.kv_str("general.architecture", "ravel-rwkv");
            if (version) v.kv_u32("ravel.format_version", *version);
            return v.b;
        };
        expect_error("future.gguf", ravel_header(9), "newer Ravel");
        expect_error("unversioned.gguf", ravel_header(std::nullopt),
                     "no valid ravel.format_version");
    }

    void convert_round_trips_every_type_data() {
        QTest::addColumn<QString>("model");
        QTest::addColumn<QString>("type");
        for (const char* m : kModels) {
            for (const char* t : {"f32", "f16", "bf16", "q8_0", "q5_1", "q4_0"}) {
                QTest::newRow((std::string(m) + "/" + t).c_str()) << QString(m) << QString(t);
            }
        }
    }

    void convert_round_trips_every_type() {
        RAVEL_REQUIRE_SHARED_DATA();
        QFETCH(QString, model);
        QFETCH(QString, type);
        const DType wt = *ravel::dtype_from_name(type.toStdString());
        auto src = WeightFile::open(model_path(model.toStdString().c_str()));
        QVERIFY2(src, src ? "" : src.message().c_str());

        ravel::GgufConvertOptions opt;
        opt.weight_type = wt;
        opt.tokenizer_kind = "world";
        opt.tokenizer_file_name = "vocab.txt";
        opt.tokenizer_file = std::string("1 'a' 1\n2 'b' 1\n") + std::string(1, '\0') + "\xff";
        opt.numbers.push_back({"ravel.n_layer", 7});
        const auto out = temp("conv.gguf");
        auto report = ravel::convert_to_gguf(*src, out, opt);
        QVERIFY2(report, report ? "" : report.message().c_str());
        QVERIFY(!fs::exists(out.string() + ".partial-" + std::to_string(::getpid())));
        QCOMPARE(report->bytes, fs::file_size(out));

        auto g = WeightFile::open(out);
        QVERIFY2(g, g ? "" : g.message().c_str());
        QCOMPARE(g->metadata().at("general.architecture"), std::string("ravel-rwkv"));
        QCOMPARE(g->metadata().at("ravel.n_layer"), std::string("7"));
        QCOMPARE(g->metadata().at("tokenizer.ravel.kind"), std::string("world"));
        QCOMPARE(g->metadata().at("tokenizer.ravel.vocab_file"), opt.tokenizer_file);
        QCOMPARE(g->tensors().size(), src->tensors().size());

        std::size_t in_type = 0;
        for (std::size_t i = 0; i < src->tensors().size(); ++i) {
            const TensorInfo& s = src->tensors()[i];
            const TensorInfo& t = g->tensors()[i];
            QCOMPARE(t.name, s.name);
            QCOMPARE(t.shape, s.shape);
            QCOMPARE(t.offset % 32, std::uint64_t{0});
            // Only 2-D ".weight" matrices take the weight type (every matrix here has rows of
            // whole blocks), except that the embedding is q8_0 for the 4- and 5-bit types;
            // LoRAs and vectors stay f32.
            const bool matrix = s.shape.size() == 2 && s.name.size() > 7 &&
                                s.name.compare(s.name.size() - 7, 7, ".weight") == 0;
            const bool emb_q8 = s.name == "emb.weight" && (wt == DType::Q4_0 || wt == DType::Q5_1);
            const DType expect_type = !matrix ? DType::F32 : emb_q8 ? DType::Q8_0 : wt;
            QCOMPARE(static_cast<int>(t.dtype), static_cast<int>(expect_type));
            if (t.dtype == wt) ++in_type;

            auto sv = src->read_f32(s);
            auto gv = g->read_f32(t);
            QVERIFY(sv && gv);
            if (expect_type == DType::F32) {
                QVERIFY2(same_bits(*sv, *gv), s.name.c_str());
                continue;
            }
            // The stored bytes are exactly the reference quantization of the source, and they
            // decode to exactly its dequantization.
            const auto q = quantized(expect_type, *sv);
            const auto stored = g->bytes(t);
            QCOMPARE(stored.size(), q.size());
            QVERIFY2(std::memcmp(stored.data(), q.data(), q.size()) == 0, s.name.c_str());
            QVERIFY2(same_bits(*gv, dequantized(expect_type, q, sv->size())), s.name.c_str());
        }
        QCOMPARE(in_type, report->in_weight_type);
        QVERIFY(in_type >= 1);  // at least the head
    }

    void fold_ln0_normalises_the_embedding_once() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto src = WeightFile::open(model_path("random-v6.0-L2-D128-H2x64-V1000"));
        QVERIFY(src);
        ravel::GgufConvertOptions opt;
        opt.weight_type = DType::F32;
        opt.fold_ln0 = true;
        QVERIFY(ravel::convert_to_gguf(*src, temp("fold.gguf"), opt));
        auto g = WeightFile::open(temp("fold.gguf"));
        QVERIFY(g);
        QCOMPARE(g->metadata().at("ravel.emb_has_ln0"), std::string("true"));
        const auto emb = *src->read_f32(*src->find("emb.weight"));
        const auto w = *src->read_f32(*src->find("blocks.0.ln0.weight"));
        const auto b = *src->read_f32(*src->find("blocks.0.ln0.bias"));
        const auto got = *g->read_f32(*g->find("emb.weight"));
        const std::size_t C = w.size();
        QCOMPARE(got.size(), emb.size());
        double worst = 0;
        for (std::size_t r = 0; r < emb.size() / C; ++r) {
            // Two-pass mean and biased variance in long double, eps 1e-5 (LayerNorm).
            long double mean = 0, var = 0;
            for (std::size_t i = 0; i < C; ++i) mean += emb[r * C + i];
            mean /= C;
            for (std::size_t i = 0; i < C; ++i) {
                var += (emb[r * C + i] - mean) * (emb[r * C + i] - mean);
            }
            var /= C;
            for (std::size_t i = 0; i < C; ++i) {
                const long double y =
                    (emb[r * C + i] - mean) / std::sqrt(var + 1e-5L) * w[i] + b[i];
                worst = std::max(worst, static_cast<double>(std::fabs(y - got[r * C + i])));
            }
        }
        QVERIFY2(worst < 1e-5, qPrintable(QString::number(worst)));
        // Converting the converted file again must not normalise a second time.
        QVERIFY(ravel::convert_to_gguf(*g, temp("fold2.gguf"), opt));
        auto g2 = WeightFile::open(temp("fold2.gguf"));
        QVERIFY(g2);
        QCOMPARE(g2->metadata().at("ravel.emb_has_ln0"), std::string("true"));
        QVERIFY(same_bits(*g2->read_f32(*g2->find("emb.weight")), got));
    }

    void llama_rwkv7_reads_as_blinkdl() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto path = temp("llama7.gguf");
        auto built =
            ravel::test::write_llama_rwkv7(model_path("random-v7.0-L3-D128-H2x64-V1000"), path);
        QVERIFY2(built, built ? "" : built.message().c_str());
        const auto& orig = built->orig;
        auto g = WeightFile::open(path);
        QVERIFY2(g, g ? "" : g.message().c_str());
        // Everything but the layer-0 value-residual tensors (which BlinkDL's layer 0 ignores).
        std::size_t compared = 0;
        for (const auto& [name, o] : orig) {
            if (name == "blocks.0.att.v0" || name == "blocks.0.att.v1" ||
                name == "blocks.0.att.v2") {
                QVERIFY2(g->find(name) == nullptr, name.c_str());
                continue;
            }
            const TensorInfo* t = g->find(name);
            QVERIFY2(t, name.c_str());
            QCOMPARE(t->shape, o.shape);
            auto v = g->read_f32(*t);
            QVERIFY(v);
            QVERIFY2(same_bits(*v, o.values), name.c_str());
            ++compared;
        }
        QCOMPARE(g->tensors().size(), compared);
        QCOMPARE(g->metadata().at("tokenizer.ggml.model"), std::string("rwkv"));
    }

    // llama.cpp stores the World vocabulary as Python bytes-repr texts; the reader turns them
    // back into an rwkv_vocab file that the World tokenizer loads with every token's bytes.
    void llama_world_vocabulary_round_trips() {
        RAVEL_REQUIRE_SHARED_DATA();
        auto world = ravel::load_world_tokenizer(ravel::test::shared_data_dir() / "tokenizers" /
                                                 "rwkv_vocab_v20230424.txt");
        QVERIFY(world);
        const std::int32_t n = (*world)->vocab_size();
        std::vector<std::string> tokens{"<s>"};
        std::vector<std::int32_t> types{3};
        for (std::int32_t id = 1; id < n; ++id) {
            // Ids past the vocabulary file are padding, marked UNUSED (5) as llama.cpp does.
            const auto bytes = (*world)->token_bytes(id);
            tokens.push_back(bytes.empty() ? "[PAD" + std::to_string(id) + "]"
                                           : python_bytes_repr_inside(bytes));
            types.push_back(bytes.empty() ? 5 : 1);
        }
        const auto path = temp("llama7_vocab.gguf");
        auto built = ravel::test::write_llama_rwkv7(
            model_path("random-v7.0-L3-D128-H2x64-V1000"), path, [&](ravel::GgufWriter& w) {
                w.add_string_array("tokenizer.ggml.tokens", tokens);
                w.add_i32_array("tokenizer.ggml.token_type", types);
            });
        QVERIFY2(built, built ? "" : built.message().c_str());
        auto g = WeightFile::open(path);
        QVERIFY2(g, g ? "" : g.message().c_str());
        QCOMPARE(g->metadata().at("tokenizer.ravel.kind"), std::string("world"));
        auto back = ravel::world_tokenizer_from_vocab_text(
            g->metadata().at("tokenizer.ravel.vocab_file"), "embedded");
        QVERIFY2(back, back ? "" : back.message().c_str());
        QCOMPARE((*back)->vocab_size(), n);
        for (std::int32_t id = 0; id < n; ++id) {
            QVERIFY2((*back)->token_bytes(id) == (*world)->token_bytes(id),
                     qPrintable(QString::number(id)));
        }
        QCOMPARE((*back)->id(), (*world)->id());

        // A malformed escape is an error naming the token.
        tokens[5] = "bad\\q";  // \q is no Python escape
        built = ravel::test::write_llama_rwkv7(
            model_path("random-v7.0-L3-D128-H2x64-V1000"), path,
            [&](ravel::GgufWriter& w) { w.add_string_array("tokenizer.ggml.tokens", tokens); });
        QVERIFY(built);
        g = WeightFile::open(path);
        QVERIFY(!g);
        QVERIFY2(g.message().find("token 5") != std::string::npos, g.message().c_str());
    }

    void llama_rwkv6_undoes_transposes_and_rescaling() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto path = temp("llama6.gguf");
        auto built =
            ravel::test::write_llama_rwkv6(model_path("random-v6.0-L2-D128-H2x64-V1000"), path);
        QVERIFY2(built, built ? "" : built.message().c_str());
        const auto& orig = built->orig;
        const auto& expect_value_l1 = built->expect_value_l1;
        auto g = WeightFile::open(path);
        QVERIFY2(g, g ? "" : g.message().c_str());
        QCOMPARE(g->tensors().size(), orig.size());
        for (const auto& [name, o] : orig) {
            const TensorInfo* t = g->find(name);
            QVERIFY2(t, name.c_str());
            QCOMPARE(t->shape, o.shape);
            auto v = g->read_f32(*t);
            QVERIFY(v);
            if (name.find("ffn.value.weight") != std::string::npos) {
                QCOMPARE(static_cast<int>(t->dtype), static_cast<int>(DType::Q8_0));
                if (name == "blocks.1.ffn.value.weight") {
                    QVERIFY(same_bits(*v, expect_value_l1));
                }
                continue;
            }
            QVERIFY2(same_bits(*v, o.values), name.c_str());
        }
    }

    void llama_inconsistent_files_are_clear_errors() {
        ravel::GgufWriter w;
        w.add_string("general.architecture", "rwkv7");
        w.add_u32("rwkv7.block_count", 1);
        w.add_u32("rwkv7.wkv.head_size", 64);
        QVERIFY(add_built(w, "token_embd.weight", Built({4, 64}, std::vector<float>(256, 1.0f))));
        const auto path = temp("broken7.gguf");
        QVERIFY(w.write(path));
        auto g = WeightFile::open(path);
        QVERIFY(!g);
        QVERIFY2(g.message().find("token_embd_norm.weight") != std::string::npos &&
                     g.message().find("missing") != std::string::npos,
                 g.message().c_str());

        ravel::GgufWriter n;
        n.add_string("general.architecture", "rwkv6");
        QVERIFY(add_built(n, "token_embd.weight", Built({4, 64}, std::vector<float>(256, 1.0f))));
        QVERIFY(n.write(path));
        g = WeightFile::open(path);
        QVERIFY(!g);
        QVERIFY2(g.message().find("rwkv6.block_count") != std::string::npos, g.message().c_str());

        RAVEL_REQUIRE_SHARED_DATA();
        // A LoRA matrix missing is named as missing, not reported as a wrong shape.
        auto lacking = ravel::test::write_llama_rwkv7(model_path("random-v7.0-L3-D128-H2x64-V1000"),
                                                      path, {}, "blk.1.time_mix_a1.weight");
        QVERIFY2(lacking, lacking ? "" : lacking.message().c_str());
        g = WeightFile::open(path);
        QVERIFY(!g);
        QVERIFY2(g.message().find("blk.1.time_mix_a1.weight") != std::string::npos &&
                     g.message().find("missing") != std::string::npos,
                 g.message().c_str());
    }

    // The writer buffers its output into 2 MiB pieces: tensors straddling them read back
    // exactly, and where the page cache takes 2 MiB folios from 2 MiB writes (a control file
    // written that way tells) the new file maps 2 MiB at a time, as mapped_file.cpp asks.
    void writer_pieces_read_back_and_map_huge() {
        ravel::GgufWriter w;
        w.add_string("general.architecture", "ravel-rwkv");
        w.add_u32("ravel.format_version", 1);
        std::vector<std::vector<float>> values;
        values.reserve(4);  // the fill callbacks hold references to its elements
        for (const std::int64_t n : {300007, 1500011, 5, 2000003}) {
            std::vector<float> v(static_cast<std::size_t>(n));
            for (std::size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i % 1000) - 0.5f;
            values.push_back(std::move(v));
            const std::vector<float>& ref = values.back();
            QVERIFY(w.add_tensor(tensor_name(values.size()), DType::F32, {n},
                                 [&ref](std::span<std::byte> out) -> ravel::Result<void> {
                                     std::memcpy(out.data(), ref.data(), out.size());
                                     return {};
                                 }));
        }
        const auto path = temp("pieces.gguf");
        auto written = w.write(path);
        QVERIFY2(written, written ? "" : written.message().c_str());
        QCOMPARE(static_cast<std::uintmax_t>(*written), fs::file_size(path));
        auto g = WeightFile::open(path);
        QVERIFY2(g, g ? "" : g.message().c_str());
        for (std::size_t i = 0; i < values.size(); ++i) {
            const auto* t = g->find(tensor_name(i + 1));
            QVERIFY(t != nullptr);
            QVERIFY(*g->read_f32(*t) == values[i]);
        }

        if (!huge_folios_from_aligned_writes()) {
            QSKIP("this kernel or file system caches written files in small folios");
        }
        const auto bytes = g->bytes(*g->find(tensor_name(4)));
        volatile std::byte sink{};
        for (std::size_t i = 0; i < bytes.size(); i += 4096) sink = bytes[i];
        (void)sink;
        QVERIFY2(ravel::test::smaps_number(bytes.data(), "FilePmdMapped:") > 0,
                 "a freshly written GGUF is not mapped 2 MiB at a time");
    }

    // Ravel's decoder gives gguf-py's values (computed in float32 there too; a contracted
    // multiply-add may differ in the last bits).
    void kquants_decode_as_gguf_py_does() {
        for (const KQuantCase& c : kKQuantCases) {
            std::vector<float> out(c.value_bits.size(), -1.0f);
            QVERIFY(ravel::format::dequantize_kquant(
                c.type, reinterpret_cast<const std::byte*>(c.blocks.data()), out));
            for (std::size_t i = 0; i < out.size(); ++i) {
                const float want = golden_value(c, i);
                if (std::fabs(out[i] - want) > 1e-6f * std::max(1.0f, std::fabs(want))) {
                    QFAIL(qPrintable(QString("%1 value %2: %3, gguf-py %4")
                                         .arg(c.name)
                                         .arg(i)
                                         .arg(static_cast<double>(out[i]))
                                         .arg(static_cast<double>(want))));
                }
            }
        }
        std::vector<float> out(256);
        QVERIFY(!ravel::format::dequantize_kquant(10, nullptr, out));  // q2_K is not read
    }

    // A q4_K / q5_K tensor reads as q5_1, a q6_K tensor as q8_0, holding its values to within
    // the new type's rounding. q5_1 keeps each group's q and rounds only its scale d sc and
    // minimum dmin m to f16 (2^-11 of each): |error| <= 2^-11 (|d sc q| + |dmin m|), and
    // |d sc q| <= |x| + |dmin m| with |dmin m| <= 63 |dmin| (dmin: bytes 2-3 of the
    // super-block). q8_0: half a step (the largest magnitude in each block of 32 / 127), plus
    // the step's own rounding to f16 (2^-11 of it) times up to 127.
    void kquant_tensors_are_reencoded() {
        // Once, and repeated into 3000 super-blocks: enough claims for the threads sharing
        // the re-encoding (gguf_kquant.cpp) to split it.
        for (const std::size_t copies : {std::size_t{1}, std::size_t{1500}}) {
            for (const KQuantCase& c : kKQuantCases) {
                const bool to_q5_1 = c.type != ravel::format::kGgmlQ6K;
                const std::size_t golden = c.value_bits.size();
                const std::size_t block_bytes = c.blocks.size() / (golden / 256);
                Knobs k;
                k.ggml_type = c.type;
                k.ne = {256, 2 * copies};
                k.data_bytes = c.blocks.size() * copies;
                std::string bytes = make_gguf(k);
                for (std::size_t r = 0; r < copies; ++r) {
                    std::memcpy(bytes.data() + bytes.size() - c.blocks.size() * (copies - r),
                                c.blocks.data(), c.blocks.size());
                }
                std::string file = c.name;
                file += ".gguf";
                auto f = open_bytes(file, bytes);
                QVERIFY2(f, f ? "" : f.message().c_str());
                const auto* t = f->find("blocks.0.ln1.weight");
                QVERIFY(t != nullptr);
                QCOMPARE(t->dtype, to_q5_1 ? DType::Q5_1 : DType::Q8_0);
                QCOMPARE(f->metadata().at(std::string(ravel::kGgufReencoded)),
                         "1 " + std::string(c.name) + (to_q5_1 ? " as q5_1" : " as q8_0"));
                QCOMPARE(t->shape,
                         (std::vector<std::int64_t>{static_cast<std::int64_t>(2 * copies), 256}));
                auto values = f->read_f32(*t);
                QVERIFY(values && values->size() == golden * copies);
                for (std::size_t b = 0; b < values->size(); b += 32) {
                    float amax = 0;
                    for (std::size_t i = b; i < b + 32; ++i)
                        amax = std::max(amax, std::fabs(golden_value(c, i % golden)));
                    const std::size_t super = (b % golden) / 256;
                    std::uint16_t dmin_bits = 0;
                    std::memcpy(&dmin_bits, c.blocks.data() + super * block_bytes + 2, 2);
                    const float min_bound = 63.0f * std::fabs(ravel::f16_to_f32(dmin_bits));
                    for (std::size_t i = b; i < b + 32; ++i) {
                        const float want = golden_value(c, i % golden);
                        const float tol =
                            to_q5_1 ? (std::fabs(want) + 2.0f * min_bound) / 2048.0f + 1e-6f
                                    : amax / 127.0f * (0.5f + 127.0f / 2048.0f) + 1e-6f;
                        if (std::fabs((*values)[i] - want) > tol) {
                            QFAIL(qPrintable(
                                QString("%1 x%2, value %3").arg(c.name).arg(copies).arg(i)));
                        }
                    }
                }
                // Once a loader has copied it, the re-encoded buffer can be given back; the
                // next read encodes the same bytes again from the file.
                const std::vector<std::byte> before(f->bytes(*t).begin(), f->bytes(*t).end());
                f->drop_pages(f->bytes(*t));
                const auto again = f->bytes(*t);
                QCOMPARE(again.size(), before.size());
                QVERIFY(std::equal(again.begin(), again.end(), before.begin()));
            }
        }
    }

    // The derived-tensor store behind that: only a whole buffer with a way to rebuild it is
    // released, and finding it again rebuilds it; other buffers and partial spans are kept.
    void derived_buffers_are_released_and_rebuilt() {
        ravel::DerivedTensors d(100);
        int rebuilds = 0;
        auto fill = [&rebuilds](std::span<std::byte> out) {
            ++rebuilds;
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i * 7);
            return ravel::Result<void>();
        };
        auto a = d.allocate(4096, fill);
        QVERIFY(fill(a.bytes));
        auto b = d.allocate(64);  // nothing to rebuild it from
        std::memset(b.bytes.data(), 0x5a, b.bytes.size());
        auto failing = d.allocate(32, [](std::span<std::byte>) -> ravel::Result<void> {
            return ravel::make_error("block 3 is corrupt");
        });
        rebuilds = 0;

        d.release(d.find(a.offset, 4096).subspan(0, 100));  // not the whole buffer
        QCOMPARE(d.find(a.offset, 4096).data(), a.bytes.data());
        d.release(d.find(b.offset, 64));
        QCOMPARE(std::to_integer<int>(d.find(b.offset, 64)[63]), 0x5a);
        QCOMPARE(rebuilds, 0);

        d.release(d.find(a.offset, 4096));
        const auto rebuilt = d.find(a.offset + 10, 20);
        QCOMPARE(rebuilds, 1);
        QCOMPARE(rebuilt.size(), std::size_t{20});
        QCOMPARE(std::to_integer<int>(rebuilt[0]), 70);
        QCOMPARE(d.find(a.offset, 4096).data(), rebuilt.data() - 10);  // built once
        QCOMPARE(rebuilds, 1);

        QVERIFY(d.failure(failing.offset).empty());
        d.release(d.find(failing.offset, 32));
        QVERIFY(d.find(failing.offset, 32).empty());  // a rebuild that fails finds nothing
        QCOMPARE(d.failure(failing.offset + 5), std::string("block 3 is corrupt"));
        QVERIFY(d.failure(a.offset).empty());
    }

    // A deferred buffer takes no memory and runs nothing until it is first found; then it is
    // built once, and like the others rebuilt after a release.
    void deferred_buffers_are_built_when_first_found() {
        ravel::DerivedTensors d(100);
        int builds = 0;
        const auto offset = d.defer(std::size_t{3} << 20, [&builds](std::span<std::byte> out) {
            ++builds;
            for (std::size_t i = 0; i < out.size(); ++i) out[i] = static_cast<std::byte>(i % 251);
            return ravel::Result<void>();
        });
        const auto next = d.defer(16, [](std::span<std::byte>) -> ravel::Result<void> {
            return ravel::make_error("nothing here");
        });
        QVERIFY(next >= offset + (std::size_t{3} << 20));  // offsets do not overlap
        QCOMPARE(builds, 0);
        const auto bytes = d.find(offset + 1000, 10);
        QCOMPARE(builds, 1);
        QCOMPARE(bytes.size(), std::size_t{10});
        QCOMPARE(std::to_integer<int>(bytes[0]), 1000 % 251);
        QCOMPARE(d.find(offset, 16).data(), bytes.data() - 1000);
        QCOMPARE(builds, 1);
        d.release(d.find(offset, std::size_t{3} << 20));
        QCOMPARE(std::to_integer<int>(d.find(offset + 2000, 1)[0]), 2000 % 251);
        QCOMPARE(builds, 2);
        QVERIFY(d.find(next, 16).empty());
        QCOMPARE(d.failure(next), std::string("nothing here"));
    }

    // A rebuild may read another derived buffer (a rescaled llama.cpp matrix is computed from
    // a K-quant re-encoding) and give it back; held_bytes() counts what is built and kept.
    void a_rebuild_may_read_another_buffer() {
        ravel::DerivedTensors d(100);
        const auto inner = d.defer(64, [](std::span<std::byte> out) {
            for (auto& b : out) b = std::byte{7};
            return ravel::Result<void>();
        });
        const auto outer =
            d.allocate(64, [&d, inner](std::span<std::byte> out) -> ravel::Result<void> {
                const auto source = d.find(inner, 64);
                if (source.size() != 64) return ravel::make_error("inner not found");
                for (std::size_t i = 0; i < out.size(); ++i) {
                    out[i] = static_cast<std::byte>(std::to_integer<int>(source[i]) + 1);
                }
                d.release(source);
                return ravel::Result<void>();
            });
        for (auto& b : outer.bytes) b = std::byte{8};
        QCOMPARE(d.held_bytes(), std::uint64_t{64});
        d.release(outer.bytes);
        QCOMPARE(d.held_bytes(), std::uint64_t{0});
        const auto again = d.find(outer.offset, 64);
        QCOMPARE(again.size(), std::size_t{64});
        QCOMPARE(std::to_integer<int>(again[0]), 8);
        QCOMPARE(std::to_integer<int>(again[63]), 8);
        QCOMPARE(d.held_bytes(), std::uint64_t{64});  // the inner one was given back
    }

    // A large buffer is mapped pages: a loader gives parts of it back as it copies them, and
    // the next find() rebuilds the whole buffer in place.
    void derived_buffers_give_back_parts() {
        ravel::DerivedTensors d(100);
        constexpr std::size_t kSize = std::size_t{8} << 20;
        int rebuilds = 0;
        auto fill = [&rebuilds](std::span<std::byte> out) {
            ++rebuilds;
            for (std::size_t i = 0; i < out.size(); ++i) {
                out[i] = static_cast<std::byte>(i * 7 + i / 4096);
            }
            return ravel::Result<void>();
        };
        auto a = d.allocate(kSize, fill);
        QVERIFY(fill(a.bytes));
        rebuilds = 0;
        const auto whole = d.find(a.offset, kSize);
        const auto part = whole.subspan(std::size_t{1} << 20, std::size_t{4} << 20);
        const auto resident = ravel::test::present_pages(part);
        if (!resident) QSKIP("/proc/self/pagemap cannot be read here");
        QVERIFY(*resident > 0);

        d.release(part);
        QCOMPARE(*ravel::test::present_pages(part), std::size_t{0});
        QVERIFY(*ravel::test::present_pages(whole.first(std::size_t{1} << 20)) > 0);
        QCOMPARE(rebuilds, 0);

        const auto again = d.find(a.offset, kSize);
        QCOMPARE(rebuilds, 1);
        QCOMPARE(again.data(), whole.data());
        for (std::size_t i = 0; i < kSize; ++i) {
            if (again[i] != static_cast<std::byte>(i * 7 + i / 4096)) {
                QFAIL(qPrintable(QString("byte %1 differs after the rebuild").arg(i)));
            }
        }
        QCOMPARE(d.find(a.offset, kSize).data(), whole.data());  // rebuilt once
        QCOMPARE(rebuilds, 1);
    }

    void kquant_hostile_tensors_are_clear_errors() {
        Knobs k;
        k.ggml_type = ravel::format::kGgmlQ6K;
        k.ne = {128, 4};  // rows shorter than a super-block
        k.data_bytes = 420;
        expect_error("short-rows.gguf", make_gguf(k), "do not fill whole blocks of 256");
        k.ne = {256, 2};
        k.data_bytes = 419;  // one byte short
        expect_error("truncated-k.gguf", make_gguf(k), "truncated");
        // A q6_K block whose scale d (its last two bytes) is infinite.
        k.data_bytes = 420;
        std::string bytes = make_gguf(k);
        bytes[bytes.size() - 1] = static_cast<char>(0x7c);
        bytes[bytes.size() - 2] = 0;
        expect_read_error("infinite-scale.gguf", bytes, "blocks.0.ln1.weight", "not finite");
        // The same in the last of 3000 blocks, found by whichever thread re-encodes it.
        k.ne = {256, 3000};
        k.data_bytes = 210 * 3000;
        bytes = make_gguf(k);
        for (std::size_t b = 0; b < 3000; ++b) {  // finite scales everywhere else (d = 1)
            bytes[bytes.size() - 210 * (3000 - b) + 208] = 0;
            bytes[bytes.size() - 210 * (3000 - b) + 209] = static_cast<char>(0x3c);
        }
        bytes[bytes.size() - 1] = static_cast<char>(0x7c);
        bytes[bytes.size() - 2] = 0;
        expect_read_error("infinite-scale-late.gguf", bytes, "blocks.0.ln1.weight", "not finite");
        // q4_K (re-encoded as q5_1): an infinite d, and a finite d whose scaled groups
        // (d * sc, up to 63 * 60000) are beyond f16, the type q5_1 keeps them in.
        k.ggml_type = ravel::format::kGgmlQ4K;
        k.ne = {256, 2};
        k.data_bytes = 288;
        for (const std::uint16_t d : {std::uint16_t{0x7c00}, std::uint16_t{0x7b53}}) {
            bytes = make_gguf(k);
            std::memset(bytes.data() + bytes.size() - 288, 0x3f, 288);  // every sc and m 63
            std::memcpy(bytes.data() + bytes.size() - 144, &d, 2);      // the second block's d
            expect_read_error("q4k-scale.gguf", bytes, "blocks.0.ln1.weight",
                              "not finite numbers within f16's range");
        }
        k.ggml_type = 10;  // q2_K
        expect_error("q2k.gguf", make_gguf(k), "q2_K");
    }

    void writer_never_leaves_partial_output() {
        ravel::GgufWriter w;
        w.add_string("general.architecture", "ravel-rwkv");
        QVERIFY(w.add_tensor("t", DType::F32, {8}, [](std::span<std::byte>) -> ravel::Result<void> {
            return ravel::make_error("source went away");
        }));
        const auto path = temp("never.gguf");
        auto r = w.write(path);
        QVERIFY(!r);
        QVERIFY(r.message().find("source went away") != std::string::npos);
        QVERIFY(!fs::exists(path));
        QVERIFY(fs::is_empty(fs::path(dir_.path().toStdString())) || !fs::exists(path));
        for (const auto& e : fs::directory_iterator(dir_.path().toStdString())) {
            QVERIFY2(e.path().string().find(".partial") == std::string::npos, e.path().c_str());
        }
        // A quantized tensor whose rows do not hold whole blocks is refused up front.
        QVERIFY(!w.add_tensor("q", DType::Q4_0, {2, 48}, nullptr));
    }
};

QTEST_GUILESS_MAIN(TestGguf)
#include "test_gguf.moc"
