#!/usr/bin/env bash
# A short real run (and a resume of it) read back by Python's tensorboard package:
# every tag present, one point per summary step after the resume, images decode.
set -euo pipefail
py="${TB_PYTHON:-.venv/bin/python}"
if ! "$py" -c "import tensorboard" 2>/dev/null; then
    python3 -m venv .venv
    .venv/bin/pip install -q tensorboard
    py=.venv/bin/python
fi
cargo build --release --quiet
run="$(mktemp -d)/run"
common=(--batch-size 8 --summary-every 2 --checkpoint-every 2 --eval-every 2 --no-progress-bar)
./target/release/cgan train --steps 4 --seed 3 --run-dir "$run" "${common[@]}" >/dev/null
"$py" scripts/check_tensorboard.py "$run" 2 4
# Pretend the run died after its checkpoint at 4 but after writing summaries up to 6:
# resuming from 4 must leave one line per tag (TensorBoard drops the orphaned points).
./target/release/cgan train --resume "$run" --steps 6 "${common[@]}" >/dev/null
rm -rf "$run/checkpoints/step-00000006"
./target/release/cgan train --resume "$run" --steps 8 "${common[@]}" >/dev/null
"$py" scripts/check_tensorboard.py "$run" 2 4 6 8
rm -rf "$(dirname "$run")"
# A LAPGAN run: every level's curves and samples.
run="$(mktemp -d)/lapgan"
./target/release/cgan train --preset lapgan --steps 4 --seed 3 --run-dir "$run" "${common[@]}" >/dev/null
"$py" scripts/check_tensorboard.py "$run" 2 4
rm -rf "$(dirname "$run")"
# A sweep of 4 tiny runs: the HPARAMS and CUSTOM SCALARS dashboards of a real TensorBoard
# server compare them, and agree with each run's summary.json.
sweep_dir="$(mktemp -d)"
cp experiments/sweeps/tiny.toml "$sweep_dir/tiny.toml"
./target/release/cgan sweep --config "$sweep_dir/tiny.toml" --out "$sweep_dir/sweep" >/dev/null
trials=$(cd "$sweep_dir/sweep" && ls -d 0*/)
"$py" scripts/check_dashboards.py "$sweep_dir/sweep" ${trials//\//}
rm -rf "$sweep_dir"
