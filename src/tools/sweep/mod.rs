//! `cgan sweep`: a grid or list of config overrides expanded into trials under one parent
//! directory. Each trial is an ordinary `cgan train --config <trial>.toml --run-dir <dir>`
//! run, so the same trials can run here (a bounded number of local processes, see
//! `launch`) or be printed as commands for another scheduler; `results` collects their
//! `summary.json` files into `results.csv`.
//!
//! A sweep file:
//! ```toml
//! name = "lr-seeds"          # the parent directory's suffix
//! parallel = 2               # local processes at once
//! [base]                     # config keys every trial shares
//! steps = 2000
//! [grid]                     # every combination of these values
//! preset = ["article", "mode-seeking"]
//! seed = [1, 2]
//! [[trial]]                  # and/or explicit trials (after the grid's and random ones)
//! lr = 1e-3
//! ```
//! Random search: `random_trials = N` draws N trials from a `[random]` table (per key a
//! list to choose from, or `{ min, max, scale = "linear" | "log" }`) with the sweep's
//! `seed`; a `[slurm]` table holds `cgan sweep --slurm`'s options ([`slurm::SlurmOptions`]).

pub mod launch;
pub mod random;
pub mod results;
pub mod slurm;

use crate::config::model::key_path;
use crate::config::{Config, ConfigError};
use serde::Deserialize;
use std::path::{Path, PathBuf};

/// A sweep file as written.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SweepFile {
    /// Suffix of the parent directory's default name.
    #[serde(default = "default_name")]
    pub name: String,
    /// Local trial processes at once.
    #[serde(default = "default_parallel")]
    pub parallel: usize,
    /// Config keys every trial shares.
    #[serde(default)]
    pub base: toml::Table,
    /// Keys with lists of values: every combination is a trial.
    #[serde(default)]
    pub grid: toml::Table,
    /// Explicit trials, each a table of config keys.
    #[serde(default)]
    pub trial: Vec<toml::Table>,
    /// Keys drawn at random: a list to choose from, or a range.
    #[serde(default)]
    pub random: toml::Table,
    /// How many trials to draw from `[random]`.
    #[serde(default)]
    pub random_trials: usize,
    /// The seed of the random draws (the same seed gives the same trials).
    #[serde(default)]
    pub seed: u64,
    /// Options of `cgan sweep --slurm`.
    #[serde(default)]
    pub slurm: slurm::SlurmOptions,
}

fn default_name() -> String {
    "sweep".into()
}

fn default_parallel() -> usize {
    1
}

/// Why a sweep cannot run. Messages name the file or key and the fix.
#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    /// The sweep file cannot be read.
    #[error("cannot read sweep file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The sweep file is not a valid sweep.
    #[error("invalid sweep file {path}: {why}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A trial's config is unusable.
    #[error("sweep trial {trial}: {source}")]
    Trial {
        /// The trial's name.
        trial: String,
        /// What the config check said.
        source: ConfigError,
    },
    /// Disk trouble in the sweep directory.
    #[error("sweep directory {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Slurm refused, or a cluster task could not run its trial.
    #[error("{0}")]
    Slurm(String),
    /// The judge could not be trained or loaded before the trials.
    #[error(transparent)]
    Judge(#[from] crate::judge::classifier::JudgeError),
}

/// One trial: its name, the keys it sets, and the config they resolve to.
#[derive(Clone, Debug)]
pub struct Trial {
    /// `NNN` then `key=value` of the swept keys, e.g. `001_lr=0.0001_seed=2`.
    pub name: String,
    /// The sweep's base keys and the trial's own.
    pub keys: toml::Table,
    /// The resolved config (preset, then the keys).
    pub config: Config,
}

/// A sweep expanded: its trials and the keys that vary between them.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Suffix of the parent directory's default name.
    pub name: String,
    /// Local processes at once.
    pub parallel: usize,
    /// The keys set by the grid or the trial list, in order.
    pub swept: Vec<String>,
    /// Every trial: grid, then random, then explicit ones.
    pub trials: Vec<Trial>,
    /// Options of `cgan sweep --slurm`.
    pub slurm: slurm::SlurmOptions,
}

/// The default parent directory: `runs/<YYYY-MM-DD_HH-MM-SS>_sweep_<name>`.
pub fn default_dir(name: &str) -> PathBuf {
    PathBuf::from("runs").join(format!(
        "{}_sweep_{name}",
        chrono::Local::now().format("%Y-%m-%d_%H-%M-%S")
    ))
}

