"""Asks a real TensorBoard server what its HPARAMS and CUSTOM SCALARS dashboards show for
a directory of cgan runs, and asserts it.

Usage: check_dashboards.py LOGDIR RUN...   (RUN: each run directory, relative to LOGDIR,
                                           that must appear as a finished session)
Exits non-zero with one line per failed expectation.
"""
import json
import os
import re
import sys
import time
import urllib.request

from tensorboard import program
from tensorboard.backend.event_processing import event_accumulator as ea

FIRST_KEYS = ["preset", "seed", "lr", "steps", "batch_size"]
METRICS = ["eval/conditional_accuracy", "eval/frechet_distance", "eval/frechet_distance_real_floor",
           "eval/diversity_ratio", "eval/mnist_score", "eval/collapse_alarm",
           "probabilities/p_real_right", "probabilities/p_real_wrong", "probabilities/p_fake"]
CHARTS = {
    "probabilities": ["probabilities/p_real_right", "probabilities/p_real_wrong", "probabilities/p_fake"],
    "D's loss terms": ["loss/d_real_right", "loss/d_real_wrong", "loss/d_fake"],
    "Frechet distance": ["eval/frechet_distance", "eval/frechet_distance_real_floor"],
}


def server(logdir):
    tb = program.TensorBoard()
    tb.configure(argv=[None, "--logdir", logdir, "--port", "0", "--load_fast", "false"])
    url = tb.launch().rstrip("/")

    def post(path, body):
        req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        return json.loads(urllib.request.urlopen(req, timeout=60).read())

    def get(path):
        return json.loads(urllib.request.urlopen(url + path, timeout=60).read())

    return post, get


def main():
    logdir, runs = sys.argv[1], sys.argv[2:]
    post, get = server(logdir)
    errors = []
    groups = []
    for _ in range(60):  # the server loads the event files in the background
        groups = post("/data/plugin/hparams/session_groups", {
            "experimentName": "", "startIndex": 0, "sliceSize": 1000, "colParams": [],
            "allowedStatuses": ["STATUS_UNKNOWN", "STATUS_SUCCESS", "STATUS_FAILURE", "STATUS_RUNNING"],
        }).get("sessionGroups", [])
        if len(groups) >= len(runs):
            break
        time.sleep(1)
    exp = post("/data/plugin/hparams/experiment", {"experimentName": ""})
    names = [h["name"] for h in exp.get("hparamInfos", [])]
    if not names:
        errors.append("HPARAMS: no hparams data found")
    for k in FIRST_KEYS:
        if k not in names:
            errors.append(f"HPARAMS: hparam {k} missing")
    metric_tags = {m["name"]["tag"]: m for m in exp.get("metricInfos", [])}
    for tag in METRICS:
        if tag not in metric_tags:
            errors.append(f"HPARAMS: metric {tag} missing")
    fd = metric_tags.get("eval/frechet_distance", {}).get("displayName", "")
    if not re.search(r"\(\d+ samples\)", fd):
        errors.append(f"HPARAMS: Frechet distance column '{fd}' does not give its sample count")

    by_name = {g["name"]: g for g in groups}
    for run in runs:
        g = by_name.get(run)
        if g is None:
            errors.append(f"HPARAMS: no session for run {run} (have {sorted(by_name)})")
            continue
        status = g["sessions"][0]["status"]
        if status != "STATUS_SUCCESS":
            errors.append(f"HPARAMS: {run} status {status}, expected STATUS_SUCCESS")
        with open(os.path.join(logdir, run, "summary.json")) as f:
            summary = json.load(f)
        seed = g["hparams"].get("seed")
        with open(os.path.join(logdir, run, "config.toml")) as f:
            want_seed = float(re.search(r"^seed = (\d+)", f.read(), re.M).group(1))
        if seed != want_seed:
            errors.append(f"HPARAMS: {run} seed {seed}, config.toml says {want_seed}")
        values = {m["name"]["tag"]: m for m in g["metricValues"]}
        for tag, key in [("eval/frechet_distance", "frechet_distance"),
                         ("eval/conditional_accuracy", "conditional_accuracy"),
                         ("eval/diversity_ratio", "diversity_ratio")]:
            got = values.get(tag)
            want = summary["eval"][key]
            if got is None:
                errors.append(f"HPARAMS: {run} has no value for {tag}")
            elif abs(got["value"] - want) > 1e-5 * max(1.0, abs(want)) or got["trainingStep"] != summary["eval_step"]:
                errors.append(f"HPARAMS: {run} {tag} = {got['value']} at step {got['trainingStep']}, "
                              f"summary.json says {want} at step {summary['eval_step']}")

    layout = get("/data/plugin/custom_scalars/layout")
    charts = [c for cat in layout.get("category", []) for c in cat.get("chart", [])]
    if not charts:
        errors.append("CUSTOM SCALARS: no layout found")
    acc = ea.EventAccumulator(os.path.join(logdir, runs[0]), size_guidance={ea.SCALARS: 0})
    acc.Reload()
    present = acc.Tags()["scalars"]
    for title, want in CHARTS.items():
        chart = next((c for c in charts if title in c["title"]), None)
        if chart is None:
            errors.append(f"CUSTOM SCALARS: no chart titled '{title}...'")
            continue
        drawn = sorted(t for t in present if any(re.search(p, t) for p in chart["multiline"]["tag"]))
        if drawn != sorted(want):
            errors.append(f"CUSTOM SCALARS: chart '{chart['title']}' draws {drawn}, expected {sorted(want)}")
    fd_chart = next((c["title"] for c in charts if "Frechet" in c["title"]), "")
    if not re.search(r"\(\d+ samples\)", fd_chart):
        errors.append(f"CUSTOM SCALARS: chart '{fd_chart}' does not give the sample count")

    for line in errors:
        print(f"check_dashboards: {logdir}: {line}")
    if errors:
        sys.exit(1)
    print(f"check_dashboards: {logdir}: HPARAMS {len(names)} hparams, {len(metric_tags)} metrics, "
          f"{len(runs)} finished sessions agreeing with summary.json; CUSTOM SCALARS {len(charts)} charts: ok")
    os._exit(0)  # the server thread does not stop on its own


if __name__ == "__main__":
    main()
