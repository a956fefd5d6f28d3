#!/usr/bin/env bash
# CUDA backend check on a machine with an NVIDIA GPU, in one run (< 8 minutes on one modern GPU):
# configure with CUDA, build, run the `gpu` tests (kernels against CPU references, the whole
# forward pass against the CPU path), measure the GPU's copy bandwidth and cuBLAS GEMM rate,
# bench decode and prompt speed on synthetic RWKV-7 shapes 0.1B (12x768), 1.5B (24x2048) and
# 7B (32x4096) in f16, and print a summary table.
#
#   tools/gpu-check.sh                  build here (needs CUDA, Qt 6, the usual deps) and run
#   tools/gpu-check.sh --prepare DIR    build only, and pack the binaries with the shared
#                                       libraries they need into DIR/bundle.tar.gz (for a GPU
#                                       machine that cannot build: no Qt, no network)
#   tools/gpu-check.sh --prebuilt DIR   run from such a bundle (no build)
# With RAVEL_BUNDLE_DATA=1, --prepare also packs the reference models (DIR/data.tar.gz).
#
# Environment: RAVEL_CUDA_ARCH (default "native" when building where the GPU is, 90 for
# --prepare), RAVEL_GPU_BUILD (build directory), OUT (where logs and JSON go; default under the
# build directory), RAVEL_SHARED_DATA (reference models; default ../shared/data).
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
mode=run
bundle=""
case "${1:-}" in
    --prepare) mode=prepare; bundle=$(realpath -m "${2:?--prepare needs a directory}") ;;
    --prebuilt) mode=prebuilt; bundle=$(realpath -m "${2:?--prebuilt needs a directory}") ;;
    "") ;;
    *) echo "usage: $0 [--prepare DIR | --prebuilt DIR]" >&2; exit 2 ;;
esac

build=${RAVEL_GPU_BUILD:-$root/build/gpu-check}
out=${OUT:-$build/gpu-check-out}
mkdir -p "$out"
t_start=$(date +%s)
elapsed() { echo $(( $(date +%s) - t_start )); }
say() { echo "[gpu-check $(elapsed)s] $*"; }

build_here() {
    local arch=$1
    local jobs
    jobs=$(nproc 2>/dev/null || echo 4)
    say "configure (Release, RAVEL_CUDA=ON, CUDA architectures $arch)"
    cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DRAVEL_BUILD_GUI=OFF \
        -DRAVEL_CUDA=ON -DCMAKE_CUDA_ARCHITECTURES="$arch" >"$out/configure.log" 2>&1 || {
        tail -20 "$out/configure.log"
        say "configure failed (log: $out/configure.log). Without Qt 6 here, build elsewhere with --prepare."
        return 1
    }
    say "build with $jobs jobs"
    # On the GPU machine the build must leave time for the checks; packing here need not.
    local limit=420
    [[ $mode == prepare ]] && limit=7200
    timeout "$limit" ninja -C "$build" -j "$jobs" test_gpu_kernels test_gpu_forward ravel-cli \
        >"$out/build.log" 2>&1 || {
        grep -E "error|FAILED" "$out/build.log" | head -20
        say "build failed (log: $out/build.log)"
        return 1
    }
}

bin_dir=""
if [[ $mode == prepare ]]; then
    build_here "${RAVEL_CUDA_ARCH:-90}" || exit 1
    stage=$(mktemp -d)
    mkdir -p "$stage/bin" "$stage/lib"
    cp "$build/tests/engine/test_gpu_kernels" "$build/tests/engine/test_gpu_forward" \
        "$build/app/cli/ravel-cli" "$stage/bin/"
    # Every shared library they use except the C runtime, which the target has in a newer form.
    for b in "$stage"/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
        grep -vE '/(libc|libm|libpthread|libdl|librt|libgcc_s|ld-linux[^/]*)\.so' |
        while read -r lib; do cp -L "$lib" "$stage/lib/"; done
    mkdir -p "$bundle"
    tar -C "$stage" -czf "$bundle/bundle.tar.gz" bin lib
    rm -rf "$stage"
    say "packed $(du -h "$bundle/bundle.tar.gz" | cut -f1) into $bundle/bundle.tar.gz"
    if [[ ${RAVEL_BUNDLE_DATA:-0} == 1 ]]; then
        # The reference models for the forward tests, for a machine that cannot see
        # ../shared/data (a build folder, never committed): about 28 MB compressed.
        data=${RAVEL_SHARED_DATA:-$root/../shared/data}
        (cd "$data" && tar -czf "$bundle/data.tar.gz" README.md models/*/case.json \
            models/*/model.safetensors models/*/*.f32 models/*/*.tokens.txt) &&
            say "packed the reference models: $(du -h "$bundle/data.tar.gz" | cut -f1)"
    fi
    exit 0
