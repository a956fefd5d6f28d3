// Resume records must round-trip bit for bit and reject anything damaged or forged.
#include <xxhash.h>

#include <QtTest>
#include <algorithm>
#include <cstring>
#include <random>

#include "ravel/model_fingerprint.hpp"
#include "ravel/resume_record.hpp"
#include "ravel/weight_file.hpp"
#include "test_data.hpp"

using namespace ravel;

namespace {

ModelConfig v7_config() {
    ModelConfig c;
    c.arch = Arch::V7;
    c.n_layer = 3;
    c.n_embd = 128;
    c.n_head = 2;
    c.head_size = 64;
    c.n_vocab = 1000;
    c.dim_ffn = 512;
    c.lora_w = c.lora_a = c.lora_v = 32;
    c.lora_g = 64;
    return c;
}

ModelConfig v4_config() {
    ModelConfig c;
    c.arch = Arch::V4;
    c.n_layer = 2;
    c.n_embd = 128;
    c.n_vocab = 256;
    c.dim_ffn = 512;
    return c;
}

ResumeRecord sample_record(const ModelConfig& c, std::uint32_t seed) {
    std::mt19937 rng(seed);
    ResumeRecord r;
    r.state = State(c);
    // Random bit patterns, so NaN payloads, -0 and subnormals must survive too.
    for (float& v : r.state.values()) {
        std::uint32_t bits = rng();
        std::memcpy(&v, &bits, 4);
    }
    r.logits.resize(c.n_vocab);
    for (float& v : r.logits) {
        std::uint32_t bits = rng();
        std::memcpy(&v, &bits, 4);
    }
    r.sampler.resize(777);
    for (auto& b : r.sampler) b = std::byte(rng() & 0xff);
    r.token_count = 0x0123456789abcdefULL;
    for (auto& b : r.model.bytes) b = std::uint8_t(rng());
    r.tokenizer_id = "world";
    return r;
}

ResumeBlob reseal(ResumeBlob blob) {
    const std::uint64_t sum = XXH3_64bits(blob.data(), blob.size() - 8);
    std::memcpy(blob.data() + blob.size() - 8, &sum, 8);
    return blob;
}

bool same_bits(std::span<const float> a, std::span<const float> b) {
    return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size_bytes()) == 0;
}

}  // namespace

class TestResumeRecord : public QObject {
    Q_OBJECT
  private slots:
    void roundTripBitForBit_data() {
        QTest::addColumn<int>("which");
        QTest::newRow("v7") << 7;
        QTest::newRow("v4") << 4;
    }
    void roundTripBitForBit() {
        QFETCH(int, which);
        const ModelConfig c = which == 7 ? v7_config() : v4_config();
        const ResumeRecord r = sample_record(c, 11);
        const auto blob = encode_resume_record(r);
        QCOMPARE(std::memcmp(blob.data(), "RAVELSNP", 8), 0);
        // Sized once up front: growing would have copied the state into fresh pages again.
        QCOMPARE(blob.capacity(), blob.size());
        auto back = decode_resume_record(blob);
        QVERIFY2(back.ok(), back.ok() ? "" : back.message().c_str());
        QVERIFY(same_bits(back->state.values(), r.state.values()));
        QVERIFY(same_bits(back->logits, r.logits));
        QVERIFY(back->sampler == r.sampler);
        QCOMPARE(back->token_count, r.token_count);
        QVERIFY(back->model == r.model);
        QCOMPARE(back->tokenizer_id, r.tokenizer_id);
        QCOMPARE(back->state.config().n_layer, c.n_layer);
        QCOMPARE(back->state.config().head_size, c.head_size);
        QVERIFY(back->state.fits(c));
        QVERIFY(encode_resume_record(*back) == blob);
    }

    void emptyLogitsAndSampler() {
        ResumeRecord r;
        r.state = State(v4_config());
        const auto blob = encode_resume_record(r);
        QCOMPARE(blob.capacity(), blob.size());
        auto back = decode_resume_record(blob);
        QVERIFY(back.ok());
        QVERIFY(back->logits.empty());
        QVERIFY(back->sampler.empty());
        QVERIFY(encode_resume_record(*back) == blob);
    }

    void everyFlippedByteIsRejected() {
        const auto blob = encode_resume_record(sample_record(v7_config(), 3));
        // Every byte of the small sections and the checksum, plus a stride through the state.
        std::vector<std::size_t> positions;
        for (std::size_t i = 0; i < 256; ++i) positions.push_back(i);
        for (std::size_t i = 256; i < blob.size(); i += 97) positions.push_back(i);
        for (std::size_t i = blob.size() - 16; i < blob.size(); ++i) positions.push_back(i);
        for (std::size_t pos : positions) {
            for (int bit : {0, 7}) {
                auto bad = blob;
                bad[pos] ^= std::byte(1 << bit);
                auto r = decode_resume_record(bad);
                QVERIFY2(!r.ok(), qPrintable(QString("flip at %1 accepted").arg(pos)));
            }
        }
    }

