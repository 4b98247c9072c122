//! `results.csv`: one row per trial (its swept keys, status, final judge metrics, wall
//! time), read from each trial's `summary.json`.

use super::launch::{self, Outcome};
use super::{trial_run, Plan, SweepError, Trial};
use crate::run::history::{self, Status};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The results file of a sweep.
pub const RESULTS_FILE: &str = "results.csv";

fn field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The CSV text for `plan`'s trials in `dir`.
pub fn table(dir: &Path, plan: &Plan, outcomes: &[Outcome]) -> String {
    // `steps` is a column of its own unless the sweep varies it (then it is a swept key).
    let steps_column = !plan.swept.iter().any(|k| k == "steps");
    let mut header: Vec<String> = vec!["trial".into(), "status".into(), "exit_code".into()];
    header.extend(plan.swept.iter().cloned());
    header.push("final_step".into());
    if steps_column {
        header.push("steps".into());
    }
    header.extend(
        [
            "conditional_accuracy",
            "frechet_distance",
            "frechet_distance_real_floor",
            "diversity_ratio",
            "mnist_score",
            "eval_samples",
            "wall_seconds",
            "steps_per_second",
            "run_dir",
        ]
        .map(String::from),
    );
    let mut out = header.iter().map(|h| field(h)).collect::<Vec<_>>().join(",") + "\n";
    for t in &plan.trials {
        let run = super::trial_run(dir, t);
        let outcome = outcomes.iter().find(|o| o.trial == t.name);
        let summary = history::read_summary(&run).ok();
        let status = match (&summary, outcome) {
            // A trial stopped for good (e.g. requeued too many times) with its last summary.
            (Some(s), Some(o)) if o.exit_code.is_some_and(|c| c != 0) && s.status != Status::NonFinite => {
                "failed".into()
            }
            (Some(s), _) => serde_json::to_value(s.status)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            (None, Some(o)) if o.exit_code.is_some_and(|c| c != 0) => "failed".into(),
            // Still running, or stopped before its first summary (resumable).
            (None, _) if run.exists() => "unfinished".into(),
            (None, Some(o)) if !o.started => "not_started".into(),
            (None, _) => "failed".into(),
        };
        let mut row = vec![
            t.name.clone(),
            status,
            outcome
                .and_then(|o| o.exit_code)
                .map(|c| c.to_string())
                .unwrap_or_default(),
        ];
        row.extend(plan.swept.iter().map(|k| match t.keys.get(k) {
            Some(toml::Value::String(s)) => s.clone(),
            Some(v) => v.to_string(),
            None => String::new(),
        }));
        let eval = summary.as_ref().and_then(|s| s.eval.as_ref());
        let num = |v: Option<f64>| v.map(|x| x.to_string()).unwrap_or_default();
        row.push(num(summary.as_ref().map(|s| s.final_step as f64)));
        if steps_column {
            row.push(t.config.steps.to_string());
        }
        row.extend([
            num(eval.map(|m| m.conditional_accuracy)),
            num(eval.map(|m| m.frechet_distance)),
            num(eval.map(|m| m.frechet_distance_real_floor)),
            num(eval.map(|m| m.diversity_ratio)),
            num(eval.map(|m| m.mnist_score)),
            num(eval.map(|m| m.samples as f64)),
            num(summary.as_ref().map(|s| s.wall_seconds)),
            num(summary.as_ref().map(|s| s.steps_per_second)),
            run.display().to_string(),
        ]);
        out += &(row.iter().map(|f| field(f)).collect::<Vec<_>>().join(",") + "\n");
    }
    out
}

/// Writes `results.csv` into the sweep directory and returns its path.
pub fn write(dir: &Path, plan: &Plan, outcomes: &[Outcome]) -> Result<std::path::PathBuf, SweepError> {
    let path = dir.join(RESULTS_FILE);
    std::fs::write(&path, table(dir, plan, outcomes)).map_err(|source| SweepError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Why a trial failed on the cluster.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
pub struct Failure {
    /// The task's exit code.
    pub exit_code: i32,
    /// The trial's log.
    pub log: PathBuf,
    /// The error line.
    pub error: String,
}

/// A trial's failure record (written by a cluster task that could not finish it).
pub fn failed_file(dir: &Path, t: &Trial) -> PathBuf {
    dir.join("slurm").join("failed").join(format!("{}.toml", t.name))
}

/// A trial's failure record, if it has one.
pub fn failure(dir: &Path, t: &Trial) -> Option<Failure> {
    std::fs::read_to_string(failed_file(dir, t))
        .ok()
        .and_then(|s| toml::from_str(&s).ok())
}

/// Each trial's outcome as its run directory and failure record show it (trials run by
/// Slurm, by hand from `--print-commands`, or by another scheduler).
pub fn outcomes(dir: &Path, plan: &Plan) -> Vec<launch::Outcome> {
    plan.trials
        .iter()
        .map(|t| {
            let summary = history::read_summary(&trial_run(dir, t)).ok();
            let exit_code = match (failure(dir, t), &summary) {
                (Some(f), _) => Some(f.exit_code),
                (None, Some(s)) if s.status == Status::Finished => Some(0),
                _ => None,
            };
            launch::Outcome {
                trial: t.name.clone(),
                exit_code,
                started: summary.is_some() || exit_code.is_some(),
                seconds: summary.map_or(0.0, |s| s.wall_seconds),
            }
        })
        .collect()
}

/// Writes `results.csv` of the sweep in `dir` from what its trials left on disk.
pub fn collect(dir: &Path) -> Result<PathBuf, SweepError> {
    let plan = super::load(&dir.join("sweep.toml"))?;
    write(dir, &plan, &outcomes(dir, &plan))
}
