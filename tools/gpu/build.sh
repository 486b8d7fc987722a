#!/usr/bin/env bash
# Builds what the GPU check carries to a GPU machine (tools/gpu/README.md): the one test binary
# `gpu_check` (this crate's parity tests + the ResNet-101-FPN benchmarks), stripped and
# xz-compressed into tools/gpu/bundle/, and the path it was built at (its fixtures are read
# from there). With --gl also the Vulkan loader packages into .gl/ (the GPU machine has none).
set -euo pipefail
cd "$(dirname "$0")/../.."
bundle=tools/gpu/bundle
mkdir -p "$bundle"

exe=$(cargo test --release --workspace --test gpu_check --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "gpu_check" and m.get("executable"):
        print(m["executable"])
' | tail -1)
[ -n "$exe" ] || { echo "build.sh: cargo built no gpu_check binary" >&2; exit 1; }
tmp=$(mktemp)
cp "$exe" "$tmp"
strip "$tmp"
xz -T0 -6 -c "$tmp" > "$bundle/gpu_check.xz"
rm -f "$tmp"
pwd > "$bundle/ROOT"
echo "$bundle/gpu_check.xz: $(du -h "$bundle/gpu_check.xz" | cut -f1) (from $exe)"

if [ "${1:-}" = "--gl" ] && [ ! -d .gl ]; then
    # The device README's recipe: Debian's Vulkan/EGL loaders as .deb files, unpacked there.
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    # shellcheck disable=SC2086
    apt-get $o update -qq
    # shellcheck disable=SC2086
    (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
    echo ".gl: $(ls .gl | wc -l) packages"
fi
