//! A sweep on a Slurm cluster: one job array, one array task per trial.
//!
//! `submit` writes `slurm/array.sh` into the sweep directory and hands it to `sbatch`.
//! Each task runs `cgan sweep --task DIR`, which trains its trial in that process (a fresh
//! run, or a resume of its checkpoint after a requeue). Slurm signals the task before
//! its time limit (`--signal=B:TERM@S`), and preemption sends SIGTERM: the trial
//! checkpoints, and the task requeues itself (`scontrol requeue`) up to `max_requeues`
//! times, so a trial that can never finish does not loop forever. A failed trial leaves
//! `slurm/failed/<trial>.toml` (exit code, log, error); the last task to end writes
//! `results.csv`.

use super::{launch, results, trial_run, Plan, SweepError, Trial};
use crate::run::history::{self, Status};
use crate::run::train::{self, Target, TrainError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The `[slurm]` table of a sweep file (flags of `cgan sweep --slurm` override it).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time` (Slurm's formats, e.g. `2:00:00`).
    pub time: Option<String>,
    /// `--cpus-per-task`.
    pub cpus_per_task: Option<u32>,
    /// `--mem` (e.g. `8G`).
    pub mem: Option<String>,
    /// `--gres` (e.g. `gpu:1` for trials with `device = "cuda"`).
    pub gres: Option<String>,
    /// At most this many tasks at once (`--array=...%K`).
    pub max_running: Option<u32>,
    /// Requeues of one trial after a time limit or preemption before it counts as failed.
    pub max_requeues: u32,
    /// Seconds before the time limit at which Slurm sends SIGTERM (`--signal=B:TERM@S`).
    pub signal_seconds: u32,
    /// Seconds a requeued task waits for its trial's previous process to let go of the
    /// run directory.
    pub lock_wait_seconds: u64,
    /// Extra `#SBATCH` lines, e.g. `["--account=lab", "--qos=short"]`.
    pub sbatch: Vec<String>,
}

impl Default for SlurmOptions {
    fn default() -> Self {
        SlurmOptions {
            partition: None,
            time: None,
            cpus_per_task: None,
            mem: None,
            gres: None,
            max_running: None,
            max_requeues: 3,
            signal_seconds: 120,
            lock_wait_seconds: 300,
            sbatch: Vec::new(),
        }
    }
}

/// The Slurm files of a sweep directory.
fn slurm_dir(dir: &Path) -> PathBuf {
    dir.join("slurm")
}

/// The file holding the submitted job's id.
pub fn job_id_file(dir: &Path) -> PathBuf {
    slurm_dir(dir).join("job_id")
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SweepError + '_ {
    move |source| SweepError::Io {
        path: path.to_owned(),
        source,
    }
}

/// `s` quoted for bash.
fn quote(s: &str) -> String {
    super::shell_line(&[s.to_string()])
}

/// The job-array script for `plan` in `dir`, run by `exe`.
pub fn script(exe: &str, dir: &Path, plan: &Plan, opts: &SlurmOptions) -> String {
    let n = plan.trials.len();
    let mut s = String::from("#!/bin/bash\n");
    s += &format!(
        "# cgan sweep {}: one array task per trial (written by cgan sweep --slurm).\n",
        plan.name
    );
    s += &format!("#SBATCH --job-name=cgan-{}\n", plan.name);
    let throttle = opts.max_running.map(|k| format!("%{k}")).unwrap_or_default();
    s += &format!("#SBATCH --array=0-{}{throttle}\n", n.saturating_sub(1));
    s += &format!("#SBATCH --output={}/logs/slurm-%A_%a.log\n", dir.display());
    s += "#SBATCH --open-mode=append\n#SBATCH --requeue\n";
    s += &format!("#SBATCH --signal=B:TERM@{}\n", opts.signal_seconds);
    let mut line = |flag: &str, v: Option<String>| {
        if let Some(v) = v {
            s += &format!("#SBATCH --{flag}={v}\n");
        }
    };
    line("partition", opts.partition.clone());
    line("time", opts.time.clone());
    line("cpus-per-task", opts.cpus_per_task.map(|c| c.to_string()));
    line("mem", opts.mem.clone());
    line("gres", opts.gres.clone());
    for extra in &opts.sbatch {
        s += &format!("#SBATCH {extra}\n");
    }
    s += "names=(";
    s += &plan.trials.iter().map(|t| quote(&t.name)).collect::<Vec<_>>().join(" ");
    s += ")\n";
    // Without CPU binding a process sees every core of the node: use the task's share.
    s += "export RAYON_NUM_THREADS=\"${RAYON_NUM_THREADS:-${SLURM_CPUS_PER_TASK:-1}}\"\n";
    // The trial's own log, as a local sweep writes it; the task's process is cgan itself
    // (exec), so Slurm's signals reach the training loop.
    s += &format!(
        "exec >>{}/logs/\"${{names[$SLURM_ARRAY_TASK_ID]}}\".log 2>&1\n",
        quote(&dir.display().to_string())
    );
    s += &format!(
        "exec {} sweep --task {}\n",
        quote(exe),
        quote(&dir.display().to_string())
    );
    s
}

