// tokenizer_for_model(): the vocabulary embedded in a converted GGUF wins over the search (and
// over the vocabulary size, which may say nothing), an explicit choice wins over both, and a
// tokenizer larger than the model is refused. Expected ids come from world_cases.json
// (ChatRWKV's tokenizer), never from Ravel.
#include <QTemporaryDir>
#include <QtTest>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "ravel/gguf.hpp"
#include "ravel/model.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"
#include "test_data.hpp"

using namespace ravel;

namespace {

std::string read_text(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string from_hex(const std::string& hex) {
    std::string out;
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
        out += static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16));
    }
    return out;
}

// A search that finds nothing: only the embedded vocabulary (or none) can answer.
TokenizerSearch nowhere(const QTemporaryDir& dir) {
    TokenizerSearch s;
    s.model_file = dir.filePath("empty/model.gguf").toStdString();
    s.dirs = {dir.filePath("empty").toStdString()};
    return s;
}

}  // namespace

class TestModelTokenizer : public QObject {
    Q_OBJECT
    QTemporaryDir dir_;

    std::filesystem::path convert(const std::string& model, const std::string& name,
                                  GgufConvertOptions opt) {
        auto src = WeightFile::open(test::shared_data_dir() / "models" / model / "model.pth");
        if (!src) qFatal("%s", src.message().c_str());
        const std::filesystem::path out = dir_.filePath(QString::fromStdString(name)).toStdString();
        opt.weight_type = DType::F32;
        auto r = convert_to_gguf(*src, out, opt);
        if (!r) qFatal("%s", r.message().c_str());
        return out;
    }

  private slots:
    void byteKindRoundTripsThroughGguf() {
        RAVEL_REQUIRE_SHARED_DATA();
        // Vocabulary 1000 names no tokenizer: only the file's own record can.
        const std::string model = "random-v7.0-L3-D128-H2x64-V1000";
        auto pth = WeightFile::open(test::shared_data_dir() / "models" / model / "model.pth");
        QVERIFY(pth.ok());
        auto pth_config = detect_config(*pth);
        QVERIFY(pth_config.ok());
        QCOMPARE(pth_config->n_vocab, 1000);
        auto none = tokenizer_for_model(*pth, *pth_config, nowhere(dir_));
        QVERIFY(!none.ok());
        QVERIFY2(none.message().find("1000") != std::string::npos, none.message().c_str());

        GgufConvertOptions opt;
        opt.tokenizer_kind = "byte";
        const auto gguf = convert(model, "bytes.gguf", opt);
        auto file = WeightFile::open(gguf);
        QVERIFY2(file.ok(), file.ok() ? "" : file.message().c_str());
        auto config = detect_config(*file);
        QVERIFY(config.ok());
        auto tok = tokenizer_for_model(*file, *config, nowhere(dir_));
        QVERIFY2(tok.ok(), tok.ok() ? "" : tok.message().c_str());
        QCOMPARE((*tok)->kind(), TokenizerKind::Byte);
        QCOMPARE((*tok)->encode("Az"), (std::vector<std::int32_t>{'A', 'z'}));
        QCOMPARE((*tok)->id(), make_byte_tokenizer()->id());
    }

