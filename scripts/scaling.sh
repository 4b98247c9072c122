#!/usr/bin/env bash
# The scaling table of docs/speed.md: median ms per training step of the `article` preset and of
# the PyTorch reference at several batch sizes, on both cores and pinned to one
# (`taskset -c 0`: each program keeps its own threads, they share one core), with each
# process's peak RSS. cgan and PyTorch alternate per cell, so each ratio is measured under
# the same load. BATCHES (16 32 64 128), STEPS (15), WARM (3).
# Needs a Python with torch: BENCH_PYTHON (default /tmp/bench-venv/bin/python).
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
batches="${BATCHES:-16 32 64 128}"; steps="${STEPS:-15}"; warm="${WARM:-3}"
py="${BENCH_PYTHON:-/tmp/bench-venv/bin/python}"
ref="$here/../shared/bench/gan_torch.py"
[ -x "$py" ] && [ -f "$ref" ] || { echo "scaling: needs torch at $py and $ref" >&2; exit 1; }
cargo build --release --bench step --quiet
bench="$(cargo bench --bench step --no-run --message-format=json 2>/dev/null | grep '"kind":\["bench"\]' \
    | sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' | tail -1)"
# Runs a command, prints "<median ms> <peak RSS MB>".
measure() {
    local out; out="$(mktemp)"
    /usr/bin/time -f "rss_kb=%M" "$@" > "$out" 2>&1
    local ms rss
    ms="$(sed -n 's/.* median_ms=\([0-9.]*\).*/\1/p' "$out" | head -1)"
    rss="$(sed -n 's/^rss_kb=\([0-9]*\)$/\1/p' "$out")"
    rm -f "$out"
    echo "$ms $((rss / 1024))"
}
echo "| batch | cores | cgan ms/step | PyTorch ms/step | ratio | cgan peak RSS | PyTorch peak RSS |"
echo "| --- | --- | --- | --- | --- | --- | --- |"
for b in $batches; do
    for cores in 2 1; do
        pin=(); [ "$cores" = 1 ] && pin=(taskset -c 0)
        read -r ours ours_rss < <(measure "${pin[@]}" "$bench" "$b" "$steps" "$warm" article)
        read -r theirs theirs_rss < <(OMP_NUM_THREADS=2 measure "${pin[@]}" "$py" "$ref" "$b" "$steps" "$warm")
        ratio="$(awk -v a="$ours" -v t="$theirs" 'BEGIN { printf "%.2f", a / t }')"
        echo "| $b | $cores | $ours | $theirs | $ratio | ${ours_rss} MB | ${theirs_rss} MB |"
    done
done
