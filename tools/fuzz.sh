#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz, clang with ASan + UBSan) and runs each for
# FUZZ_SECONDS (default 60) from a seed corpus: model files from the reference data (and GGUF
# conversions of them), tokenizer files and conversations written here. Crashes are kept in
# build/fuzz/crashes/<target>/; the script fails when any target found one.
# Usage: [FUZZ_SECONDS=60] [RAVEL_SHARED_DATA=../shared/data] tools/fuzz.sh [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
data="${RAVEL_SHARED_DATA:-$(cd .. && pwd)/shared/data}"
build=build/fuzz
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_weight_file fuzz_model_load fuzz_tokenizer_files
    fuzz_tokenize_text fuzz_resume_record fuzz_import_conversation)

cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
    -DCMAKE_CXX_COMPILER=clang++ -DRAVEL_BUILD_FUZZERS=ON -DRAVEL_BUILD_GUI=OFF \
    -DRAVEL_BUILD_TESTS=OFF -DRAVEL_CUDA=OFF > "$build.configure.log"
cmake --build "$build" --target "${targets[@]}" ravel-cli

# Seeds. Model files: the reference models as they are, and each converted to GGUF.
seeds="$build/seeds"
rm -rf "$seeds" && mkdir -p "$seeds"/{weight_file,tokenizer_files,tokenize_text,resume_record,import_conversation}
if [ -d "$data/models" ]; then
    for dir in "$data"/models/random-*; do
        name=$(basename "$dir")
        cp "$dir"/model.pth "$seeds/weight_file/$name.pth"
        cp "$dir"/model.safetensors "$seeds/weight_file/$name.safetensors"
        # q8_0 with the byte tokenizer named in the metadata, q4_0 without one.
        for conversion in q4_0:none q8_0:byte; do
            dtype=${conversion%:*} tokenizer=${conversion#*:}
            "$build/app/cli/ravel-cli" convert --in "$dir/model.pth" --out \
                "$seeds/weight_file/$name-$dtype.gguf" --dtype "$dtype" --tokenizer "$tokenizer" \
                > /dev/null
        done
    done
else
    echo "fuzz.sh: no reference data at $data; model-file fuzzers start from nothing" >&2
fi
cp tests/fuzz/seeds/tokenizer_files/* "$seeds/tokenizer_files/"
if [ -f "$data/tokenizers/rwkv_vocab_v20230424.txt" ]; then
    { printf '\0'; head -c 20000 "$data/tokenizers/rwkv_vocab_v20230424.txt"; } \
        > "$seeds/tokenizer_files/world-head"
fi
cp tests/fuzz/seeds/tokenize_text/* "$seeds/tokenize_text/"
cp tests/fuzz/seeds/resume_record/* "$seeds/resume_record/"
cp tests/fuzz/seeds/import_conversation/* "$seeds/import_conversation/"

corpus_of() {
    case "$1" in
        fuzz_weight_file | fuzz_model_load) echo weight_file ;;
        *) echo "${1#fuzz_}" ;;
    esac
}

failed=0
for target in "${targets[@]}"; do
    corpus="$build/corpus/$target" crashes="$build/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    echo "== $target: ${seconds}s"
    if ! RAVEL_SHARED_DATA="$data" "$build/tests/fuzz/$target" "$corpus" "$seeds/$(corpus_of "$target")" \
        -max_total_time="$seconds" -max_len=8388608 -rss_limit_mb=4096 -timeout=30 \
        -artifact_prefix="$crashes/" -print_final_stats=1 2> "$build/$target.log"; then
        failed=1
        echo "   FAILED: see $build/$target.log and $crashes/"
    fi
    grep -E "^stat::number_of_executed_units|^stat::peak_rss_mb" "$build/$target.log" | sed 's/^/   /'
done
exit $failed
