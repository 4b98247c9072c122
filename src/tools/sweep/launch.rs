//! Runs a sweep's trials as local `cgan train` processes, at most `parallel` at once.
//! Each trial runs in its own process group with its output in `logs/<trial>.log`; on
//! Ctrl-C or SIGTERM the sweep starts no more trials and passes one SIGTERM to each
//! running one, which checkpoints and stops (running the sweep again resumes them).

use super::{Plan, SweepError, Trial};
use crate::run::history::{self, Status};
use crate::run::interrupt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How one trial went.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The trial's name.
    pub trial: String,
    /// Its process's exit code (none if it was not started or was killed by a signal).
    pub exit_code: Option<i32>,
    /// Whether this sweep started it (finished trials of an earlier sweep are skipped).
    pub started: bool,
    /// Seconds its process ran.
    pub seconds: f64,
}

/// The command for a trial: a fresh run, or a resume when its directory holds one that
/// has not finished; `None` when it finished already.
pub fn command_for(exe: &str, dir: &Path, t: &Trial) -> Option<Vec<String>> {
    let run = super::trial_run(dir, t);
    if !run.join(history::CONFIG_FILE).exists() {
        return Some(super::command(exe, dir, t));
    }
    match history::read_summary(&run) {
        Ok(s) if s.status == Status::Finished && s.final_step >= t.config.steps => None,
        _ => Some(vec![
            exe.to_string(),
            "train".into(),
            "--resume".into(),
            run.display().to_string(),
            "--no-progress-bar".into(),
        ]),
    }
}

/// A trial's log: `logs/<trial>.log` in the sweep directory.
pub fn log_path(dir: &Path, t: &Trial) -> PathBuf {
    dir.join("logs").join(format!("{}.log", t.name))
}

fn spawn(args: &[String], log: &Path) -> Result<Child, SweepError> {
    let io = |source| SweepError::Io {
        path: log.to_owned(),
        source,
    };
    let out = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)
        .map_err(io)?;
    let err = out.try_clone().map_err(io)?;
    Command::new(&args[0])
        .args(&args[1..])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        // Its own process group: a terminal's Ctrl-C reaches only the sweep, which
        // passes on exactly one SIGTERM (a second would stop the trial at once).
        .process_group(0)
        .spawn()
        .map_err(|source| SweepError::Io {
            path: PathBuf::from(&args[0]),
            source,
        })
}

/// Runs every trial of `plan` in `dir` with `exe`, `parallel` at a time, reporting each
/// start and end to `log`.
pub fn run(
    exe: &str,
    dir: &Path,
    plan: &Plan,
    parallel: usize,
    log: &mut dyn FnMut(&str),
) -> Result<Vec<Outcome>, SweepError> {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| SweepError::Io { path: logs, source })?;
    let mut outcomes: Vec<Outcome> = plan
        .trials
        .iter()
        .map(|t| Outcome {
            trial: t.name.clone(),
            exit_code: None,
            started: false,
            seconds: 0.0,
        })
        .collect();
    let mut pending: std::collections::VecDeque<usize> = (0..plan.trials.len()).collect();
    let mut running: Vec<(usize, Child, Instant)> = Vec::new();
    let mut forwarded = false;
    while !pending.is_empty() || !running.is_empty() {
        while running.len() < parallel && !interrupt::requested() {
            let Some(i) = pending.pop_front() else { break };
            let t = &plan.trials[i];
            let Some(args) = command_for(exe, dir, t) else {
                log(&format!("sweep: {} finished already, skipped", t.name));
                outcomes[i].exit_code = Some(0);
                continue;
            };
            log(&format!("sweep: start {} ({} of {})", t.name, i + 1, plan.trials.len()));
            running.push((i, spawn(&args, &log_path(dir, t))?, Instant::now()));
            outcomes[i].started = true;
        }
        if interrupt::requested() && !forwarded {
            forwarded = true;
            pending.clear();
            for (_, child, _) in &running {
                // SAFETY: kill(2) on a child process this sweep started and has not reaped.
                unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGTERM) };
            }
        }
        let mut still = Vec::new();
        for (i, mut child, t0) in running {
            match child.try_wait() {
                Ok(Some(status)) => {
                    outcomes[i].exit_code = status.code();
                    outcomes[i].seconds = t0.elapsed().as_secs_f64();
                    log(&format!(
                        "sweep: {} {} after {:.0}s (log: {})",
                        plan.trials[i].name,
                        if status.success() {
                            "finished".to_string()
                        } else {
                            format!("failed ({status})")
                        },
                        outcomes[i].seconds,
                        log_path(dir, &plan.trials[i]).display()
                    ));
                }
                Ok(None) => still.push((i, child, t0)),
                Err(source) => {
                    return Err(SweepError::Io {
                        path: PathBuf::from(exe),
                        source,
                    })
                }
            }
        }
        running = still;
        if !running.is_empty() {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(outcomes)
}