/// Looks `program` up on the PATH.
fn on_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

/// A submitted sweep.
#[derive(Clone, Debug)]
pub struct Submission {
    /// Slurm's job id of the array.
    pub job_id: String,
    /// The script handed to `sbatch`.
    pub script: PathBuf,
}

/// Submits the prepared sweep in `dir`: makes sure the judges exist (tasks only read
/// them), writes the array script and runs `sbatch`.
pub fn submit(
    exe: &str,
    dir: &Path,
    plan: &Plan,
    opts: &SlurmOptions,
    log: &mut dyn FnMut(&str),
) -> Result<Submission, SweepError> {
    if let Ok(id) = std::fs::read_to_string(job_id_file(dir)) {
        return Err(SweepError::Slurm(format!(
            "sweep directory {} was submitted already (job {}): follow it with `cgan sweep --status {}`; to submit it again, cancel that job and remove {}",
            dir.display(),
            id.trim(),
            dir.display(),
            slurm_dir(dir).display()
        )));
    }
    let sbatch = on_path("sbatch").ok_or_else(|| {
        SweepError::Slurm(
            "no sbatch on the PATH: run this on a Slurm login node, or use --print-commands (or a local sweep) without Slurm".into(),
        )
    })?;
    super::prepare_judges(plan, log)?;
    // Tasks start in the submitting directory on another node: give them absolute paths.
    let dir = &dir.canonicalize().map_err(io(dir))?;
    let sd = slurm_dir(dir);
    std::fs::create_dir_all(sd.join("failed")).map_err(io(&sd))?;
    std::fs::create_dir_all(dir.join("logs")).map_err(io(dir))?;
    let path = sd.join("array.sh");
    std::fs::write(&path, script(exe, dir, plan, opts)).map_err(io(&path))?;
    let opts_path = sd.join("options.toml");
    std::fs::write(&opts_path, toml::to_string(opts).unwrap_or_default()).map_err(io(&opts_path))?;
    let out = Command::new(&sbatch)
        .arg("--parsable")
        .arg(&path)
        .output()
        .map_err(io(&sbatch))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        return Err(SweepError::Slurm(format!(
            "sbatch rejected {}: {}",
            path.display(),
            why.trim().lines().last().unwrap_or("no message")
        )));
    }
    // `--parsable` prints `id` or `id;cluster`.
    let job_id = String::from_utf8_lossy(&out.stdout)
        .trim()
        .split(';')
        .next()
        .unwrap_or("")
        .to_string();
    let id_path = job_id_file(dir);
    std::fs::write(&id_path, format!("{job_id}\n")).map_err(io(&id_path))?;
    Ok(Submission { job_id, script: path })
}

/// The options a submitted sweep was submitted with.
fn submitted_options(dir: &Path) -> SlurmOptions {
    std::fs::read_to_string(slurm_dir(dir).join("options.toml"))
        .ok()
        .and_then(|t| toml::from_str(&t).ok())
        .unwrap_or_default()
}

/// The Slurm environment of an array task.
#[derive(Clone, Debug)]
pub struct TaskEnv {
    /// `SLURM_ARRAY_TASK_ID`: the trial's index.
    pub index: usize,
    /// `SLURM_ARRAY_JOB_ID`.
    pub job_id: String,
    /// `SLURM_RESTART_COUNT`: times this task was requeued.
    pub restarts: u32,
}

