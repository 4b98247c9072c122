#!/usr/bin/env bash
# The GPU check, for a machine with an NVIDIA GPU (README "GPU"): builds cgan with the
# `cuda` feature (or takes prebuilt binaries), runs the shape tests and a training step
# on the GPU against the CPU's fast path, then trains --device cuda for STEPS (300) and
# prints its steps/s next to the CPU's.
#   Build here:     scripts/gpu-check.sh            (needs Rust, nvcc, cuda.h, nvidia-smi)
#   Prebuilt:       CGAN_BIN=path/to/cgan CGAN_DEVICE_TEST=path/to/device-test scripts/gpu-check.sh
#                   (the test binary: `cargo test --release --features cuda --test device --no-run`)
# Needs MNIST in data/mnist (`make data`, or copied along).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${STEPS:-300}"
out="${OUT_DIR:-target/gpu-check}"
say() { echo "gpu-check: $*"; }
command -v nvidia-smi >/dev/null || { say "no nvidia-smi: this machine has no NVIDIA driver"; exit 2; }
nvidia-smi --query-gpu=name,driver_version,memory.total,compute_cap --format=csv,noheader | sed 's/^/gpu-check: GPU /'
if [ -z "${CGAN_BIN:-}" ]; then
    command -v nvcc >/dev/null || { say "no nvcc: install the CUDA toolkit, or pass CGAN_BIN and CGAN_DEVICE_TEST"; exit 2; }
    say "$(nvcc --version | tail -1)"
    cargo build --release --features cuda
    CGAN_BIN=target/release/cgan
    CGAN_DEVICE_TEST="$(cargo test --release --features cuda --test device --no-run --message-format=json 2>/dev/null |
        sed -n 's/.*"executable":"\([^"]*device-[^"]*\)".*/\1/p' | tail -1)"
fi
[ -x "$CGAN_BIN" ] && [ -x "${CGAN_DEVICE_TEST:-}" ] || { say "missing binaries: CGAN_BIN=$CGAN_BIN CGAN_DEVICE_TEST=${CGAN_DEVICE_TEST:-}"; exit 2; }
[ -f data/mnist/train-images-idx3-ubyte ] || scripts/fetch-mnist.sh data/mnist

say "shape tests and training steps on the GPU against the CPU's fast path"
CGAN_TEST_DEVICE=cuda "$CGAN_DEVICE_TEST" --test-threads 1

rm -rf "$out" && mkdir -p "$out"
common=(--eval-every 0 --summary-every 100 --checkpoint-every 1000 --no-progress-bar)
say "training $steps steps on the GPU"
"$CGAN_BIN" train --device cuda --steps "$steps" --run-dir "$out/cuda" "${common[@]}" >"$out/cuda.log"
cpu_steps=$(( steps < 60 ? steps : 60 ))
say "training $cpu_steps steps on the CPU for comparison"
"$CGAN_BIN" train --device cpu --steps "$cpu_steps" --run-dir "$out/cpu" "${common[@]}" >"$out/cpu.log"
sps() { sed -n 's/.*"steps_per_second": *\([0-9.e+-]*\).*/\1/p' "$1/summary.json"; }
loss() { sed -n 's/.*"loss\/discriminator": *\([0-9.e+-]*\).*/\1/p' "$1/summary.json"; }
say "cuda: $(sps "$out/cuda") steps/s over $steps steps (last D loss $(loss "$out/cuda"))"
say "cpu:  $(sps "$out/cpu") steps/s over $cpu_steps steps (last D loss $(loss "$out/cpu"))"
say "ok"
