#!/usr/bin/env bash
# cgan's training step against the PyTorch reference (../shared/bench/gan_torch.py), run
# alternately A B A B in one session so the ratio means something on a noisy machine.
# PRESETS (default "article mode-seeking") are cgan's presets to time each round.
# Needs a Python with torch: BENCH_PYTHON (default /tmp/bench-venv/bin/python).
set -euo pipefail
batch="${BATCH:-32}"; steps="${STEPS:-30}"; warm="${WARM:-5}"; rounds="${ROUNDS:-2}"
presets="${PRESETS:-article mode-seeking}"
py="${BENCH_PYTHON:-/tmp/bench-venv/bin/python}"
ref="$(dirname "$0")/../../shared/bench/gan_torch.py"
cargo build --release --bench step --quiet 2>/dev/null || cargo bench --bench step --no-run
for i in $(seq "$rounds"); do
    for preset in $presets; do
        echo "cgan $preset:"
        cargo bench --quiet --bench step -- "$batch" "$steps" "$warm" "$preset" 2>/dev/null | grep median_ms
    done
    if [ -x "$py" ] && [ -f "$ref" ]; then
        OMP_NUM_THREADS=2 "$py" "$ref" "$batch" "$steps" "$warm" | grep median_ms
    else
        echo "reference skipped: no torch at $py (python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install torch)"
    fi
done
