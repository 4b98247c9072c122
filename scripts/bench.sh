#!/usr/bin/env bash
# cgan's training step against PyTorch, run alternately A B A B in one session so the
# ratio means something on a noisy machine: the `article` preset against the reference
# (../shared/bench/gan_torch.py), the default (`mode-seeking`) against its PyTorch
# version next to our bench (benches/gan_torch_mode_seeking.py).
# Then each convolution of the article's G and D alone, forward and backward, cgan
# (benches/layers.rs, with each layer's share of the FMA peak benches/peak.rs measures)
# next to PyTorch (benches/conv_layers_torch.py): where the step goes.
# BATCH (32), STEPS (30), WARM (5), ROUNDS (2); PRESETS (default "article mode-seeking");
# KERNELS (default "auto"; e.g. "fast direct" times both convolution paths in each round);
# SHARED=1 times each preset with `shared_fake = true` (G run once per step; the PyTorch
# references still run it twice).
# Needs a Python with torch: BENCH_PYTHON (default /tmp/bench-venv/bin/python).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
batch="${BATCH:-32}"; steps="${STEPS:-30}"; warm="${WARM:-5}"; rounds="${ROUNDS:-2}"
presets="${PRESETS:-article mode-seeking}"
kernel_list="${KERNELS:-auto}"
py="${BENCH_PYTHON:-/tmp/bench-venv/bin/python}"
reference() {
    case "$1" in
        article) echo "$here/../shared/bench/gan_torch.py" ;;
        mode-seeking) echo "$here/benches/gan_torch_mode_seeking.py" ;;
    esac
}
median_ms() { sed -n 's/.* median_ms=\([0-9.]*\).*/\1/p' | head -1; }
min_ms() { sed -n 's/.* min_ms=\([0-9.]*\).*/\1/p' | head -1; }
cargo build --release --bench step --bench layers --bench peak --quiet 2>/dev/null || cargo bench --bench step --bench layers --bench peak --no-run
log="$(mktemp)"
for i in $(seq "$rounds"); do
    for preset in $presets; do
        ref="$(reference "$preset")"
        theirs=""
        if [ -x "$py" ] && [ -f "$ref" ]; then
            theirs="$(OMP_NUM_THREADS=2 "$py" "$ref" "$batch" "$steps" "$warm" | grep median_ms)"
            echo "$theirs"
        else
            echo "reference skipped: no torch at $py (python3 -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install torch)"
        fi
        for kernels in $kernel_list; do
            out="$(cargo bench --quiet --bench step -- "$batch" "$steps" "$warm" "$preset" "$kernels" ${SHARED:+shared} 2>/dev/null)"
            echo "$out kernels=$kernels"
            ours="$(echo "$out" | median_ms) $(echo "$out" | min_ms)"
            [ -n "$theirs" ] && echo "$preset/$kernels $ours $(echo "$theirs" | median_ms) $(echo "$theirs" | min_ms)" >> "$log"
        done
    done
done
# One ratio per round and preset (of the medians, and of the fastest steps: a shared
# machine's interference only adds time, so the fastest steps compare the code itself),
# then each preset's median ratio of each kind.
awk '{ printf "ratio %s: cgan %.1f ms / torch %.1f ms = %.2f (fastest steps: %.1f / %.1f = %.2f)\n", $1, $2, $4, $2 / $4, $3, $5, $3 / $5 }' "$log"
median_of() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
for preset in $(for p in $presets; do for k in $kernel_list; do echo "$p/$k"; done; done); do
    grep -q "^$preset " "$log" || continue
    pairs="$(grep -c "^$preset " "$log")"
    of_medians="$(awk -v p="$preset" '$1 == p { printf "%.4f\n", $2 / $4 }' "$log" | median_of)"
    of_fastest="$(awk -v p="$preset" '$1 == p { printf "%.4f\n", $3 / $5 }' "$log" | median_of)"
    printf "median ratio %s (batch %s, %d pairs): %.2f (fastest steps: %.2f)\n" "$preset" "$batch" "$pairs" "$of_medians" "$of_fastest"
done
rm -f "$log"
echo
cargo bench --quiet --bench peak 2>/dev/null
cargo bench --quiet --bench layers -- "$batch" 15 2>/dev/null
if [ -x "$py" ]; then
    OMP_NUM_THREADS=2 "$py" "$here/benches/conv_layers_torch.py" "$batch" 15
fi
