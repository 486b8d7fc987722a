#!/usr/bin/env bash
# The GPU check (tools/gpu/README.md), run from the repository root on the GPU machine:
#   1. this crate's parity tests on wgpu (stage by stage and training, against torchvision's
#      fixtures), with wgpu required;
#   2. ResNet-101-FPN inference at $SIZE in torchvision (CUDA) and mrcnn (wgpu), on the same
#      weights and image, detections compared;
#   3. one training step at $SIZE in both;
# then one table (times, peak GPU memory, ratios) on stdout and in $OUT/gpu_check.md.
#
# --dry: the same on this CPU machine (wgpu on lavapipe, torch on the CPU, a small size), to know
# that the script works before a GPU is lent.
set -uo pipefail
cd "$(dirname "$0")/../.."
dry=0
[ "${1:-}" = "--dry" ] && dry=1
out=${OUT:-/tmp/gpu_check}
mkdir -p "$out"
bundle=tools/gpu/bundle
results=$out/results.jsonl
: > "$results"
start=$(date +%s)
say() { echo "[$(($(date +%s) - start)) s] $*"; }

if [ $dry = 1 ]; then
    size=${SIZE:-256x256} repeats=${REPEATS:-1} torch_device=cpu
    parity_limit=900 bench_limit=900
else
    size=${SIZE:-800x1216} repeats=${REPEATS:-3} torch_device=cuda
    parity_limit=240 bench_limit=200
    # The Vulkan loader travels as .deb files (tools/gpu/build.sh --gl); the driver's ICD is in
    # /usr/local/nvidia.
    if [ -d .gl ] && ! ldconfig -p | grep -q libvulkan.so.1; then
        for f in .gl/*.deb; do dpkg -x "$f" /; done
        ldconfig
    fi
    icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
    [ -e "$icd" ] && export VK_DRIVER_FILES=$icd
    nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/GPU: /'
fi

bin=/tmp/gpu_check_bin
python3 -c "import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], 'wb'))" \
    "$bundle/gpu_check.xz" "$bin" || { echo "no $bundle/gpu_check.xz: run tools/gpu/build.sh first" >&2; exit 1; }
chmod +x "$bin"
# The binary reads its fixtures and model configs below the path it was built at.
root=$(cat "$bundle/ROOT")
if [ ! -e "$root/crates/model/tests/fixtures" ]; then
    mkdir -p "$(dirname "$root")"
    ln -sfn "$PWD" "$root"
fi

# Runs "$@" and appends its BENCH line to $results, with the peak GPU memory nvidia-smi saw.
bench() {
    local what=$1; shift
    local smi=$out/smi.$$ peak=null base line
    if [ $dry = 0 ]; then
        base=$(nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0)
        nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -i 0 -lms 100 > "$smi" &
        local sampler=$!
    fi
    line=$(timeout "$bench_limit" "$@" 2> >(tail -5 >&2) | sed -n 's/^BENCH //p; /^{/p' | tail -1)
    if [ $dry = 0 ]; then
        kill "$sampler" 2>/dev/null
        wait "$sampler" 2>/dev/null
        peak=$(( $(sort -n "$smi" | tail -1) - base ))
        rm -f "$smi"
    fi
    if [ -z "$line" ]; then
        say "$what: no result (failed or past ${bench_limit} s)"
        line="{\"failed\": true}"
    else
        say "$what: $line"
    fi
    python3 -c "import json, sys; r = json.loads(sys.argv[1]); r['what'] = sys.argv[2]; r['peak_gpu_mb_smi'] = json.loads(sys.argv[3]); print(json.dumps(r))" \
        "$line" "$what" "$peak" >> "$results"
    python3 tools/gpu/table.py "$results" > "$out/gpu_check.md"
}

say "parity tests on wgpu (MRCNN_TEST_WGPU=1: wgpu required)"
MRCNN_TEST_WGPU=1 MRCNN_TEST_WGPU_TRAIN=1 MRCNN_TEST_GPU_TIMEOUT=$parity_limit \
    timeout "$parity_limit" "$bin" --test-threads 1 > "$out/parity.log" 2>&1
rc=$?
summary=$(grep -E '^test result' "$out/parity.log" | tail -1)
say "parity: exit $rc: ${summary:-no summary (see parity.log)}"
grep -E '^test .* FAILED|panicked' "$out/parity.log" | head -5
python3 -c "import json, sys; print(json.dumps({'what': 'parity', 'exit': int(sys.argv[1]), 'summary': sys.argv[2], 'seconds': int(sys.argv[3])}))" \
    "$rc" "$summary" "$(($(date +%s) - start))" >> "$results"

weights=$out/weights
tv="${PYTHON:-python3} tools/reference/bench_torchvision.py --in-process --device $torch_device --size $size --repeats $repeats --threads $(nproc)"
bench "torchvision inference $size" $tv --box-score-thresh 0 --save-weights "$weights"
MRCNN_BENCH="infer $weights $size wgpu $repeats" \
    bench "mrcnn inference $size" "$bin" --ignored --exact bench --nocapture
bench "torchvision train step $size" $tv --train
MRCNN_BENCH="train --size $size --device wgpu --repeats $repeats" \
    bench "mrcnn train step $size" "$bin" --ignored --exact bench --nocapture

python3 tools/gpu/table.py "$results" | tee "$out/gpu_check.md"
say "done; results in $out"
