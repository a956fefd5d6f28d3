// Model-file readers: the reference models load identically from .pth and .safetensors, and
// hand-made hostile files give clear errors without crashing or allocating beyond their size.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTemporaryDir>
#include <QtTest>
#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <new>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <sys/stat.h>

#include "proc_smaps.hpp"
#include "ravel/weight_file.hpp"
#include "test_data.hpp"

// Every allocation in this executable goes through here, so a test can record the largest single
// request made while a hostile file is opened.
namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<std::size_t> g_largest_allocation{0};
}  // namespace

namespace {
void* tracked_malloc(std::size_t n) noexcept {
    if (g_track_allocations.load(std::memory_order_relaxed)) {
        std::size_t seen = g_largest_allocation.load(std::memory_order_relaxed);
        while (n > seen && !g_largest_allocation.compare_exchange_weak(seen, n)) {
        }
    }
    return std::malloc(n == 0 ? 1 : n);
}
}  // namespace

// All the non-aligned forms are replaced together so every new pairs with a matching delete.
void* operator new(std::size_t n) {
    if (void* p = tracked_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new[](std::size_t n) {
    if (void* p = tracked_malloc(n)) return p;
    throw std::bad_alloc();
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    return tracked_malloc(n);
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
    return tracked_malloc(n);
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

using namespace ravel;
using Bytes = std::vector<std::uint8_t>;

namespace {

// ---- little byte-stream builders ---------------------------------------------------------

void put16(Bytes& b, std::uint32_t v) {
    b.push_back(v & 0xff);
    b.push_back((v >> 8) & 0xff);
}
void put32(Bytes& b, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b.push_back((v >> (8 * i)) & 0xff);
}
void put64(Bytes& b, std::uint64_t v) {
    for (int i = 0; i < 8; ++i) b.push_back((v >> (8 * i)) & 0xff);
}
void patch32(Bytes& b, std::size_t at, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) b[at + i] = (v >> (8 * i)) & 0xff;
}
void append(Bytes& b, std::string_view s) {
    b.insert(b.end(), s.begin(), s.end());
}
void append(Bytes& b, const Bytes& s) {
    b.insert(b.end(), s.begin(), s.end());
}

// A zip writer with stored entries, following the APPNOTE layout; offsets are kept so tests
// can damage specific fields.
struct ZipFile {
    struct Entry {
        std::string name;
        Bytes data;
        std::uint16_t method = 0;
        std::size_t local_offset = 0;    // filled by build()
        std::size_t central_offset = 0;  // filled by build()
    };
    std::vector<Entry> entries;
    bool zip64 = false;

    void add(std::string name, Bytes data, std::uint16_t method = 0) {
        entries.push_back({std::move(name), std::move(data), method});
    }

    Bytes build() {
        Bytes out;
        for (auto& e : entries) {
            e.local_offset = out.size();
            put32(out, 0x04034b50);
            put16(out, zip64 ? 45 : 20);
            put16(out, 0);         // flags
            put16(out, e.method);  // method
            put16(out, 0);         // time
            put16(out, 0);         // date
            put32(out, 0);         // crc (not checked by the reader)
            put32(out, static_cast<std::uint32_t>(e.data.size()));
            put32(out, static_cast<std::uint32_t>(e.data.size()));
            put16(out, static_cast<std::uint32_t>(e.name.size()));
            // Pad the extra field so the data starts 64-byte aligned, as PyTorch does.
            const std::size_t unpadded = out.size() + 2 + e.name.size();
            const std::size_t pad = (64 - (unpadded + 4) % 64) % 64;
            put16(out, static_cast<std::uint32_t>(pad + 4));
            append(out, e.name);
            put16(out, 0x4b46);  // a private extra block, as PyTorch writes ("FK")
            put16(out, static_cast<std::uint32_t>(pad));
            out.insert(out.end(), pad, 'Z');
            append(out, e.data);
        }
        const std::size_t cd_offset = out.size();
        for (auto& e : entries) {
            e.central_offset = out.size();
            put32(out, 0x02014b50);
            put16(out, zip64 ? 45 : 20);
            put16(out, zip64 ? 45 : 20);
            put16(out, 0);
            put16(out, e.method);
            put16(out, 0);
            put16(out, 0);
            put32(out, 0);
            const std::uint32_t size =
                zip64 ? 0xffffffffu : static_cast<std::uint32_t>(e.data.size());
            put32(out, size);
            put32(out, size);
            put16(out, static_cast<std::uint32_t>(e.name.size()));
            put16(out, zip64 ? 28 : 0);
            put16(out, 0);  // comment
            put16(out, 0);  // disk
            put16(out, 0);  // internal attributes
            put32(out, 0);  // external attributes
            put32(out, zip64 ? 0xffffffffu : static_cast<std::uint32_t>(e.local_offset));
            append(out, e.name);
            if (zip64) {
                put16(out, 0x0001);
                put16(out, 24);
                put64(out, e.data.size());
                put64(out, e.data.size());
                put64(out, e.local_offset);
            }
        }
        const std::size_t cd_size = out.size() - cd_offset;
        if (zip64) {
            const std::size_t record = out.size();
            put32(out, 0x06064b50);
            put64(out, 44);
            put16(out, 45);
            put16(out, 45);
            put32(out, 0);
            put32(out, 0);
            put64(out, entries.size());
            put64(out, entries.size());
            put64(out, cd_size);
            put64(out, cd_offset);
            put32(out, 0x07064b50);
            put32(out, 0);
            put64(out, record);
            put32(out, 1);
        }
        put32(out, 0x06054b50);
        put16(out, 0);
        put16(out, 0);
        put16(out, zip64 ? 0xffff : static_cast<std::uint32_t>(entries.size()));
        put16(out, zip64 ? 0xffff : static_cast<std::uint32_t>(entries.size()));
        put32(out, zip64 ? 0xffffffffu : static_cast<std::uint32_t>(cd_size));
        put32(out, zip64 ? 0xffffffffu : static_cast<std::uint32_t>(cd_offset));
        put16(out, 0);
        return out;
    }
};

// Emits pickle opcodes the way torch.save (protocol 2) does for a state dict.
struct Pickle {
    Bytes b;
    std::uint32_t next_memo = 0;

    Pickle& op(std::uint8_t o) {
        b.push_back(o);
        return *this;
    }
    Pickle& proto(std::uint8_t v = 2) { return op(0x80).op(v); }
    Pickle& global(std::string_view module, std::string_view name) {
        op('c');
        append(b, module);
        b.push_back('\n');
        append(b, name);
        b.push_back('\n');
        return *this;
    }
    Pickle& str(std::string_view s) {
        op('X');
        put32(b, static_cast<std::uint32_t>(s.size()));
        append(b, s);
        return *this;
    }
    Pickle& integer(std::int64_t v) {
        if (v >= 0 && v < 256) return op('K').op(static_cast<std::uint8_t>(v));
        if (v >= 0 && v < 65536) {
            op('M');
            put16(b, static_cast<std::uint32_t>(v));
            return *this;
        }
        if (v >= INT32_MIN && v <= INT32_MAX) {
            op('J');
            put32(b, static_cast<std::uint32_t>(v));
            return *this;
        }
        op(0x8a).op(8);  // LONG1
        put64(b, static_cast<std::uint64_t>(v));
        return *this;
    }
    Pickle& mark() { return op('('); }
    Pickle& tuple() { return op('t'); }
    Pickle& put() {
        op('q').op(static_cast<std::uint8_t>(next_memo++ & 0xff));
        return *this;
    }
    Pickle& get(std::uint8_t i) { return op('h').op(i); }
    Pickle& reduce() { return op('R'); }
    Pickle& stop() { return op('.'); }
    Pickle& int_tuple(const std::vector<std::int64_t>& v) {
        mark();
        for (auto x : v) integer(x);
        return tuple();
    }
};

struct TensorSpec {
    std::string name;
    std::string storage_type;  // e.g. "FloatStorage"
    std::string key;
    std::int64_t numel;
    std::int64_t offset;
    std::vector<std::int64_t> shape;
    std::vector<std::int64_t> stride;
};

Bytes contiguous_pickle(const std::vector<TensorSpec>& tensors) {
    Pickle p;
    p.proto().global("collections", "OrderedDict").put();  // memo 0
    p.op(')').reduce().put().mark();
    for (const auto& t : tensors) {
        p.str(t.name).global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark().str("storage").global("torch", t.storage_type).str(t.key).str("cpu");
        p.integer(t.numel).tuple().op('Q');
        p.integer(t.offset).int_tuple(t.shape).int_tuple(t.stride);
        p.op(0x89).get(0).op(')').reduce().tuple().reduce();
    }
    p.op('u').stop();
    return p.b;
}

Bytes make_pth(const Bytes& pickle, const std::vector<std::pair<std::string, Bytes>>& storages,
               bool zip64 = false, const std::string& top = "archive") {
    ZipFile z;
    z.zip64 = zip64;
    z.add(top + "/data.pkl", pickle);
    for (const auto& [key, data] : storages) z.add(top + "/data/" + key, data);
    z.add(top + "/version", Bytes{'3', '\n'});
    return z.build();
}

Bytes f32_bytes(const std::vector<float>& v) {
    Bytes b(v.size() * 4);
    std::memcpy(b.data(), v.data(), b.size());
    return b;
}
Bytes u16_bytes(const std::vector<std::uint16_t>& v) {
    Bytes b;
    for (auto x : v) put16(b, x);
    return b;
}

Bytes make_safetensors(const std::string& header, const Bytes& data) {
    Bytes out;
    put64(out, header.size());
    append(out, header);
    append(out, data);
    return out;
}

// ---- a scratch directory and the open-and-expect-an-error check ------------------------------

class Scratch {
  public:
    std::filesystem::path write(const std::string& name, const Bytes& bytes) {
        const std::filesystem::path p = std::filesystem::path(dir_.path().toStdString()) / name;
        // Unlink first: truncating a file in place makes ext4 flush it on close, which turns
        // thousands of small writes into thousands of disk syncs.
        std::error_code ignored;
        std::filesystem::remove(p, ignored);
        std::ofstream out(p, std::ios::binary | std::ios::trunc);
        out.write(reinterpret_cast<const char*>(bytes.data()),
                  static_cast<std::streamsize>(bytes.size()));
        return p;
    }
    std::filesystem::path path(const std::string& name) const {
        return std::filesystem::path(dir_.path().toStdString()) / name;
    }

  private:
    QTemporaryDir dir_;
};

// Opens `bytes` as a file and returns the result, recording the largest allocation made.
struct Opened {
    Result<WeightFile> result;
    std::size_t largest_allocation;
};

Opened open_bytes(Scratch& scratch, const Bytes& bytes) {
    const auto path = scratch.write("input.bin", bytes);
    g_largest_allocation = 0;
    g_track_allocations = true;
    auto r = WeightFile::open(path);
    g_track_allocations = false;
    return {std::move(r), g_largest_allocation.load()};
}

// Readers size their memory by the bytes actually present (the pickle's objects, the zip
// directory), never by a size or shape the file declares. A declared value that slipped through
// (a 2^40-element shape, a 2^60 header length) would blow far past this bound.
std::size_t allocation_bound(std::size_t file_size) {
    return 4 * file_size + 65536;
}

}  // namespace

#define EXPECT_OPEN_ERROR(bytes, needle)                                                         \
    do {                                                                                         \
        const Bytes input_ = (bytes);                                                            \
        auto opened_ = open_bytes(scratch, input_);                                              \
        QVERIFY2(!opened_.result.ok(), "a bad file was accepted");                               \
        const std::string& msg_ = opened_.result.message();                                      \
        QVERIFY2(                                                                                \
            msg_.find(needle) != std::string::npos,                                              \
            qPrintable(QStringLiteral("message lacks '%1': %2")                                  \
                           .arg(QString::fromStdString(needle), QString::fromStdString(msg_)))); \
        QVERIFY2(msg_.find("input.bin") != std::string::npos, "message does not name the file"); \
        QVERIFY2(opened_.largest_allocation <= allocation_bound(input_.size()),                  \
                 qPrintable(QStringLiteral("allocated %1 bytes for a %2-byte file")              \
                                .arg(opened_.largest_allocation)                                 \
                                .arg(input_.size())));                                           \
    } while (false)

class TestFormat : public QObject {
    Q_OBJECT

  private:
    Scratch scratch;

    // A small valid checkpoint: f32 with a shared storage and an offset, f16 and bf16.
    static Bytes good_pth(bool zip64 = false) {
        const std::vector<TensorSpec> specs = {
            {"a", "FloatStorage", "0", 6, 0, {2}, {1}},
            {"b", "FloatStorage", "0", 6, 2, {2, 2}, {2, 1}},
            {"blocks.0.att.time_mix_k", "FloatStorage", "1", 4, 0, {1, 1, 4}, {4, 4, 1}},
            {"half", "HalfStorage", "2", 6, 0, {2, 3}, {3, 1}},
            {"brain", "BFloat16Storage", "3", 4, 0, {4}, {1}},
        };
        return make_pth(contiguous_pickle(specs),
                        {{"0", f32_bytes({0, 1, 2, 3, 4, 5})},
                         {"1", f32_bytes({-1.5f, 0.25f, 1e-3f, 7})},
                         {"2", u16_bytes({0x3c00, 0xc000, 0x3555, 0x7bff, 0x0001, 0x8000})},
                         {"3", u16_bytes({0x3f80, 0xc040, 0x4049, 0x0001})}},
                        zip64);
    }

    void check_good_pth(const Bytes& file) {
        auto opened = open_bytes(scratch, file);
        QVERIFY2(opened.result.ok(), opened.result.ok() ? "" : opened.result.message().c_str());
        const WeightFile& w = *opened.result;
        QCOMPARE(w.format(), FileFormat::Pth);
        QCOMPARE(w.tensors().size(), std::size_t{5});
        QCOMPARE(w.tensors()[0].name, std::string("a"));  // pickle order is kept
        QCOMPARE(w.tensors()[4].name, std::string("brain"));

        const TensorInfo* b = w.find("b");
        QVERIFY(b != nullptr);
        QCOMPARE(b->shape, (std::vector<std::int64_t>{2, 2}));
        QCOMPARE(b->nbytes, std::uint64_t{16});
        QCOMPARE(*w.read_f32(*b), (std::vector<float>{2, 3, 4, 5}));
        QCOMPARE(*w.read_f32(*w.find("a")), (std::vector<float>{0, 1}));
        QCOMPARE(*w.read_f32(*w.find("blocks.0.att.time_mix_k")),
                 (std::vector<float>{-1.5f, 0.25f, 1e-3f, 7}));

        const TensorInfo* half = w.find("half");
        QCOMPARE(half->dtype, DType::F16);
        QCOMPARE(w.bytes(*half).size(), std::size_t{12});
        auto hv = *w.read_f32(*half);
        // f16: 1, -2, 0x3555 = 1365/1024 * 2^-2, max normal 65504, smallest subnormal 2^-24, -0.
        QCOMPARE(hv[0], 1.0f);
        QCOMPARE(hv[1], -2.0f);
        QCOMPARE(hv[2], 0.333251953125f);
        QCOMPARE(hv[3], 65504.0f);
        QCOMPARE(hv[4], 5.9604644775390625e-08f);
        QVERIFY(hv[5] == 0.0f && std::signbit(hv[5]));

        const TensorInfo* brain = w.find("brain");
        QCOMPARE(brain->dtype, DType::BF16);
        auto bv = *w.read_f32(*brain);
        // bf16 is the top half of an f32: 0x4049 -> 0x40490000 = 3.140625.
        QCOMPARE(bv[0], 1.0f);
        QCOMPARE(bv[1], -3.0f);
        QCOMPARE(bv[2], 3.140625f);
        QCOMPARE(bv[3], std::ldexp(1.0f, -133));
        QVERIFY(w.find("missing") == nullptr);
    }

    // Builds a one-tensor checkpoint from pickle bytes, with storage "0" of 16 f32 values.
    static Bytes pth_with_pickle(const Bytes& pickle) {
        return make_pth(pickle, {{"0", f32_bytes(std::vector<float>(16, 1.0f))}});
    }

    static Bytes one_tensor(TensorSpec spec, std::size_t storage_floats = 16) {
        return make_pth(contiguous_pickle({spec}),
                        {{"0", f32_bytes(std::vector<float>(storage_floats, 1.0f))}});
    }

  private slots:
    // ---- the reference models --------------------------------------------------------------

    void referenceModelsAgreeAcrossFormats() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto models = test::shared_data_dir() / "models";
        int checked = 0;
        for (const auto& dir : std::filesystem::directory_iterator(models)) {
            if (!std::filesystem::exists(dir.path() / "case.json")) continue;
            const auto json = test::read_file_bytes(dir.path() / "case.json");
            const auto doc = QJsonDocument::fromJson(QByteArray(json.data(), json.size()));
            const int tensor_count = doc.object()["config"].toObject()["tensor_count"].toInt(-1);
            const QString name = QString::fromStdString(dir.path().filename().string());

            auto pth = WeightFile::open(dir.path() / "model.pth");
            auto st = WeightFile::open(dir.path() / "model.safetensors");
            QVERIFY2(pth.ok(), pth.ok() ? "" : pth.message().c_str());
            QVERIFY2(st.ok(), st.ok() ? "" : st.message().c_str());
            QCOMPARE(pth->format(), FileFormat::Pth);
            QCOMPARE(st->format(), FileFormat::Safetensors);
            QVERIFY2(static_cast<int>(pth->tensors().size()) == tensor_count, qPrintable(name));
            QCOMPARE(st->tensors().size(), pth->tensors().size());
            QCOMPARE(pth->tensors().front().name, std::string("emb.weight"));
            for (std::size_t i = 0; i < pth->tensors().size(); ++i) {
                const TensorInfo& a = pth->tensors()[i];
                const TensorInfo& b = st->tensors()[i];
                QCOMPARE(a.name, b.name);
                QCOMPARE(a.shape, b.shape);
                QCOMPARE(a.dtype, DType::F32);
                QCOMPARE(b.dtype, DType::F32);
                QCOMPARE(a.nbytes, static_cast<std::uint64_t>(a.elements()) * 4);
                QCOMPARE(a.offset % 64, std::uint64_t{0});  // PyTorch aligns stored entries
                auto va = pth->read_f32(a);
                auto vb = st->read_f32(b);
                QVERIFY(va.ok() && vb.ok());
                QCOMPARE(va->size(), static_cast<std::size_t>(a.elements()));
                QVERIFY2(std::memcmp(va->data(), vb->data(), va->size() * 4) == 0,
                         qPrintable(name + ": " + QString::fromStdString(a.name)));
                QVERIFY(std::memcmp(pth->bytes(a).data(), st->bytes(b).data(), a.nbytes) == 0);
            }
            QVERIFY(st->metadata().count("emb.weight") == 0);
            ++checked;
        }
        QCOMPARE(checked, 8);
    }

    void truncatedReferenceFiles() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto dir = test::shared_data_dir() / "models" / "tiny-4v0-660K";
        auto pth = test::read_file_bytes(dir / "model.pth");
        auto st = test::read_file_bytes(dir / "model.safetensors");
        QVERIFY(pth.size() > 1000 && st.size() > 1000);
        EXPECT_OPEN_ERROR(Bytes(pth.begin(), pth.begin() + pth.size() / 2),
                          std::string("end-of-central-directory record not found"));
        EXPECT_OPEN_ERROR(Bytes(pth.begin(), pth.end() - 10),
                          std::string("end-of-central-directory record not found"));
        EXPECT_OPEN_ERROR(Bytes(st.begin(), st.begin() + st.size() / 2),
                          std::string("run past the end of the data"));
        EXPECT_OPEN_ERROR(Bytes(st.begin(), st.begin() + 100), std::string("header length"));
    }

    // ---- well-formed hand-made files -------------------------------------------------------

    void handMadePthLoads() { check_good_pth(good_pth()); }
    void handMadeZip64PthLoads() { check_good_pth(good_pth(true)); }

    void pthWithOtherTopFolderAndParameterLoads() {
        // Parameters pickle as _rebuild_parameter(tensor, requires_grad, hooks); the folder
        // name is chosen by whoever saved the file.
        Pickle p;
        p.proto().op('}').put().mark().str("w");
        p.global("torch._utils", "_rebuild_parameter").mark();
        p.global("torch._utils", "_rebuild_tensor_v2").mark();
        p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").integer(2);
        p.tuple().op('Q').integer(0).int_tuple({2}).int_tuple({1}).op(0x89);
        p.global("collections", "OrderedDict").op(')').reduce().tuple().reduce();
        p.op(0x88).global("collections", "OrderedDict").op(')').reduce().tuple().reduce();
        p.op('u').stop();
        auto opened = open_bytes(
            scratch, make_pth(p.b, {{"0", f32_bytes({3, 4})}}, false, "RWKV-x060-World-1B6"));
        QVERIFY2(opened.result.ok(), opened.result.ok() ? "" : opened.result.message().c_str());
        QCOMPARE(*opened.result->read_f32(opened.result->tensors().at(0)),
                 (std::vector<float>{3, 4}));
    }

    void handMadeSafetensorsLoads() {
        Bytes data = f32_bytes({1.5f, -2.0f});
        append(data, u16_bytes({0x3c00, 0xc000}));  // f16 1, -2
        append(data, u16_bytes({0x4049}));          // bf16 3.140625
        const std::string header =
            R"({"z.first":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
            R"("__metadata__":{"format":"pt","note":"hand made"},)"
            R"("a.half":{"dtype":"F16","shape":[1,2],"data_offsets":[8,12]},)"
            R"("b.bf":{"dtype":"BF16","shape":[],"data_offsets":[12,14]},)"
            R"("empty":{"dtype":"F32","shape":[0,5],"data_offsets":[14,14]}})";
        auto opened = open_bytes(scratch, make_safetensors(header, data));
        QVERIFY2(opened.result.ok(), opened.result.ok() ? "" : opened.result.message().c_str());
        const WeightFile& w = *opened.result;
        QCOMPARE(w.format(), FileFormat::Safetensors);
        QCOMPARE(w.tensors().size(), std::size_t{4});
        QCOMPARE(w.tensors()[0].name, std::string("z.first"));  // header order, not sorted
        QCOMPARE(w.metadata().at("note"), std::string("hand made"));
        QCOMPARE(*w.read_f32(*w.find("z.first")), (std::vector<float>{1.5f, -2.0f}));
        QCOMPARE(*w.read_f32(*w.find("a.half")), (std::vector<float>{1.0f, -2.0f}));
        QCOMPARE(*w.read_f32(*w.find("b.bf")), (std::vector<float>{3.140625f}));
        QCOMPARE(w.find("b.bf")->shape.size(), std::size_t{0});
        QCOMPARE(w.read_f32(*w.find("empty"))->size(), std::size_t{0});
        QCOMPARE(file_format_name(w.format()), std::string_view("safetensors"));
        QCOMPARE(w.file_size(), static_cast<std::uint64_t>(8 + header.size() + data.size()));
    }

    // Every half converts to the float its fields define (sign, 5-bit exponent, 10-bit
    // mantissa; subnormals, infinities and NaN payloads included) and back to itself.
    void everyHalfConvertsExactly() {
        for (std::uint32_t h = 0; h < 65536; ++h) {
            const std::uint32_t sign = h >> 15, exp = (h >> 10) & 31u, mant = h & 1023u;
            std::uint32_t want = 0;
            if (exp == 31) {
                want = (sign << 31) | 0x7f800000u | (mant << 13);
            } else {
                double v = exp == 0 ? std::ldexp(static_cast<double>(mant), -24)
                                    : std::ldexp(static_cast<double>(1024 + mant),
                                                 static_cast<int>(exp) - 25);
                if (sign) v = -v;
                want = std::bit_cast<std::uint32_t>(static_cast<float>(v));
            }
            const float got = ravel::f16_to_f32(static_cast<std::uint16_t>(h));
            if (std::bit_cast<std::uint32_t>(got) != want) {
                QFAIL(qPrintable(QString("half 0x%1").arg(h, 4, 16, QChar('0'))));
            }
            if (exp != 31 || mant == 0)
                QCOMPARE(ravel::f32_to_f16(got), static_cast<std::uint16_t>(h));
        }
        for (std::uint32_t b = 0; b < 65536; b += 257) {
            QCOMPARE(
                std::bit_cast<std::uint32_t>(ravel::bf16_to_f32(static_cast<std::uint16_t>(b))),
                b << 16);
        }
    }

    // Weights used in place stream from the mapping every token: it asks for huge pages, so
    // kernels whose page cache holds large folios map them 2 MiB at a time (VmFlags "hg" is
    // the advice itself, present whatever the file system can do with it).
    void mappingAdvisesHugePages() {
        std::ifstream thp("/sys/kernel/mm/transparent_hugepage/enabled");
        if (!thp) QSKIP("this kernel has no transparent huge pages");
        auto opened = open_bytes(scratch, good_pth());
        QVERIFY(opened.result.ok());
        const WeightFile& w = *opened.result;
        const std::byte* inside = w.bytes(*w.find("a")).data();
        const std::string flags = ravel::test::smaps_value(inside, "VmFlags:").value_or("");
        QVERIFY2(!flags.empty(), "the mapping is not in /proc/self/smaps");
        QVERIFY2((" " + flags + " ").find(" hg ") != std::string::npos, flags.c_str());
    }

    // After a tensor is copied elsewhere (a load interleaving it, say), its pages of the mapped
    // file can leave memory: only those wholly inside the bytes given, and the file's values
    // stay readable. Bytes outside the mapping (ordinary memory) are never touched.
    void droppedPagesLeaveMemoryNotTheFile() {
        constexpr std::size_t kValues = 64 * 1024;  // 64 pages of f32
        std::vector<float> values(kValues);
        for (std::size_t i = 0; i < kValues; ++i) values[i] = static_cast<float>(i);
        Bytes data = f32_bytes(values);
        std::string header = R"({"t":{"dtype":"F32","shape":[65536],"data_offsets":[0,)";
        header += std::to_string(data.size());
        header += "]}}";
        auto opened = open_bytes(scratch, make_safetensors(header, data));
        QVERIFY(opened.result.ok());
        const WeightFile& w = *opened.result;
        const auto bytes = w.bytes(*w.find("t"));
        volatile std::byte sink{};
        for (std::size_t i = 0; i < bytes.size(); i += 4096) sink = bytes[i];
        (void)sink;
        const long before = ravel::test::smaps_number(bytes.data(), "Rss:");
        if (before < 0) QSKIP("this kernel's smaps has no Rss field");

        const auto start = reinterpret_cast<std::uintptr_t>(bytes.data()) + 100;
        const auto end = reinterpret_cast<std::uintptr_t>(bytes.data()) + bytes.size();
        const long inside = static_cast<long>(end / 4096 - (start + 4095) / 4096);
        w.drop_pages(bytes.subspan(100));
        QCOMPARE(ravel::test::smaps_number(bytes.data(), "Rss:"), before - 4 * inside);
        QCOMPARE(*w.read_f32(*w.find("t")), values);

        std::vector<std::byte> memory(64 * 4096, std::byte{7});
        w.drop_pages(memory);
        QVERIFY(std::all_of(memory.begin(), memory.end(),
                            [](std::byte b) { return b == std::byte{7}; }));
    }

    void movedWeightFileKeepsMapping() {
        auto opened = open_bytes(scratch, good_pth());
        QVERIFY(opened.result.ok());
        WeightFile moved = std::move(*opened.result);
        WeightFile assigned = std::move(moved);
        QCOMPARE(*assigned.read_f32(*assigned.find("a")), (std::vector<float>{0, 1}));
    }

    // ---- missing, empty and unknown files ----------------------------------------------------

    void missingAndEmptyFiles() {
        auto missing = WeightFile::open(scratch.path("does-not-exist.pth"));
        QVERIFY(!missing.ok());
        QVERIFY(missing.message().find("does-not-exist.pth") != std::string::npos);
        QVERIFY(missing.message().find("No such file") != std::string::npos);
        EXPECT_OPEN_ERROR(Bytes{}, std::string("empty"));
        auto dir = WeightFile::open(scratch.path(""));
        QVERIFY(!dir.ok());
        QVERIFY(dir.message().find("not a regular file") != std::string::npos);
        // A FIFO must be refused at once rather than block waiting for a writer.
        const auto fifo = scratch.path("pipe.pth");
        QCOMPARE(::mkfifo(fifo.c_str(), 0600), 0);
        auto pipe = WeightFile::open(fifo);
        QVERIFY(!pipe.ok());
        QVERIFY(pipe.message().find("not a regular file") != std::string::npos);
    }

    void wrongMagic() {
        EXPECT_OPEN_ERROR(Bytes({'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'}),
                          std::string("not a recognised model file"));
        EXPECT_OPEN_ERROR(Bytes({'P', 'K'}), std::string("not a recognised model file"));
        EXPECT_OPEN_ERROR(Bytes({'G', 'G', 'U', 'F', 3, 0, 0, 0}),
                          std::string("GGUF"));  // detected as GGUF, then refused
        EXPECT_OPEN_ERROR(Bytes({0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20}),
                          std::string("legacy"));
    }

    // ---- damaged zip archives -----------------------------------------------------------------

    void truncatedHandMadeZip() {
        const Bytes good = good_pth();
        EXPECT_OPEN_ERROR(Bytes(good.begin(), good.begin() + 200),
                          std::string("end-of-central-directory"));
        // Keep the end record but cut away the central directory it points to.
        Bytes cut(good.begin(), good.begin() + 300);
        cut.insert(cut.end(), good.end() - 22, good.end());
        EXPECT_OPEN_ERROR(cut, std::string("central directory"));
    }

    void zipEntryWithBadLocalOffset() {
        ZipFile z;
        z.add("archive/data.pkl", contiguous_pickle({}));
        Bytes file = z.build();
        patch32(file, z.entries[0].central_offset + 42, 0x7fff0000);
        EXPECT_OPEN_ERROR(file, std::string("local header offset 2147418112 lies outside"));

        file = z.build();
        patch32(file, z.entries[0].central_offset + 42, 3);  // inside the file, but no header
        EXPECT_OPEN_ERROR(file, std::string("no local header at offset 3"));
    }

    void zipEntryRunningPastTheEnd() {
        ZipFile z;
        z.add("archive/data.pkl", contiguous_pickle({}));
        Bytes file = z.build();
        patch32(file, z.entries[0].central_offset + 20, 0x40000000);
        patch32(file, z.entries[0].central_offset + 24, 0x40000000);
        EXPECT_OPEN_ERROR(file, std::string("run past the end"));
    }

    void zipDirectoryClaimingTooManyEntries() {
        ZipFile z;
        z.add("archive/data.pkl", contiguous_pickle({}));
        Bytes file = z.build();
        // EOCD total entries = 65535 would otherwise make a reader reserve a huge table.
        file[file.size() - 22 + 10] = 0xff;
        file[file.size() - 22 + 11] = 0xfe;
        EXPECT_OPEN_ERROR(file, std::string("claims 65279 entries"));
    }

    void compressedZipEntry() {
        ZipFile z;
        z.add("archive/data.pkl", contiguous_pickle({}), 8);
        EXPECT_OPEN_ERROR(z.build(), std::string("is compressed (method 8)"));
    }

    void zipWithoutPickle() {
        ZipFile z;
        z.add("archive/version", Bytes{'3'});
        EXPECT_OPEN_ERROR(z.build(), std::string("no '<name>/data.pkl' entry"));
    }

    void bigEndianCheckpoint() {
        ZipFile z;
        z.add("archive/data.pkl", contiguous_pickle({}));
        z.add("archive/byteorder", Bytes{'b', 'i', 'g'});
        EXPECT_OPEN_ERROR(z.build(), std::string("byte order is 'big'"));
    }

    // ---- hostile pickles ----------------------------------------------------------------------

    void forbiddenGlobals() {
        Pickle p;
        p.proto().global("os", "system").str("echo pwned").op(0x85).reduce().stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(p.b),
                          std::string("global 'os.system', which is not allowed"));

        Pickle q;  // the same through STACK_GLOBAL (protocol 4)
        q.proto(4).op(0x8c).op(8);
        append(q.b, std::string("builtins"));
        q.op(0x8c).op(4);
        append(q.b, std::string("eval"));
        q.op(0x93).stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(q.b), std::string("global 'builtins.eval'"));

        // An allowed type that is not callable must not be called.
        Pickle r;
        r.proto().global("torch", "FloatStorage").op(')').reduce().stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(r.b), std::string("calls 'torch.FloatStorage'"));

        // Types outside f32/f16/bf16 are refused by name as well.
        TensorSpec s{"w", "DoubleStorage", "0", 2, 0, {2}, {1}};
        EXPECT_OPEN_ERROR(one_tensor(s), std::string("'torch.DoubleStorage'"));
    }

    // A persistent id (and a REDUCE) copies its argument tuple: one large memoised tuple
    // used again and again must hit a limit, not claim gigabytes from a small file.
    void repeatedLargeTupleIsBounded() {
        Pickle p;
        p.proto().mark();
        for (int i = 0; i < 16000; ++i) p.integer(i & 0xff);
        p.tuple().put();  // memo 0
        p.op(']');        // a list to append the storages to
        for (int i = 0; i < 1000; ++i) p.get(0).op('Q').op('a');  // BINPERSID, APPEND
        p.stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(p.b), std::string("references in tuples"));
    }

    void badPickleOpcodes() {
        Pickle unknown;
        unknown.proto().op(0xff);
        EXPECT_OPEN_ERROR(pth_with_pickle(unknown.b),
                          std::string("unsupported pickle opcode 0xff"));
        Pickle inst;  // INST would import and instantiate a class
        inst.proto().op('i');
        EXPECT_OPEN_ERROR(pth_with_pickle(inst.b), std::string("opcode 0x69 'i'"));
        Pickle nostop;
        nostop.proto().op('}');
        EXPECT_OPEN_ERROR(pth_with_pickle(nostop.b), std::string("ends before its STOP"));
        Pickle underflow;
        underflow.proto().reduce();
        EXPECT_OPEN_ERROR(pth_with_pickle(underflow.b), std::string("stack underflow"));
        Pickle memo;
        memo.proto().get(7);
        EXPECT_OPEN_ERROR(pth_with_pickle(memo.b), std::string("memo index 7 is not set"));
        Pickle longstr;  // a string length far past the pickle's end
        longstr.proto().op('X');
        put32(longstr.b, 0xfffffff0u);
        EXPECT_OPEN_ERROR(pth_with_pickle(longstr.b), std::string("truncated"));
        Pickle proto9;
        proto9.proto(9);
        EXPECT_OPEN_ERROR(pth_with_pickle(proto9.b), std::string("protocol 9"));
        Pickle marks;  // unbounded MARK nesting is cut off
        for (int i = 0; i < 10000; ++i) marks.mark();
        EXPECT_OPEN_ERROR(pth_with_pickle(marks.b), std::string("more than 256 open MARKs"));
        Pickle deep;  // 100k nested tuples: no recursion anywhere, so just "not a dict"
        deep.proto().op('N');
        for (int i = 0; i < 100000; ++i) deep.op(0x85);
        deep.stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(deep.b), std::string("holds a tuple, not a dict"));
        Pickle cycle;  // a list that contains itself
        cycle.proto().op(']').put().get(0).op('a').stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(cycle.b), std::string("holds a list"));
        Pickle notensor;
        notensor.proto().op('}').str("epoch").integer(3).op('s').stop();
        EXPECT_OPEN_ERROR(pth_with_pickle(notensor.b),
                          std::string("'epoch' is a int, not a tensor"));
    }

    // ---- shapes, offsets and storages ------------------------------------------------------

    void pthShapesCheckedAgainstStorage() {
        // A shape of 2^40 elements over a 16-element storage.
        EXPECT_OPEN_ERROR(
            one_tensor({"huge", "FloatStorage", "0", 16, 0, {1048576, 1048576}, {1048576, 1}}),
            std::string(
                "tensor 'huge': shape (1048576, 1048576) of f32 needs 4398046511104 bytes"));
        // The storage itself claims 2^40 elements but its entry holds 64 bytes.
        EXPECT_OPEN_ERROR(
            one_tensor({"w", "FloatStorage", "0", std::int64_t{1} << 40, 0, {4}, {1}}),
            std::string("declares 1099511627776 f32 elements"));
        // Data running past the end of its storage because of the storage offset.
        EXPECT_OPEN_ERROR(one_tensor({"w", "FloatStorage", "0", 16, 14, {4}, {1}}),
                          std::string("the tensor starts at element 14"));
        // A shape that disagrees with the storage size.
        EXPECT_OPEN_ERROR(one_tensor({"emb.weight", "FloatStorage", "0", 16, 0, {4, 5}, {5, 1}}),
                          std::string("tensor 'emb.weight': shape (4, 5)"));
        EXPECT_OPEN_ERROR(one_tensor({"w", "FloatStorage", "0", 16, 0, {4, -4}, {1, 1}}),
                          std::string("negative dimension"));
        EXPECT_OPEN_ERROR(one_tensor({"w", "FloatStorage", "0", 16, 0, {4, 4}, {1, 4}}),
                          std::string("is not contiguous"));
        EXPECT_OPEN_ERROR(one_tensor({"w", "FloatStorage", "0", 16, 0, {4, 4}, {4}}),
                          std::string("different ranks"));
        EXPECT_OPEN_ERROR(one_tensor({"w", "FloatStorage", "7", 16, 0, {4}, {1}}),
                          std::string("storage entry 'archive/data/7' is missing"));
        // Storage entry shorter than its declared element count (truncated tensor data).
        EXPECT_OPEN_ERROR(one_tensor({"w", "FloatStorage", "0", 16, 0, {16}, {1}}, 15),
                          std::string("holds only 60 bytes"));
    }

    void safetensorsBadHeaders() {
        const Bytes data = f32_bytes({1, 2, 3, 4});
        auto st = [&](const std::string& header) { return make_safetensors(header, data); };
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,4096]}})"),
                          std::string("tensor 'w': data_offsets [0, 4096] run past the end"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,16]}})"),
                          std::string("tensor 'w': shape (2, 3) of f32 needs 24 bytes"));
        EXPECT_OPEN_ERROR(
            st(R"({"w":{"dtype":"F32","shape":[1048576,1048576],"data_offsets":[0,16]}})"),
            std::string("tensor 'w': shape (1048576, 1048576)"));
        EXPECT_OPEN_ERROR(
            st(R"({"w":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,16]}})"),
            std::string("too large (more than 2^64 elements)"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[-4],"data_offsets":[0,16]}})"),
                          std::string("negative dimension"));
        // A name given twice (the JSON parser would keep only the last).
        EXPECT_OPEN_ERROR(st(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})"),
                          std::string("tensor 'a' appears twice"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})"),
                          std::string("dtype 'I64' is not supported"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[16,0]}})"),
                          std::string("data_offsets [16, 0]"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[-1,15]}})"),
                          std::string("non-negative integers"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[4.5],"data_offsets":[0,16]}})"),
                          std::string("shape entries must be integers"));
        EXPECT_OPEN_ERROR(st(R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]})"),
                          std::string("not valid JSON"));
        EXPECT_OPEN_ERROR(st(R"({"__metadata__":{"n":1}})"), std::string("is not a string"));
        EXPECT_OPEN_ERROR(st("{" + std::string(1000, '[') + std::string(1000, ']') + "}"),
                          std::string("nests deeper"));
        Bytes huge;  // a header length of 2^60
        put64(huge, std::uint64_t{1} << 60);
        append(huge, std::string(R"({"w":{}})"));
        EXPECT_OPEN_ERROR(huge, std::string("header length 1152921504606846976 exceeds"));
    }

    // ---- robustness: every truncation and many random corruptions -----------------------------

    void corruptedFilesNeverCrash() {
        std::mt19937 rng(12345);
        const Bytes inputs[] = {
            good_pth(), good_pth(true),
            make_safetensors(R"({"a":{"dtype":"F16","shape":[2,2],"data_offsets":[0,8]}})",
                             u16_bytes({1, 2, 3, 4}))};
        int accepted = 0;
        for (const Bytes& good : inputs) {
            for (std::size_t n = 0; n < good.size(); n += 3) {
                auto r = open_bytes(scratch, Bytes(good.begin(), good.begin() + n)).result;
                accepted += r.ok() ? 1 : 0;
            }
            for (int i = 0; i < 1500; ++i) {
                Bytes bad = good;
                const int flips = 1 + static_cast<int>(rng() % 4);
                for (int f = 0; f < flips; ++f) {
                    bad[rng() % bad.size()] ^= static_cast<std::uint8_t>(1u << (rng() % 8));
                }
                auto opened = open_bytes(scratch, bad);
                QVERIFY(opened.largest_allocation <= allocation_bound(bad.size()));
                if (!opened.result.ok()) continue;
                ++accepted;
                for (const auto& t : opened.result->tensors()) {  // whatever loads must read
                    QVERIFY(opened.result->bytes(t).size() == t.nbytes);
                    QVERIFY(opened.result->read_f32(t).ok());
                }
            }
        }
        QVERIFY(accepted > 0);  // some flips land in padding or values; those files still load
    }
};

QTEST_GUILESS_MAIN(TestFormat)
#include "test_format.moc"
