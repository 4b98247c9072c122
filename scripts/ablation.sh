#!/usr/bin/env bash
# The ablation table of docs/model.md, reproduced: trains every config in a directory
# (default experiments/ablation/*.toml) into runs/ablation/<name>/ (skipping runs that
# already finished), scores each final checkpoint with `cgan eval --samples 2000`, and
# prints the table. Usage: scripts/ablation.sh [DIR] [NAME...]
# CGAN=path/to/cgan uses that binary instead of building one (e.g. a copy, so that a
# rebuild during a long sweep cannot swap the binary under it).
set -euo pipefail
dir="${1:-experiments/ablation}"
shift || true
if [ -z "${CGAN:-}" ]; then
    cargo build --release --quiet
fi
cgan="${CGAN:-./target/release/cgan}"
configs=()
if [ $# -gt 0 ]; then
    for n in "$@"; do configs+=("$dir/$n.toml"); done
else
    configs=("$dir"/*.toml)
fi
for cfg in "${configs[@]}"; do
    name="$(basename "$cfg" .toml)"
    run="runs/$(basename "$dir")/$name"
    if [ -f "$run/eval_final.json" ]; then
        echo "ablation: $name done ($run)" >&2
        continue
    fi
    rm -rf "$run"
    mkdir -p "$(dirname "$run")"
    echo "ablation: training $name into $run" >&2
    start=$(date +%s.%N)
    "$cgan" train --config "$cfg" --run-dir "$run" --no-progress-bar > "$run.log" 2>&1 || {
        echo "ablation: $name failed, see $run.log" >&2
        exit 1
    }
    end=$(date +%s.%N)
    mv "$run.log" "$run/train.log"
    "$cgan" eval --run "$run" --samples 2000 --json > "$run/eval_final.json.part"
    python3 - "$run" "$start" "$end" <<'PY'
import json, sys, tomllib
run, start, end = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
m = json.load(open(f"{run}/eval_final.json.part"))
cfg = tomllib.load(open(f"{run}/config.toml", "rb"))
m["steps"] = cfg["steps"]
m["wall_seconds"] = end - start
# Training speed from the run's own log line "trained N steps (...) in Xs": the loop
# with its summaries and evaluations, without start-up (data, judge).
for line in open(f"{run}/train.log"):
    if line.startswith("trained "):
        m["train_seconds"] = float(line.split(" in ")[-1].split("s ")[0])
json.dump(m, open(f"{run}/eval_final.json", "w"))
PY
    rm "$run/eval_final.json.part"
done
python3 - "runs/$(basename "$dir")" "${configs[@]}" <<'PY'
import json, os, sys
root, configs = sys.argv[1], sys.argv[2:]
print("| config | steps | conditional accuracy | diversity ratio | Frechet distance (floor) | FD / floor | MNIST score | collapse alarm on at | steps/s |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
for cfg in configs:
    name = os.path.basename(cfg)[:-5]
    path = f"{root}/{name}/eval_final.json"
    if not os.path.exists(path):
        continue
    m = json.load(open(path))
    history = [json.loads(l) for l in open(f"{root}/{name}/eval.jsonl")]
    alarms = [h["step"] for h in history if h["collapse_alarm"]]
    alarm = ", ".join(map(str, alarms)) if alarms else "never"
    fd, floor = m["frechet_distance"], m["frechet_distance_real_floor"]
    print(f"| `{name}` | {m['steps']} | {m['conditional_accuracy']:.3f} | {m['diversity_ratio']:.3f} | "
          f"{fd:.1f} ({floor:.1f}) | {fd / floor:.2f} | {m['mnist_score']:.2f} | "
          f"{alarm} | {m['steps'] / m.get('train_seconds', m['wall_seconds']):.2f} |")
PY
