#!/usr/bin/env python3
"""A markdown table of runs' evaluations at one step, read from each run's eval.jsonl
(what training logged with the run's judge, sample count and seed): the tables of
docs/model.md "Fewer steps".

Usage: scripts/eval-table.py --step 3000 RUN_DIR [RUN_DIR ...] [--mean]
--mean adds a row of the means over the runs.
"""
import argparse
import json
import os
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--step", type=int, required=True)
    p.add_argument("--mean", action="store_true")
    p.add_argument("runs", nargs="+")
    a = p.parse_args()
    print("| run | accuracy | diversity | FD (floor) | FD / floor | alarm after step 1000 |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = []
    for run in a.runs:
        path = os.path.join(run, "eval.jsonl")
        if not os.path.exists(path):
            sys.exit(f"error: {path} is missing: train the run first")
        with open(path) as f:
            evals = [json.loads(line) for line in f]
        at = [e for e in evals if e["step"] == a.step]
        if not at:
            sys.exit(f"error: {path} has no evaluation at step {a.step}")
        e = at[-1]
        alarms = [str(x["step"]) for x in evals if x["step"] > 1000 and x["step"] <= a.step and x["collapse_alarm"]]
        ratio = e["frechet_distance"] / e["frechet_distance_real_floor"]
        rows.append((e["conditional_accuracy"], e["diversity_ratio"], ratio))
        print(f"| {os.path.basename(os.path.normpath(run))} | {e['conditional_accuracy']:.4f} | "
              f"{e['diversity_ratio']:.3f} | {e['frechet_distance']:.1f} ({e['frechet_distance_real_floor']:.1f}) | "
              f"{ratio:.2f} | {', '.join(alarms) or 'never'} |")
    if a.mean:
        n = len(rows)
        acc, div, ratio = (sum(r[i] for r in rows) / n for i in range(3))
        print(f"| mean of {n} | {acc:.4f} | {div:.3f} | | {ratio:.2f} | |")


if __name__ == "__main__":
    main()
