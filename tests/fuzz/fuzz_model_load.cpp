// libFuzzer entry point for building a model from a hostile file: the configuration detected
// from tensor shapes and metadata, an embedded tokenizer, the weights converted to their storage
// type, and one token through the forward pass. Anything that loads must run without touching
// memory it does not own. Seeds: the reference models and their GGUF conversions (tools/fuzz.sh).
#include <array>
#include <cstddef>
#include <cstdint>

#include "memory_file.hpp"
#include "ravel/model.hpp"
#include "ravel/session.hpp"
#include "ravel/tokenizer.hpp"
#include "ravel/weight_file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const ravel::fuzz::MemoryFile input(data, size);
    if (!input.ok()) return 0;
    auto file = ravel::WeightFile::open(input.path());
    if (!file.ok()) return 0;
    // A GGUF's embedded vocabulary (Ravel's or llama.cpp's token list) is read from the same
    // hostile file; no directory is searched.
    if (auto config = ravel::detect_config(*file); config.ok()) {
        ravel::TokenizerSearch embedded_only;
        embedded_only.model_file = "/nonexistent/model";
        if (auto tokenizer = ravel::tokenizer_for_model(*file, *config, embedded_only);
            tokenizer.ok()) {
            const auto ids = (*tokenizer)->encode("Hello, world!\n\xe4\xbd\xa0\xe5\xa5\xbd");
            for (const std::int32_t id : ids) {
                if (id < 0 || id >= config->n_vocab) __builtin_trap();
            }
            if (!(*tokenizer)->decode(ids).ok()) __builtin_trap();
        }
    }
    auto model = ravel::Model::from_file(*file);
    if (!model.ok()) return 0;
    ravel::Session session(*model);
    const std::int32_t vocab = (*model)->config().n_vocab;
    for (const std::int32_t token : std::array<std::int32_t, 3>{0, vocab - 1, vocab}) {
        auto logits = session.step(token);
        // Ids outside the vocabulary are errors, never reads past the embedding.
        if (token >= vocab && logits.ok()) __builtin_trap();
        if (logits.ok() && logits->size() != static_cast<std::size_t>(vocab)) __builtin_trap();
    }
    return 0;
}
