//! A run's record of itself. `config.toml` is the config the run started with and is
//! never rewritten; `history.toml` has one `[[segment]]` per process that trained the
//! run (the step it started at and the keys it changed); `summary.json` is what the
//! last process measured, for sweeps and scripts.

use crate::config::{Config, ConfigError};
use crate::judge::metrics::Metrics;
use crate::models::trainee::StepReport;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The segment file of a run.
pub const HISTORY_FILE: &str = "history.toml";
/// The machine-readable record of a run's last process.
pub const SUMMARY_FILE: &str = "summary.json";
/// The config a run started with.
pub const CONFIG_FILE: &str = "config.toml";

/// One process's share of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Segment {
    /// 1 for the process that created the run, then 2, 3, ...
    pub index: u32,
    /// The step it started training at.
    pub start_step: u64,
    /// When it started (local time, RFC 3339).
    pub started: String,
    /// The config keys it set to other values than the segment before it.
    pub overrides: toml::Table,
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct History {
    #[serde(default)]
    segment: Vec<Segment>,
}

/// Why a run's record could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    /// Disk trouble.
    #[error("run record {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file that is not what cgan wrote.
    #[error("run record {path} is unreadable ({why}); restore it or start a new run")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The config it names is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
}

/// The segments of a run, oldest first (none for a run from before segments existed).
pub fn segments(run: &Path) -> Result<Vec<Segment>, HistoryError> {
    let path = run.join(HISTORY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => toml::from_str::<History>(&text)
            .map(|h| h.segment)
            .map_err(|e| HistoryError::Invalid {
                path,
                why: e.message().lines().next().unwrap_or("").to_string(),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(source) => Err(HistoryError::Io { path, source }),
    }
}

/// The config the run's latest segment trained with: `config.toml`, then every
/// segment's overrides in order.
pub fn current_config(run: &Path) -> Result<Config, HistoryError> {
    let mut cfg = Config::load_run(&run.join(CONFIG_FILE))?;
    for s in segments(run)? {
        cfg = with_overrides(&cfg, &s.overrides).map_err(|why| HistoryError::Invalid {
            path: run.join(HISTORY_FILE),
            why: format!("segment {}: {why}", s.index),
        })?;
    }
    Ok(cfg)
}

fn table(cfg: &Config) -> toml::Table {
    toml::Table::try_from(cfg).unwrap_or_default()
}

fn with_overrides(cfg: &Config, overrides: &toml::Table) -> Result<Config, String> {
    cfg.with_overrides(overrides)
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// The keys of `new` whose values differ from `old`'s; of `[model]`, only the keys that
/// differ (all of it when the kind does).
pub fn overrides(old: &Config, new: &Config) -> toml::Table {
    let old = table(old);
    let mut out: toml::Table = table(new).into_iter().filter(|(k, v)| old.get(k) != Some(v)).collect();
    if let (Some(toml::Value::Table(new_m)), Some(toml::Value::Table(old_m))) = (out.get_mut("model"), old.get("model"))
    {
        if new_m.get("kind") == old_m.get("kind") {
            new_m.retain(|k, v| old_m.get(k) != Some(v));
        }
    }
    out
}

/// `key = value, ...` of a segment's overrides ("no changes" when none).
pub fn describe(overrides: &toml::Table) -> String {
    if overrides.is_empty() {
        return "no changes".into();
    }
    overrides
        .iter()
        .flat_map(|(k, v)| match v {
            toml::Value::Table(t) => t.iter().map(|(k2, v)| format!("{k}.{k2} = {v}")).collect(),
            v => vec![format!("{k} = {v}")],
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes `config.toml` of a new run (via a temporary file and a rename).
pub fn write_config(run: &Path, cfg: &Config) -> Result<(), HistoryError> {
    let path = run.join(CONFIG_FILE);
    let text = format!(
        "# The config this run started with (cgan train); history.toml has what later segments changed.\n{}",
        cfg.to_toml()
    );
    write_atomic(&path, text.as_bytes())
}

/// Appends a segment to the run's history and returns it.
pub fn append(run: &Path, start_step: u64, overrides: toml::Table) -> Result<Segment, HistoryError> {
    let path = run.join(HISTORY_FILE);
    let mut all = segments(run)?;
    let segment = Segment {
        index: all.len() as u32 + 1,
        start_step,
        started: chrono::Local::now().to_rfc3339(),
        overrides,
    };
    all.push(segment.clone());
    let text = toml::to_string(&History { segment: all }).map_err(|e| HistoryError::Invalid {
        path: path.clone(),
        why: e.to_string(),
    })?;
    write_atomic(
        &path,
        format!("# One [[segment]] per process that trained this run.\n{text}").as_bytes(),
    )?;
    Ok(segment)
}

/// How a process's training ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// It reached the configured number of steps.
    Finished,
    /// Ctrl-C or SIGTERM: a checkpoint was written at `final_step`.
    Interrupted,
    /// A loss became NaN or infinite.
    NonFinite,
}

/// `summary.json`: what the run's last process measured.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSummary {
    /// How it ended.
    pub status: Status,
    /// The step the run stands at.
    pub final_step: u64,
    /// The steps the run is configured for.
    pub steps: u64,
    /// Which segment (process) of the run this was.
    pub segment: u32,
    /// Seconds this process spent in its training loop.
    pub wall_seconds: f64,
    /// Steps this process trained per second of loop time (summaries and evaluations
    /// included).
    pub steps_per_second: f64,
    /// The last step's losses and probabilities by tag (null where not finite).
    pub last: BTreeMap<String, Option<f32>>,
    /// The judge's metrics at the last evaluation of this process (none when off).
    pub eval: Option<Metrics>,
    /// The step of that evaluation.
    pub eval_step: Option<u64>,
}

/// The last step's values for [`RunSummary::last`].
pub fn last_values(s: &dyn StepReport) -> BTreeMap<String, Option<f32>> {
    s.record()
        .into_iter()
        .map(|(tag, v)| (tag, Some(v).filter(|v| v.is_finite())))
        .collect()
}

/// Writes `summary.json`.
pub fn write_summary(run: &Path, s: &RunSummary) -> Result<(), HistoryError> {
    let path = run.join(SUMMARY_FILE);
    let text = serde_json::to_string_pretty(s).map_err(|e| HistoryError::Invalid {
        path: path.clone(),
        why: e.to_string(),
    })?;
    write_atomic(&path, format!("{text}\n").as_bytes())
}

/// Reads `summary.json`.
pub fn read_summary(run: &Path) -> Result<RunSummary, HistoryError> {
    let path = run.join(SUMMARY_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| HistoryError::Io {
        path: path.clone(),
        source,
    })?;
    serde_json::from_str(&text).map_err(|e| HistoryError::Invalid {
        path,
        why: e.to_string(),
    })
}

fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), HistoryError> {
    let tmp = path.with_extension("part");
    std::fs::write(&tmp, bytes)
        .and_then(|_| std::fs::rename(&tmp, path))
        .map_err(|source| HistoryError::Io {
            path: path.to_owned(),
            source,
        })
}