/// Reads and expands a sweep file; every trial's config is resolved and validated.
pub fn load(path: &Path) -> Result<Plan, SweepError> {
    let text = std::fs::read_to_string(path).map_err(|source| SweepError::Read {
        path: path.into(),
        source,
    })?;
    let file: SweepFile = toml::from_str(&text).map_err(|e| SweepError::Invalid {
        path: path.into(),
        why: e.message().lines().next().unwrap_or("").to_string(),
    })?;
    expand(&file).map_err(|e| match e {
        SweepError::Invalid { why, .. } => SweepError::Invalid { path: path.into(), why },
        other => other,
    })
}

fn invalid(why: impl Into<String>) -> SweepError {
    SweepError::Invalid {
        path: PathBuf::new(),
        why: why.into(),
    }
}

/// `value` as it reads in a directory name (strings without quotes).
fn show(value: &toml::Value) -> String {
    match value {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Expands a sweep file into trials.
pub fn expand(file: &SweepFile) -> Result<Plan, SweepError> {
    if file.parallel == 0 || file.parallel > 64 {
        return Err(invalid(format!(
            "parallel must be between 1 and 64, got {}",
            file.parallel
        )));
    }
    if file.name.is_empty() || file.name.contains(['/', '\\']) {
        return Err(invalid(format!(
            "name must be a non-empty directory name, got {:?}",
            file.name
        )));
    }
    let mut combos: Vec<toml::Table> = vec![toml::Table::new()];
    for (key, values) in &file.grid {
        let values = match values {
            toml::Value::Array(a) if !a.is_empty() => a,
            _ => return Err(invalid(format!("grid.{key} must be a non-empty list of values"))),
        };
        combos = combos
            .iter()
            .flat_map(|c| {
                values.iter().map(move |v| {
                    let mut c = c.clone();
                    c.insert(key.clone(), v.clone());
                    c
                })
            })
            .collect();
    }
    if file.grid.is_empty() {
        combos.clear();
    }
    if file.random.is_empty() != (file.random_trials == 0) {
        return Err(invalid(
            "random search needs both a [random] table and random_trials = N (N >= 1)",
        ));
    }
    combos.extend(random::draw(&file.random, file.random_trials, file.seed).map_err(invalid)?);
    combos.extend(file.trial.iter().cloned());
    if combos.is_empty() {
        combos.push(toml::Table::new());
    }
    let mut swept: Vec<String> = file.grid.keys().chain(file.random.keys()).cloned().collect();
    for t in &file.trial {
        for k in t.keys() {
            if !swept.contains(k) {
                swept.push(k.clone());
            }
        }
    }
    // A trial's directory is named by the sweep; a per-trial `name` would be ignored.
    if swept.iter().any(|k| k == "name") || file.base.contains_key("name") {
        return Err(invalid(
            "name is the sweep's, not a trial's: set it at the top of the file",
        ));
    }
    let width = combos.len().saturating_sub(1).to_string().len().max(3);
    let trials = combos
        .into_iter()
        .enumerate()
        .map(|(i, own)| {
            let label: Vec<String> = swept
                .iter()
                .filter_map(|k| own.get(k).map(|v| format!("{k}={}", show(v))))
                .collect();
            let name = std::iter::once(format!("{i:0width$}"))
                .chain(label)
                .collect::<Vec<_>>()
                .join("_")
                .replace(['/', ' '], "-");
            let mut keys = file.base.clone();
            keys.extend(own);
            let config = Config::from_table(keys.clone(), &format!("sweep trial {name}"))
                .and_then(|c| c.validate().map(|_| c))
                .map_err(|source| SweepError::Trial {
                    trial: name.clone(),
                    source,
                })?;
            Ok(Trial { name, keys, config })
        })
        .collect::<Result<Vec<_>, SweepError>>()?;
    Ok(Plan {
        name: file.name.clone(),
        parallel: file.parallel,
        swept,
        trials,
        slurm: file.slurm.clone(),
    })
}

/// The config file of a trial in the sweep directory.
pub fn trial_config(dir: &Path, t: &Trial) -> PathBuf {
    dir.join("configs").join(format!("{}.toml", t.name))
}

/// The run directory of a trial.
pub fn trial_run(dir: &Path, t: &Trial) -> PathBuf {
    dir.join(&t.name)
}

/// Writes every trial's config file (its keys: the preset's values fill the rest).
pub fn write_configs(dir: &Path, plan: &Plan) -> Result<(), SweepError> {
    let configs = dir.join("configs");
    std::fs::create_dir_all(&configs).map_err(|source| SweepError::Io {
        path: configs.clone(),
        source,
    })?;
    for t in &plan.trials {
        let path = trial_config(dir, t);
        let text = format!(
            "# Trial {} of a cgan sweep: the keys it sets (its preset supplies the rest).\n{}",
            t.name,
            toml::to_string(&t.keys).unwrap_or_default()
        );
        std::fs::write(&path, text).map_err(|source| SweepError::Io { path, source })?;
    }
    Ok(())
}

/// The command line that runs one trial (`exe` is the cgan binary).
pub fn command(exe: &str, dir: &Path, t: &Trial) -> Vec<String> {
    vec![
        exe.to_string(),
        "train".into(),
        "--config".into(),
        trial_config(dir, t).display().to_string(),
        "--run-dir".into(),
        trial_run(dir, t).display().to_string(),
        "--no-progress-bar".into(),
    ]
}

/// A command as one shell line (arguments with shell-special characters quoted).
pub fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            if a.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@".contains(c)) {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Trains each judge the trials use once, before any trial starts (trials running at
/// once would otherwise each train it).
pub fn prepare_judges(plan: &Plan, log: &mut dyn FnMut(&str)) -> Result<(), SweepError> {
    let mut done: Vec<(PathBuf, PathBuf, crate::data::datasets::DatasetKind)> = Vec::new();
    for t in plan.trials.iter().filter(|t| t.config.eval_every > 0) {
        let key = (t.config.judge_dir.clone(), t.config.data_dir.clone(), t.config.dataset);
        if !done.contains(&key) {
            crate::judge::classifier::Judge::load_or_train(&key.0, &key.1, key.2, log)?;
            done.push(key);
        }
    }
    Ok(())
}

/// Creates the sweep directory (`out`, which may hold an earlier run of the same sweep,
/// or a new `default_dir`), writes the trial configs, a copy of the sweep file and the
/// HPARAMS experiment that lists the swept keys first.
pub fn prepare(sweep_file: &Path, plan: &Plan, out: Option<&Path>) -> Result<PathBuf, SweepError> {
    let dir = match out {
        Some(d) => d.to_owned(),
        None => default_dir(&plan.name),
    };
    std::fs::create_dir_all(&dir).map_err(|source| SweepError::Io {
        path: dir.clone(),
        source,
    })?;
    write_configs(&dir, plan)?;
    let copy = dir.join("sweep.toml");
    if sweep_file != copy {
        std::fs::copy(sweep_file, &copy).map_err(|source| SweepError::Io { path: copy, source })?;
    }
    let has_events = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .any(|e| e.file_name().to_string_lossy().starts_with("events.out.tfevents."));
    // Once per sweep directory: a rerun (or --print-commands first) keeps the first.
    if let Some(first) = plan.trials.first().filter(|_| !has_events) {
        let io = |source| SweepError::Io {
            path: dir.clone(),
            source,
        };
        let mut tb = crate::tensorboard::writer::Summaries::new(&dir).map_err(io)?;
        let cfg = &first.config;
        tb.hparams_experiment(
            &crate::run::dashboards::hparams(cfg, &plan.swept),
            &plan.swept.iter().map(|k| key_path(k)).collect::<Vec<_>>(),
            &crate::run::dashboards::metrics(cfg),
        );
        tb.flush().map_err(io)?;
    }
    Ok(dir)
}

/// What a sweep did.
#[derive(Clone, Debug)]
pub struct Report {
    /// The sweep directory.
    pub dir: PathBuf,
    /// Each trial's outcome.
    pub outcomes: Vec<launch::Outcome>,
    /// `results.csv`.
    pub results: PathBuf,
}

/// Runs a prepared sweep in `dir` with the cgan binary `exe`: judges first, then the
/// trials, then `results.csv`.
pub fn run(exe: &str, dir: &Path, plan: &Plan, log: &mut dyn FnMut(&str)) -> Result<Report, SweepError> {
    prepare_judges(plan, log)?;
    let outcomes = launch::run(exe, dir, plan, plan.parallel, log)?;
    let results = results::write(dir, plan, &outcomes)?;
    Ok(Report {
        dir: dir.to_owned(),
        outcomes,
        results,
    })
}