    void everyTruncationIsRejected() {
        const auto blob = encode_resume_record(sample_record(v4_config(), 5));
        for (std::size_t n = 0; n < blob.size(); n += (n < 512 ? 1 : 131)) {
            auto r = decode_resume_record(std::span(blob).first(n));
            QVERIFY2(!r.ok(), qPrintable(QString("truncation to %1 accepted").arg(n)));
        }
        auto longer = blob;
        longer.push_back(std::byte{0});
        QVERIFY(!decode_resume_record(longer).ok());
    }

    void clearErrors() {
        const auto blob = encode_resume_record(sample_record(v4_config(), 6));
        auto bad_magic = blob;
        bad_magic[0] = std::byte{'X'};
        auto r1 = decode_resume_record(bad_magic);
        QVERIFY(!r1.ok() && r1.message().find("magic") != std::string::npos);

        auto bad_version = blob;
        bad_version[8] = std::byte{9};
        auto r2 = decode_resume_record(bad_version);
        QVERIFY(!r2.ok() && r2.message().find("version 9") != std::string::npos);

        auto bad_sum = blob;
        bad_sum[100] ^= std::byte{1};
        auto r3 = decode_resume_record(bad_sum);
        QVERIFY(!r3.ok() && r3.message().find("checksum") != std::string::npos);
    }

    // A forger can produce a valid checksum; the lengths must still be checked.
    void forgedLengthsWithValidChecksum() {
        const auto blob = encode_resume_record(sample_record(v4_config(), 8));
        // First section header starts at 16: tag(4) reserved(4) length(8).
        auto huge = blob;
        const std::uint64_t big = ~std::uint64_t{0} - 3;
        std::memcpy(huge.data() + 24, &big, 8);
        auto r = decode_resume_record(reseal(huge));
        QVERIFY(!r.ok());
        QVERIFY(r.message().find("remain") != std::string::npos);

        // A shape field that claims a giant model: rejected before the state is allocated.
        auto giant = blob;
        const std::int64_t layers = 1 << 19;
        std::memcpy(giant.data() + 32 + 4 + 8, &layers, 8);  // CONF payload: count, arch, n_layer
        auto g = decode_resume_record(reseal(giant));
        QVERIFY(!g.ok());

        // Many sections.
        auto many = blob;
        const std::uint32_t count = 1u << 30;
        std::memcpy(many.data() + 12, &count, 4);
        QVERIFY(!decode_resume_record(reseal(many)).ok());

        // Limit on the whole blob.
        DecodeLimits tiny;
        tiny.max_bytes = 64;
        QVERIFY(!decode_resume_record(blob, tiny).ok());
    }

    void fitsChecksModelAndShape() {
        const ResumeRecord r = sample_record(v7_config(), 9);
        QVERIFY(check_record_fits(r, v7_config(), r.model).ok());
        ModelFingerprint other = r.model;
        other.bytes[0] ^= 1;
        auto e1 = check_record_fits(r, v7_config(), other);
        QVERIFY(!e1.ok() && e1.message().find("another model") != std::string::npos);
        ModelConfig wider = v7_config();
        wider.n_layer = 4;
        QVERIFY(!check_record_fits(r, wider, r.model).ok());
    }

    void fingerprintHex() {
        ModelFingerprint f;
        for (std::size_t i = 0; i < 16; ++i) f.bytes[i] = std::uint8_t(i * 17);
        QCOMPARE(f.hex(), std::string("00112233445566778899aabbccddeeff"));
        QVERIFY(ModelFingerprint::from_hex(f.hex()) == f);
        QVERIFY(!ModelFingerprint::from_hex("0011").has_value());
        QVERIFY(!ModelFingerprint::from_hex("zz112233445566778899aabbccddeeff").has_value());
        QVERIFY(ModelFingerprint{}.empty());
        QVERIFY(!f.empty());
    }