impl TaskEnv {
    /// Reads the task's variables; an error names the missing one.
    pub fn from_env() -> Result<TaskEnv, SweepError> {
        let var = |k: &str| {
            std::env::var(k).map_err(|_| {
                SweepError::Slurm(format!(
                    "{k} is not set: `cgan sweep --task` runs inside a Slurm array task (cgan sweep --slurm submits them)"
                ))
            })
        };
        let index = var("SLURM_ARRAY_TASK_ID")?
            .parse()
            .map_err(|_| SweepError::Slurm("SLURM_ARRAY_TASK_ID is not a number".into()))?;
        Ok(TaskEnv {
            index,
            job_id: var("SLURM_ARRAY_JOB_ID")?,
            restarts: std::env::var("SLURM_RESTART_COUNT")
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(0),
        })
    }
}

/// How an array task ended.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskEnd {
    /// The trial reached its steps (now or earlier).
    Finished,
    /// It was stopped, checkpointed and requeued; it resumes when it runs again.
    Requeued,
    /// It failed; the record is in `slurm/failed/`.
    Failed(results::Failure),
}

/// Runs array task `env.index` of the sweep in `dir` in this process.
pub fn run_task(dir: &Path, env: &TaskEnv, log: &mut dyn FnMut(&str)) -> Result<TaskEnd, SweepError> {
    let plan = super::load(&dir.join("sweep.toml"))?;
    let t = plan.trials.get(env.index).ok_or_else(|| {
        SweepError::Slurm(format!(
            "array task {} has no trial: {} holds {} trials",
            env.index,
            dir.display(),
            plan.trials.len()
        ))
    })?;
    let opts = submitted_options(dir);
    let run = trial_run(dir, t);
    log(&format!(
        "cgan sweep task {} (job {}, restart {}): trial {} in {}",
        env.index,
        env.job_id,
        env.restarts,
        t.name,
        run.display()
    ));
    let (cfg, target) = if run.join(history::CONFIG_FILE).exists() {
        match history::read_summary(&run) {
            Ok(s) if s.status == Status::Finished && s.final_step >= t.config.steps => {
                log(&format!("trial {} finished already", t.name));
                collect_if_done(dir, &plan)?;
                return Ok(TaskEnd::Finished);
            }
            _ => (
                train::run_config(&run).map_err(|e| task_error(&e))?,
                Target::Resume(run.clone()),
            ),
        }
    } else {
        (t.config.clone(), Target::New(run.clone()))
    };
    crate::run::interrupt::install();
    let result = train::train_waiting(
        cfg,
        target,
        &mut crate::run::progress::Lines,
        Duration::from_secs(opts.lock_wait_seconds),
    );
    let end = match result {
        Ok(_) => TaskEnd::Finished,
        Err(TrainError::Interrupted { step, .. }) if env.restarts < opts.max_requeues => {
            let task = format!("{}_{}", env.job_id, env.index);
            let requeue = Command::new("scontrol").args(["requeue", &task]).output();
            match requeue {
                Ok(o) if o.status.success() => {
                    log(&format!(
                        "trial {} stopped at step {step} (checkpoint written): requeued as task {task} ({} of at most {} requeues)",
                        t.name,
                        env.restarts + 1,
                        opts.max_requeues
                    ));
                    return Ok(TaskEnd::Requeued);
                }
                Ok(o) => fail(dir, t, 1, &format!(
                    "stopped at step {step}; scontrol requeue {task} failed: {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                ))?,
                Err(e) => fail(dir, t, 1, &format!("stopped at step {step}; cannot run scontrol: {e}"))?,
            }
        }
        Err(TrainError::Interrupted { step, .. }) => fail(
            dir,
            t,
            crate::run::interrupt::EXIT_CODE,
            &format!(
                "stopped at step {step} after {} requeues (max_requeues = {}): it does not finish within the time limit; raise --time or max_requeues and submit the sweep again",
                env.restarts, opts.max_requeues
            ),
        )?,
        Err(e) => fail(dir, t, 1, &task_error(&e).to_string())?,
    };
    if let TaskEnd::Failed(f) = &end {
        log(&format!("cgan: error: trial {} failed: {}", t.name, f.error));
    }
    collect_if_done(dir, &plan)?;
    Ok(end)
}

fn task_error(e: &TrainError) -> SweepError {
    SweepError::Slurm(e.to_string())
}

/// Records a failed trial.
fn fail(dir: &Path, t: &Trial, exit_code: i32, error: &str) -> Result<TaskEnd, SweepError> {
    let f = results::Failure {
        exit_code,
        log: launch::log_path(dir, t),
        error: error.to_string(),
    };
    let path = results::failed_file(dir, t);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io(parent))?;
    }
    std::fs::write(&path, toml::to_string(&f).unwrap_or_default()).map_err(io(&path))?;
    Ok(TaskEnd::Failed(f))
}

