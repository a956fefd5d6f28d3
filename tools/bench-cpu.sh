#!/usr/bin/env bash
# The CPU benchmark matrix of the speed issue: synthetic RWKV-7 0.1B (12x768), RWKV-7 0.4B
# (24x1024) and RWKV-4 169M (12x768, vocab 50277) in f32, f16, q8_0 and q4_0 on N threads.
# Prints one line per run: decode ms/token (the mean) and its fraction of the bandwidth limit
# (with the read bandwidth measured in that run), the fraction of the fastest token, the median
# fraction of tokens each timed right after a read pass of as many bytes (paired), prompt
# tokens/s (the median of the bench's runs) and its fraction of the FMA peak (with the peak
# measured), the fraction of the best run, peak RSS against the budget, and whether a token's
# weights fit in the last-level cache (the limit is then the cache's; ? where the system does
# not describe its caches). With REPEAT > 1, every configuration runs that many times and each
# figure is the median of the runs.
# TYPES overrides the weight types (default the issue's four; q5_1 and bf16 also run).
# Usage: [REPEAT=3] [TYPES="f32 f16 q8_0 q5_1 q4_0"] tools/bench-cpu.sh [BUILD_DIR] [THREADS]
set -euo pipefail
build="${1:-build/release}"
threads="${2:-2}"
repeat="${REPEAT:-1}"
read -r -a types <<< "${TYPES:-f32 f16 q8_0 q4_0}"
cli="$build/app/cli/ravel-cli"
[ -x "$cli" ] || { echo "build ravel-cli first ($cli not found)" >&2; exit 1; }
printf '%-16s %-5s %9s %7s %7s %7s %7s %11s %8s %8s %7s %7s %7s %7s %6s\n' shape dtype decode_ms \
    bw_frac bw_best paired bw_GB/s prompt_tok/s fma_frac fma_best GFLOP/s rss_MiB budget load_ms \
    in_llc
for shape in v7:12x768 v7:24x1024 v4:12x768:50277; do
    for dtype in "${types[@]}"; do
        runs=()
        for ((i = 0; i < repeat; i++)); do
            runs+=("$("$cli" bench --synthetic "$shape" --dtype "$dtype" --threads "$threads" \
                --prompt 512 --gen 32 --json | tr -d '\n')")
        done
        /usr/bin/python3 - "$shape" "$dtype" "${runs[@]}" <<'PY'
import json, statistics, sys
shape, dtype, runs = sys.argv[1], sys.argv[2], [json.loads(r) for r in sys.argv[3:]]
m = lambda k: statistics.median(r[k] for r in runs)
# yes / no where the kernel describes the last-level cache, ? where it does not.
def llc_fit(runs):
    if any('last_level_cache_bytes' not in r for r in runs):
        return '?'
    return 'yes' if any(r['weight_bytes_per_token'] <= r['last_level_cache_bytes'] for r in runs) else 'no'
print(f"{shape:<16} {dtype:<5} {m('decode_ms_per_token'):9.2f} {m('decode_bandwidth_fraction'):7.2f} "
      f"{m('decode_bandwidth_fraction_best'):7.2f} {m('decode_paired_fraction'):7.2f} "
      f"{m('read_bandwidth_gb_s'):7.1f} "
      f"{m('prompt_tokens_per_s'):11.1f} {m('prompt_fma_fraction'):8.2f} "
      f"{m('prompt_fma_fraction_best'):8.2f} {m('fma_gflop_s'):7.0f} "
      f"{m('peak_rss_bytes')/2**20:7.0f} {m('rss_budget_bytes')/2**20:7.0f} {m('load_ms'):7.0f} "
      f"{llc_fit(runs):>6}")
PY
    done
done
