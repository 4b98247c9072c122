#!/usr/bin/env bash
# docs/model.md "cgan and its PyTorch twin" in one command: cgan's runs and the PyTorch
# twin's for seeds 42 and 7 (6000 steps each, one thread each, two at a time), then the
# table. Needs a Python with torch and numpy: TWIN_PYTHON (default /tmp/bench-venv/bin/python).
#   experiments/twin/run.sh [RUNS_DIR]      (default runs/twin; finished runs are kept)
set -euo pipefail
cd "$(dirname "$0")/../.."
runs="${1:-runs/twin}"
py="${TWIN_PYTHON:-/tmp/bench-venv/bin/python}"
"$py" -c "import torch, numpy" 2>/dev/null ||
    { echo "error: no torch and numpy at $py: python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install torch numpy (or set TWIN_PYTHON)" >&2; exit 1; }
cargo build --release --quiet
export RAYON_NUM_THREADS=1 OMP_NUM_THREADS=1
mkdir -p "$runs"
for seed in 42 7; do
    pids=()
    if [ ! -f "$runs/cgan-seed-$seed/summary.json" ]; then
        rm -rf "$runs/cgan-seed-$seed"
        target/release/cgan train --config "experiments/twin/cgan-seed-$seed.toml" \
            --run-dir "$runs/cgan-seed-$seed" --no-progress-bar >"$runs/cgan-seed-$seed.log" 2>&1 &
        pids+=($!)
    fi
    if [ ! -d "$runs/torch-seed-$seed/step-006000" ]; then
        "$py" benches/gan_torch_twin.py --seed "$seed" --out "$runs/torch-seed-$seed" --threads 1 \
            >"$runs/torch-seed-$seed.log" 2>&1 &
        pids+=($!)
    fi
    for pid in "${pids[@]}"; do
        wait "$pid" || { echo "error: a seed-$seed run failed: see $runs/*-seed-$seed.log" >&2; exit 1; }
    done
done
python3 experiments/twin/table.py --runs "$runs"