elif [[ $mode == prebuilt ]]; then
    unpack=$(mktemp -d)
    tar -C "$unpack" -xzf "$bundle/bundle.tar.gz" || { say "cannot unpack $bundle/bundle.tar.gz"; exit 1; }
    export LD_LIBRARY_PATH="$unpack/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    bin_dir=$unpack/bin
    if [[ -f $bundle/data.tar.gz && -z ${RAVEL_SHARED_DATA:-} ]]; then
        mkdir -p "$unpack/data" && tar -C "$unpack/data" -xzf "$bundle/data.tar.gz" &&
            export RAVEL_SHARED_DATA=$unpack/data
    fi
    kernels_test=$bin_dir/test_gpu_kernels
    forward_test=$bin_dir/test_gpu_forward
    cli=$bin_dir/ravel-cli
else
    build_here "${RAVEL_CUDA_ARCH:-native}" || exit 1
    kernels_test=$build/tests/engine/test_gpu_kernels
    forward_test=$build/tests/engine/test_gpu_forward
    cli=$build/app/cli/ravel-cli
fi
export RAVEL_SHARED_DATA=${RAVEL_SHARED_DATA:-$root/../shared/data}

# cuBLAS is opened at run time; an image may keep it outside the loader's paths (a Python
# wheel's folder, say). Find it rather than report a GPU without cuBLAS.
if ! ldconfig -p 2>/dev/null | grep -q 'libcublas\.so\.13' && [[ ! -e /usr/local/cuda/lib64/libcublas.so.13 ]]; then
    found=$(timeout 30 find / -xdev -name 'libcublas.so.13' -not -path '/proc/*' 2>/dev/null | head -1)
    if [[ -n $found ]]; then
        export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$(dirname "$found")"
        say "cuBLAS found at $found"
    else
        say "libcublas.so.13 not found on this machine: the cuBLAS paths will report it"
    fi
fi

gpu_name=$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)
say "GPU: ${gpu_name:-unknown (nvidia-smi not found)}"

# Tests: Qt Test prints one line per function and a Totals line.
run_test() {
    local name=$1 exe=$2 limit=$3
    say "$name"
    RAVEL_GPU_BENCH=1 timeout "$limit" "$exe" >"$out/$name.log" 2>&1
    local rc=$?
    local totals
    totals=$(grep -E '^Totals:' "$out/$name.log" | tail -1)
    grep -E '^(FAIL!|QINFO  : GpuKernels::bench)' "$out/$name.log" | head -40
    echo "$name|rc=$rc|${totals:-no Totals line (crashed or timed out)}" >>"$out/tests.txt"
}
: >"$out/tests.txt"
run_test test_gpu_kernels "$kernels_test" 120
run_test test_gpu_forward "$forward_test" 180

# Benchmarks: the probes (copy bandwidth, GEMM rate) run inside each bench. A tiny model first
# says whether the GPU is usable at all: on the CPU the 7B shape would take far too long.
: >"$out/bench.txt"
shapes="v7:12x768 v7:24x2048 v7:32x4096"
probe_json=$("$cli" bench --synthetic v7:1x64:256 --device cuda --prompt 4 --gen 2 --json 2>&1)
if ! grep -q '"device": "cuda' <<<"$probe_json"; then
    reason=$(grep -o '"device_note": "[^"]*"' <<<"$probe_json" || tail -1 <<<"$probe_json")
    say "the GPU is not usable, benchmarks skipped: $reason"
    for shape in $shapes; do echo "$shape|FAILED: no GPU ($reason)" >>"$out/bench.txt"; done
    shapes=""
