"""The cgan-vs-twin table of docs/model.md ("cgan and its PyTorch twin"): cgan's
evaluations from each run's eval.jsonl and the twin's samples scored by `cgan eval
--from` (the same pinned judge, 2000 samples, the same real reference: `--seed` is the
run's seed).

Usage: python experiments/twin/table.py [--runs runs/twin] [--cgan target/release/cgan]
Expects RUNS/cgan-seed-S (cgan train --config experiments/twin/cgan-seed-S.toml) and
RUNS/torch-seed-S (python benches/gan_torch_twin.py --seed S --out RUNS/torch-seed-S).
"""
import argparse
import json
import os
import subprocess
import sys


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--runs", default="runs/twin")
    p.add_argument("--cgan", default="target/release/cgan")
    p.add_argument("--seeds", default="42,7")
    a = p.parse_args()
    print("| seed | step | cgan: accuracy / diversity / FD (x floor) | PyTorch twin: accuracy / diversity / FD (x floor) |")
    print("| --- | --- | --- | --- |")
    for seed in a.seeds.split(","):
        run = os.path.join(a.runs, f"cgan-seed-{seed}")
        twin = os.path.join(a.runs, f"torch-seed-{seed}")
        with open(os.path.join(run, "eval.jsonl")) as f:
            evals = {e["step"]: e for e in map(json.loads, f)}
        steps = sorted(int(d[5:]) for d in os.listdir(twin) if d.startswith("step-"))
        for step in steps:
            out = subprocess.run([a.cgan, "eval", "--from", os.path.join(twin, f"step-{step:06d}"),
                                  "--seed", seed, "--json"], capture_output=True, text=True)
            if out.returncode != 0:
                sys.exit(out.stderr.strip())
            t = json.loads(out.stdout)
            c = evals.get(step)
            cell = lambda m: (f"{m['conditional_accuracy']:.4f} / {m['diversity_ratio']:.3f} / "
                              f"{m['frechet_distance']:.1f} ({m['frechet_distance'] / m['frechet_distance_real_floor']:.2f}x)")
            print(f"| {seed} | {step} | {cell(c) if c else '-'} | {cell(t)} |")


if __name__ == "__main__":
    main()