/// Whether a trial reached its steps.
fn finished(dir: &Path, t: &Trial) -> bool {
    history::read_summary(&trial_run(dir, t))
        .is_ok_and(|s| s.status == Status::Finished && s.final_step >= t.config.steps)
}

/// Writes `results.csv` once every trial has finished or failed.
fn collect_if_done(dir: &Path, plan: &Plan) -> Result<(), SweepError> {
    if plan
        .trials
        .iter()
        .all(|t| finished(dir, t) || results::failure(dir, t).is_some())
    {
        results::write(dir, plan, &results::outcomes(dir, plan))?;
    }
    Ok(())
}

/// One trial's state for `cgan sweep --status`.
#[derive(Clone, Debug, PartialEq)]
pub struct TrialState {
    /// The trial.
    pub trial: String,
    /// `pending`, `running`, `finished`, `failed`, `stopped` (checkpointed, not queued) or
    /// `not started`.
    pub state: String,
    /// The step its run stands at (its summary, else its latest checkpoint).
    pub step: u64,
    /// Its configured steps.
    pub steps: u64,
    /// Its log.
    pub log: PathBuf,
    /// Why it failed.
    pub error: Option<String>,
}

/// The scheduler's state of each array task of `job`, by index (empty without
/// `squeue` or once the job has left the queue).
fn queue_states(job: &str) -> Vec<(usize, String)> {
    let Ok(out) = Command::new("squeue")
        .args(["-h", "-r", "-j", job, "-o", "%i %T"])
        .output()
    else {
        return Vec::new();
    };
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            let (id, state) = l.trim().split_once(' ')?;
            let index = id.rsplit_once('_')?.1.parse().ok()?;
            Some((index, state.to_lowercase()))
        })
        .collect()
}

/// The state of every trial of the sweep in `dir`.
pub fn status(dir: &Path) -> Result<Vec<TrialState>, SweepError> {
    let plan = super::load(&dir.join("sweep.toml"))?;
    let queued = std::fs::read_to_string(job_id_file(dir))
        .map(|id| queue_states(id.trim()))
        .unwrap_or_default();
    Ok(plan
        .trials
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let run = trial_run(dir, t);
            let summary = history::read_summary(&run).ok();
            let checkpointed = crate::run::checkpoint::list(&run).last().map(|(s, _)| *s);
            let step = summary.as_ref().map(|s| s.final_step).or(checkpointed).unwrap_or(0);
            let failed = results::failure(dir, t);
            let in_queue = queued.iter().find(|(j, _)| *j == i).map(|(_, s)| s.clone());
            let state = match (&failed, in_queue.as_deref(), &summary) {
                (Some(_), _, _) => "failed".to_string(),
                (None, Some("running" | "completing"), _) => "running".into(),
                (None, Some("pending" | "requeued" | "requeue_hold" | "configuring"), _) => "pending".into(),
                (None, _, Some(s)) if s.status == Status::Finished && s.final_step >= t.config.steps => {
                    "finished".into()
                }
                (None, _, Some(s)) if s.status == Status::NonFinite => "failed".into(),
                (None, _, Some(_)) => "stopped".into(),
                (None, Some(other), None) => other.to_string(),
                (None, None, None) if run.exists() => "stopped".into(),
                (None, None, None) => "not started".into(),
            };
            TrialState {
                trial: t.name.clone(),
                state,
                step,
                steps: t.config.steps,
                log: launch::log_path(dir, t),
                error: failed.map(|f| f.error),
            }
        })
        .collect())
}