    // Same tensors in .pth and .safetensors: same fingerprint; different models: different.
    void fingerprintOfSharedModels() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto dir = test::shared_data_dir() / "models";
        std::vector<ModelFingerprint> seen;
        for (const char* name :
             {"tiny-7v0-834K", "random-v7.0-L3-D128-H2x64-V1000", "tiny-4v0-660K"}) {
            auto pth = WeightFile::open(dir / name / "model.pth");
            auto st = WeightFile::open(dir / name / "model.safetensors");
            QVERIFY2(pth.ok(), pth.ok() ? "" : pth.message().c_str());
            QVERIFY2(st.ok(), st.ok() ? "" : st.message().c_str());
            auto cfg = detect_config(*pth);
            QVERIFY2(cfg.ok(), cfg.ok() ? "" : cfg.message().c_str());
            const auto fa = compute_fingerprint(*pth, *cfg);
            const auto fb = compute_fingerprint(*st, *cfg);
            QVERIFY(fa.ok() && fb.ok());
            const ModelFingerprint a = *fa;
            QVERIFY(a == *fb);
            for (const auto& s : seen) QVERIFY(!(s == a));
            seen.push_back(a);
            QVERIFY(!(fingerprint_for_runtime(a, DType::F32) ==
                      fingerprint_for_runtime(a, DType::F16)));
        }
    }

    // Progress rises to 1 over the tensors; a cancel is an error of its own kind, and the
    // cache keeps nothing from a computation that did not finish.
    void fingerprintProgressAndCancel() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto model = test::shared_data_dir() / "models" / "tiny-5v2-730K" / "model.pth";
        auto file = WeightFile::open(model);
        QVERIFY(file.ok());
        auto cfg = detect_config(*file);
        QVERIFY(cfg.ok());
        std::vector<double> seen;
        const auto fp = compute_fingerprint(*file, *cfg, [&](double f) {
            seen.push_back(f);
            return true;
        });
        QVERIFY(fp.ok());
        QCOMPARE(seen.size(), file->tensors().size());
        QVERIFY(std::is_sorted(seen.begin(), seen.end()));
        QVERIFY(seen.front() > 0.0);
        QCOMPARE(seen.back(), 1.0);
        const auto plain = compute_fingerprint(*file, *cfg);
        QVERIFY(plain.ok() && *plain == *fp);

        int calls = 0;
        const auto stopped = compute_fingerprint(*file, *cfg, [&](double) { return ++calls < 3; });
        QVERIFY(stopped.cancelled());
        QCOMPARE(calls, 3);
        QTemporaryDir tmp;
        FingerprintCache cache(tmp.filePath("fp.json").toStdString());
        QVERIFY(cache.get_or_compute(*file, *cfg, [](double) { return false; }).cancelled());
        QVERIFY(!cache.lookup(model).has_value());
        auto stored = cache.get_or_compute(*file, *cfg, [](double) { return true; });
        QVERIFY(stored.ok() && *stored == *fp);
        QVERIFY(cache.lookup(model).has_value());
    }

    void fingerprintCache() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto model = test::shared_data_dir() / "models" / "tiny-5v2-730K" / "model.pth";
        QTemporaryDir tmp;
        const std::filesystem::path cache_file = tmp.filePath("fp.json").toStdString();
        FingerprintCache cache(cache_file);
        QVERIFY(!cache.lookup(model).has_value());
        auto file = WeightFile::open(model);
        QVERIFY(file.ok());
        auto cfg = detect_config(*file);
        QVERIFY(cfg.ok());
        auto fp = cache.get_or_compute(*file, *cfg);
        QVERIFY(fp.ok());
        const auto computed = compute_fingerprint(*file, *cfg);
        QVERIFY(computed.ok() && *fp == *computed);
        QVERIFY(std::filesystem::exists(cache_file));
        // A fresh cache object reads it back from disk.
        FingerprintCache again(cache_file);
        auto hit = again.lookup(model);
        QVERIFY(hit.has_value() && *hit == *fp);
        // A poisoned cache entry is what lookup returns (it is keyed by path/size/mtime), but a
        // garbage file is simply a miss.
        {
            std::ofstream out(cache_file, std::ios::trunc);
            out << "{not json";
        }
        QVERIFY(!again.lookup(model).has_value());
        // Well-formed JSON of the wrong shape is a miss too, never an exception.
        for (const char* text : {R"({"scheme":null,"entries":[]})", R"({"scheme":"1"})",
                                 R"({"scheme":1.5})", R"([1,2])", R"({"scheme":1,"entries":7})"}) {
            {
                std::ofstream out(cache_file, std::ios::trunc);
                out << text;
            }
            QVERIFY2(!again.lookup(model).has_value(), text);
            auto recomputed = again.get_or_compute(*file, *cfg);
            QVERIFY2(recomputed.ok() && *recomputed == *fp, text);
        }
    }

    // Linux paths are bytes; one that is not UTF-8 cannot be a JSON string. The model still
    // loads and is fingerprinted (every time: it is not cached), and the cache file is kept.
    void fingerprintOfAPathThatIsNotUtf8() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto model = test::shared_data_dir() / "models" / "tiny-5v2-730K" / "model.pth";
        QTemporaryDir tmp;
        const std::filesystem::path odd =
            std::filesystem::path(tmp.path().toStdString()) / std::string("mod\xe9l.pth");
        std::filesystem::copy_file(model, odd);
        const std::filesystem::path cache_file = tmp.filePath("fp.json").toStdString();
        FingerprintCache cache(cache_file);
        auto file = WeightFile::open(odd);
        QVERIFY(file.ok());
        auto cfg = detect_config(*file);
        QVERIFY(cfg.ok());
        auto fp = cache.get_or_compute(*file, *cfg);
        QVERIFY(fp.ok());
        QCOMPARE(fp->hex(), compute_fingerprint(*file, *cfg)->hex());
        QVERIFY(!cache.lookup(odd).has_value());
        // Entries for other models are kept.
        auto plain = WeightFile::open(model);
        QVERIFY(cache.get_or_compute(*plain, *cfg).ok());
        QVERIFY(cache.get_or_compute(*file, *cfg).ok());
        QVERIFY(cache.lookup(model).has_value());
        // QTemporaryDir decodes names as UTF-8 and could not remove this one.
        std::filesystem::remove(odd);
    }
};

QTEST_APPLESS_MAIN(TestResumeRecord)
#include "test_resume_record.moc"