    void embeddedWorldVocabularyEncodesLikeChatRwkv() {
        RAVEL_REQUIRE_SHARED_DATA();
        const auto vocab_path = test::shared_data_dir() / "tokenizers" / "rwkv_vocab_v20230424.txt";
        GgufConvertOptions opt;
        opt.tokenizer_kind = "world";
        opt.tokenizer_file_name = "rwkv_vocab_v20230424.txt";
        opt.tokenizer_file = read_text(vocab_path);
        QVERIFY(opt.tokenizer_file.size() > 1000000);
        const auto gguf = convert("tiny-5v2-730K", "world.gguf", opt);
        auto file = WeightFile::open(gguf);
        QVERIFY(file.ok());
        auto config = detect_config(*file);
        QVERIFY(config.ok());

        // The byte-level tiny model cannot run a 65536-id vocabulary: refused, naming both.
        auto too_big = tokenizer_for_model(*file, *config, nowhere(dir_));
        QVERIFY(!too_big.ok());
        QVERIFY2(too_big.message().find("65536") != std::string::npos, too_big.message().c_str());

        // As a World model sees it (65536 ids), with no vocabulary file anywhere to be found.
        ModelConfig world_config = *config;
        world_config.n_vocab = 65536;
        auto tok = tokenizer_for_model(*file, world_config, nowhere(dir_));
        QVERIFY2(tok.ok(), tok.ok() ? "" : tok.message().c_str());
        QCOMPARE((*tok)->kind(), TokenizerKind::World);
        const auto cases = nlohmann::json::parse(
            read_text(test::shared_data_dir() / "tokenizers/world_cases.json"));
        const auto& c = cases["cases"][1];
        QCOMPARE(c["name"].get<std::string>(), std::string("ascii_sentence"));
        QCOMPARE((*tok)->encode(from_hex(c["input_hex"])),
                 c["ids"].get<std::vector<std::int32_t>>());
        for (const auto& each : cases["cases"]) {
            QCOMPARE((*tok)->encode(from_hex(each["input_hex"])),
                     each["ids"].get<std::vector<std::int32_t>>());
        }
        // Snapshots made with the vocabulary file resume under the embedded copy.
        auto from_file = load_world_tokenizer(vocab_path);
        QVERIFY(from_file.ok());
        QCOMPARE((*tok)->id(), (*from_file)->id());

        // An explicit choice overrides the file's: bytes, or a vocabulary found by the search.
        auto bytes = tokenizer_for_model(*file, world_config, nowhere(dir_), TokenizerKind::Byte);
        QVERIFY(bytes.ok());
        QCOMPARE((*bytes)->kind(), TokenizerKind::Byte);
        TokenizerSearch explicit_neox;
        explicit_neox.explicit_path = test::shared_data_dir() / "tokenizers";
        auto neox = tokenizer_for_model(*file, world_config, explicit_neox, TokenizerKind::NeoX);
        QVERIFY2(neox.ok(), neox.ok() ? "" : neox.message().c_str());
        QCOMPARE((*neox)->kind(), TokenizerKind::NeoX);
    }

    void searchedWhenNothingIsEmbedded() {
        RAVEL_REQUIRE_SHARED_DATA();
        // A .pth carries no vocabulary: the kind comes from the vocabulary size (256 = bytes),
        // and an explicit World choice must be found by the search.
        auto pth = WeightFile::open(test::shared_data_dir() / "models/tiny-7v0-834K/model.pth");
        QVERIFY(pth.ok());
        auto config = detect_config(*pth);
        QVERIFY(config.ok());
        auto tok = tokenizer_for_model(*pth, *config, nowhere(dir_));
        QVERIFY(tok.ok());
        QCOMPARE((*tok)->kind(), TokenizerKind::Byte);

        ModelConfig world_config = *config;
        world_config.n_vocab = 65536;
        auto missing = tokenizer_for_model(*pth, world_config, nowhere(dir_), TokenizerKind::World);
        QVERIFY(!missing.ok());
        QVERIFY2(missing.message().find("rwkv_vocab_v20230424.txt") != std::string::npos,
                 missing.message().c_str());
        TokenizerSearch search = nowhere(dir_);
        search.dirs.push_back(test::shared_data_dir() / "tokenizers");
        auto found = tokenizer_for_model(*pth, world_config, search, TokenizerKind::World);
        QVERIFY2(found.ok(), found.ok() ? "" : found.message().c_str());
        QCOMPARE((*found)->kind(), TokenizerKind::World);
    }

    void unknownEmbeddedKindIsAnError() {
        RAVEL_REQUIRE_SHARED_DATA();
        GgufConvertOptions opt;
        opt.tokenizer_kind = "sentencepiece";
        const auto gguf = convert("tiny-4v0-660K", "odd.gguf", opt);
        auto file = WeightFile::open(gguf);
        QVERIFY(file.ok());
        auto config = detect_config(*file);
        QVERIFY(config.ok());
        auto tok = tokenizer_for_model(*file, *config, nowhere(dir_));
        QVERIFY(!tok.ok());
        QVERIFY2(tok.message().find("sentencepiece") != std::string::npos, tok.message().c_str());
        // The user can still say which one.
        QVERIFY(tokenizer_for_model(*file, *config, nowhere(dir_), TokenizerKind::Byte).ok());
    }
};

QTEST_GUILESS_MAIN(TestModelTokenizer)
#include "test_model_tokenizer.moc"