fi
for shape in $shapes; do
    say "bench $shape f16"
    json="$out/bench-${shape//[:x]/_}.json"
    if timeout 150 "$cli" bench --synthetic "$shape" --dtype f16 --device cuda --prompt 1024 \
        --gen 64 --json >"$json" 2>"$out/bench-${shape//[:x]/_}.err"; then
        echo "$shape|$json" >>"$out/bench.txt"
    else
        echo "$shape|FAILED: $(tail -1 "$out/bench-${shape//[:x]/_}.err")" >>"$out/bench.txt"
    fi
done

# The other weight types and versions on the 1.5B shape: each must run on the GPU in its own type
# (a model file is loaded in the type it stores), at a bandwidth fraction of its own.
[[ -n $shapes ]] && for extra in v7:24x2048:q8_0 v7:24x2048:q4_0 v7:24x2048:bf16 v6:24x2048:f16 \
    v4:24x2048:f16; do
    shape=${extra%:*}
    dtype=${extra##*:}
    say "bench $shape $dtype"
    json="$out/bench-${shape//[:x]/_}-$dtype.json"
    if timeout 90 "$cli" bench --synthetic "$shape" --dtype "$dtype" --device cuda --prompt 512 \
        --gen 32 --json >"$json" 2>"$out/bench-$dtype.err"; then
        echo "$shape $dtype|$json" >>"$out/bench.txt"
    else
        echo "$shape $dtype|FAILED: $(tail -1 "$out/bench-$dtype.err")" >>"$out/bench.txt"
    fi
done

# Out-of-bounds accesses and races in the kernels, where the machine has the tool (optional:
# RAVEL_GPU_SANITIZE=1; slow, so after the figures).
if [[ ${RAVEL_GPU_SANITIZE:-0} == 1 ]] && command -v compute-sanitizer >/dev/null; then
    say "compute-sanitizer memcheck on test_gpu_kernels"
    timeout 150 compute-sanitizer --tool memcheck --error-exitcode 3 "$kernels_test" \
        >"$out/memcheck.log" 2>&1
    echo "memcheck|rc=$?|$(grep -E '^(Totals:|========= ERROR SUMMARY)' "$out/memcheck.log" |
        tr '\n' ' ')" >>"$out/tests.txt"
fi

# Where a decoded token's time goes, kernel by kernel (optional: RAVEL_GPU_PROFILE=1; needs
# Nsight Compute). Kernel durations only: the gaps between them are the rest of the token.
# Total, count and mean duration per kernel name from ncu's CSV, largest total first.
kernel_summary() {
    python3 - "$1" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(l for l in open(sys.argv[1]) if l.startswith('"'))]
head, body = rows[0], rows[1:]
name, value = head.index("Kernel Name"), head.index("Metric Value")
total = collections.defaultdict(float); count = collections.Counter()
for r in body:
    k = r[name].split("(")[0][:70]
    total[k] += float(r[value].replace(",", "")) / 1000.0; count[k] += 1
for k, us in sorted(total.items(), key=lambda kv: -kv[1]):
    print(f"{us:10.1f} us {count[k]:5d} x {us / count[k]:8.2f} us  {k}")
PY
}
if [[ ${RAVEL_GPU_PROFILE:-0} == 1 && -n $shapes ]] && command -v ncu >/dev/null; then
    say "ncu: kernel durations of decoding v7:24x2048 f16"
    timeout 150 ncu --clock-control none --graph-profiling node --metrics gpu__time_duration.sum \
        --csv --print-units base -c 900 "$cli" bench --synthetic v7:24x2048 --dtype f16 \
        --device cuda --prompt 1 --gen 2 >"$out/ncu.csv" 2>"$out/ncu.err"
    kernel_summary "$out/ncu.csv" >"$out/ncu-summary.txt" 2>&1
    head -25 "$out/ncu-summary.txt"
    # And one 512-token prompt chunk (the bench's warm-up chunk; the probe's GEMMs come first).
    say "ncu: kernel durations of a 512-token prompt chunk, v7:24x2048 f16"
    timeout 150 ncu --clock-control none --metrics gpu__time_duration.sum --csv --print-units base \
        -c 700 "$cli" bench --synthetic v7:24x2048 --dtype f16 --device cuda --prompt 512 \
        --gen 1 >"$out/ncu-prompt.csv" 2>"$out/ncu-prompt.err"
    kernel_summary "$out/ncu-prompt.csv" >"$out/ncu-prompt-summary.txt" 2>&1
    head -25 "$out/ncu-prompt-summary.txt"
fi

echo
echo "=== gpu-check summary ($(elapsed)s) ==="
echo "GPU: ${gpu_name:-unknown}"
while IFS='|' read -r name rc totals; do
    printf '%-18s %-6s %s\n' "$name" "$rc" "$totals"
done <"$out/tests.txt"
python3 - "$out/bench.txt" <<'PY'
import json, sys
rows = [l.rstrip("\n").split("|", 1) for l in open(sys.argv[1]) if l.strip()]
first = None
print(f"{'shape':<17} {'device':<8} {'decode ms/tok':>13} {'% BW limit':>10} {'prompt tok/s':>12} {'% GEMM':>7}")
for shape, rest in rows:
    if rest.startswith("FAILED"):
        print(f"{shape:<17} {rest}")
        continue
    j = json.load(open(rest))
    first = first or j
    print(f"{shape:<17} {j['device']:<8} {j['decode_ms_per_token']:>13.3f} "
          f"{100 * j['decode_bandwidth_fraction']:>9.1f}% {j['prompt_tokens_per_s']:>12.0f} "
          f"{100 * j['prompt_fma_fraction']:>6.1f}%")
    if j.get("device_note"):
        print("  note:", j["device_note"])
if first and "gpu_copy_gb_s" in first:
    print(f"copy bandwidth {first['gpu_copy_gb_s']:.0f} GB/s (read + write), "
          f"cuBLAS f16 GEMM {first['gpu_gemm_tflop_s']:.0f} TFLOP/s")
print("targets: decode >= 70% of the bandwidth limit (1.5B, 7B); prompt >= 50% of the GEMM rate")
PY
