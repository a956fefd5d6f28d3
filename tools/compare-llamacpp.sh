#!/usr/bin/env bash
# Speed of Ravel against llama.cpp on the same GGUF files (llama.cpp's rwkv6 / rwkv7 layout,
# which Ravel reads): for each file, ROUNDS alternating runs of `ravel-cli bench` and
# `llama-bench`, each processing a PROMPT-token prompt and generating GEN tokens on THREADS
# threads; prints the medians of decode ms/token and prompt tokens/s, and how many times faster
# Ravel is at each. llama.cpp is not a dependency of Ravel; point LLAMA_BENCH at any llama-bench
# command line (a wrapper such as `chroot DIR /usr/bin/llama-bench` works; LLAMA_MODEL_DIR then
# names the directory where that command sees the model files). docs/cpu-backend.md has the
# figures measured this way and how those files were made.
# Usage: LLAMA_BENCH='llama-bench' [LLAMA_MODEL_DIR=DIR] [ROUNDS=3] [GEN=128] [PROMPT=512] \
#        [THREADS=2] tools/compare-llamacpp.sh BUILD_DIR MODEL.gguf...
set -euo pipefail
build="${1:?usage: tools/compare-llamacpp.sh BUILD_DIR MODEL.gguf...}"
shift
cli="$build/app/cli/ravel-cli"
[ -x "$cli" ] || { echo "build ravel-cli first ($cli not found)" >&2; exit 1; }
[ -n "${LLAMA_BENCH:-}" ] || { echo "set LLAMA_BENCH to a llama-bench command" >&2; exit 1; }
rounds="${ROUNDS:-3}"
gen="${GEN:-128}"
prompt="${PROMPT:-512}"
threads="${THREADS:-2}"
printf '%-34s %9s %9s %7s %11s %11s %7s\n' model ravel_ms llama_ms speedup ravel_tok/s \
    llama_tok/s speedup
for model in "$@"; do
    ravel=()
    llama=()
    for ((i = 0; i < rounds; i++)); do
        ravel+=("$("$cli" bench --model "$model" --threads "$threads" --prompt "$prompt" \
            --gen "$gen" --json | tr -d '\n')")
        # shellcheck disable=SC2086  # LLAMA_BENCH is a command line
        llama+=("$($LLAMA_BENCH -m "${LLAMA_MODEL_DIR:-$(dirname "$model")}/$(basename "$model")" \
            -p "$prompt" -n "$gen" -t "$threads" -r 3 -o json 2>/dev/null | tr -d '\n')")
    done
    /usr/bin/python3 - "$model" "$rounds" "${ravel[@]}" "${llama[@]}" <<'PY'
import json, os, statistics, sys
model, rounds = sys.argv[1], int(sys.argv[2])
ravel = [json.loads(r) for r in sys.argv[3:3 + rounds]]
decode = [r["decode_ms_per_token"] for r in ravel]
prompt = [r["prompt_tokens_per_s"] for r in ravel]
llama_decode, llama_prompt = [], []
for r in sys.argv[3 + rounds:]:
    for test in json.loads(r):  # one entry for the prompt test, one for generation
        if test["n_gen"] > 0:
            llama_decode += [ns / test["n_gen"] / 1e6 for ns in test["samples_ns"]]
        elif test["n_prompt"] > 0:
            llama_prompt += [test["n_prompt"] / (ns / 1e9) for ns in test["samples_ns"]]
med = statistics.median
a, b = med(decode), med(llama_decode)
line = f"{os.path.basename(model)[:34]:<34} {a:9.2f} {b:9.2f} {b / a:7.2f}"
if prompt and llama_prompt and prompt[0] > 0:
    c, d = med(prompt), med(llama_prompt)
    line += f" {c:11.1f} {d:11.1f} {c / d:7.2f}"
print(line)
PY
done
