#!/usr/bin/env bash
# Run every fuzz target for SECONDS each (default 20); stop at the first crash.
#   fuzz/run.sh [SECONDS]
# Installs cargo-fuzz if it is missing. Works on stable Rust: with
# `--sanitizer none` cargo-fuzz passes no nightly-only flags.
set -euo pipefail
cd "$(dirname "$0")"
secs="${1:-20}"
targets=(tfrecord_reader tfrecord_example coco_json coco_results rle annotation_tools)

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

cargo fuzz build --sanitizer none
for t in "${targets[@]}"; do
    # New inputs go to a scratch corpus under target/ (ignored); the committed
    # seeds in corpus/<target> are only read.
    work="target/run-corpus/$t"
    mkdir -p "$work"
    echo "== fuzz $t for ${secs}s"
    # -timeout: an input running longer than 60 s is a hang and fails the run.
    # The per-input progress lines (#N NEW ...) are left out of the log.
    if ! cargo fuzz run --sanitizer none "$t" "$work" "corpus/$t" -- \
        -max_total_time="$secs" -timeout=60 -rss_limit_mb=2048 2>&1 |
        { grep -v -E '^#[0-9]+' || true; }; then
        echo "fuzz target $t failed: input saved under fuzz/artifacts/$t/ (see fuzz/README.md)"
        exit 1
    fi
done
echo "all ${#targets[@]} fuzz targets ran ${secs}s each without a crash"
