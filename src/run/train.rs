//! The training loop around a model's step (GAN-CLS or LAPGAN, see [`Trainee`]): run
//! directory, resume, TensorBoard summaries, progress, checkpoints, and a stop on a
//! non-finite loss.

use crate::config::{Config, ConfigError};
use crate::data::Dataset;
use crate::device::{DeviceKind, ModelDevice};
use crate::judge::metrics;
use crate::models::registry::{self, ModelTask};
use crate::models::trainee::{StepReport, Trainee};
use crate::run::checkpoint;
use crate::run::evaluator::Evaluator;
use crate::run::history::{self, RunSummary, Status};
use crate::run::lock::RunLock;
use crate::run::progress::Progress;
use crate::run::summaries::{fixed_noise, flush, summarise, Point};
use crate::run::{dashboards, interrupt};
use crate::tensorboard::tags;
use crate::tensorboard::writer::{unix_seconds, Summaries};
use dfdx::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub use crate::run::error::TrainError;

/// What a finished run measured.
#[derive(Clone, Debug)]
pub struct Report {
    /// Where everything went.
    pub run_dir: PathBuf,
    /// The step training started from (0, or the resumed checkpoint's).
    pub start_step: u64,
    /// Steps completed in total.
    pub steps: u64,
    /// The last step's losses and probabilities by tag (null where not finite), as
    /// `summary.json` records them.
    pub last: BTreeMap<String, Option<f32>>,
    /// The last step's progress line.
    pub last_line: String,
    /// Seconds spent in this process's loop.
    pub wall_seconds: f64,
    /// Of those, seconds spent in training steps; the rest went on summaries, sample
    /// grids, histograms, evaluations and checkpoints.
    pub step_seconds: f64,
    /// The judge's metrics at the end (none when evaluations are off).
    pub eval: Option<metrics::Metrics>,
}

impl Report {
    /// Share of the loop's wall time spent outside training steps.
    pub fn loop_overhead(&self) -> f64 {
        1.0 - self.step_seconds / self.wall_seconds.max(1e-9)
    }
}

/// Where a run writes, and whether it continues an earlier one.
#[derive(Clone, Debug)]
pub enum Target {
    /// A new run in this directory (created; must not hold a run already).
    New(PathBuf),
    /// A new run in this directory or, when it exists, in the first free `<dir>-2`,
    /// `<dir>-3`, ... (claimed atomically: two runs started in the same second never
    /// share one).
    Unique(PathBuf),
    /// Continue the run in this directory from its latest checkpoint.
    Resume(PathBuf),
}

/// The default run directory: `runs/<YYYY-MM-DD_HH-MM-SS>_<name>`.
pub fn default_run_dir(name: &str) -> PathBuf {
    PathBuf::from("runs").join(format!("{}_{name}", chrono::Local::now().format("%Y-%m-%d_%H-%M-%S")))
}

/// The config a run's latest segment trained with (`<run>/config.toml` and the
/// overrides in `history.toml`).
pub fn run_config(run: &Path) -> Result<Config, TrainError> {
    if !run.join(history::CONFIG_FILE).is_file() {
        return Err(TrainError::RunDir {
            path: run.to_owned(),
            why: "no config.toml here: not a run directory written by `cgan train`".into(),
        });
    }
    Ok(history::current_config(run)?)
}

/// Creates `dir`, or the first free `dir-2`, `dir-3`, ... when it exists.
fn claim_unique(dir: &Path) -> Result<PathBuf, TrainError> {
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| TrainError::RunDir {
            path: parent.to_owned(),
            why: e.to_string(),
        })?;
    }
    let mut n = 1u32;
    loop {
        let candidate = match n {
            1 => dir.to_owned(),
            n => PathBuf::from(format!("{}-{n}", dir.display())),
        };
        match std::fs::create_dir(&candidate) {
            Ok(()) => return Ok(candidate),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && n < 10_000 => n += 1,
            Err(e) => {
                return Err(TrainError::RunDir {
                    path: candidate,
                    why: e.to_string(),
                })
            }
        }
    }
}

fn check_finite(stats: &dyn StepReport, step: u64, run: &Path, lr: f64) -> Result<(), TrainError> {
    for (what, value) in stats.losses() {
        if !value.is_finite() {
            // The command is printed whole so it can be pasted: a resume takes the config
            // of the run's latest segment, so the lower lr has to be given. A tenth of
            // this lr, or the lr the run started with when that is lower still (a resume
            // that raised it is the likely cause).
            let started = Config::load_run(&run.join(history::CONFIG_FILE)).map_or(lr, |c| c.lr);
            let again = format!(
                "`cgan train --resume {} --lr {}`",
                run.display(),
                (lr / 10.0).min(started)
            );
            let kept = match checkpoint::list(run).last() {
                Some((s, dir)) => format!(
                    "the last good checkpoint (step {s}) is kept in {}; resume from it with a lower lr: {again}",
                    dir.display(),
                ),
                None => format!("no checkpoint had been written yet; start again with a lower lr: {again}"),
            };
            return Err(TrainError::NonFinite {
                what,
                value,
                step,
                kept,
            });
        }
    }
    Ok(())
}

/// Trains `cfg` (the model it names) into `target` until `cfg.steps`, reporting progress
/// to `progress`.
///
/// A new run writes `config.toml` (never rewritten afterwards), the first segment of
/// `history.toml` and the HPARAMS and CUSTOM SCALARS records; a resumed run appends a
/// segment with the keys it changed. After Ctrl-C or SIGTERM (once [`interrupt::install`]
/// ran) the current step finishes, its summaries and a checkpoint are written, and
/// [`TrainError::Interrupted`] says how to resume. Every stop writes `summary.json`.
///
/// The run directory is locked while it trains ([`RunLock`]): a second process on the
/// same run is refused at once (see [`train_waiting`]).
pub fn train(cfg: Config, target: Target, progress: &mut dyn Progress) -> Result<Report, TrainError> {
    train_waiting(cfg, target, progress, Duration::ZERO)
}

/// [`train`], waiting up to `lock_wait` for another process to let go of the run
/// directory (a requeued cluster task whose previous process is still stopping).
pub fn train_waiting(
    cfg: Config,
    target: Target,
    progress: &mut dyn Progress,
    lock_wait: Duration,
) -> Result<Report, TrainError> {
    cfg.validate()?;
    // The device opens first: one that cannot be used must not leave a run directory.
    match cfg.device {
        DeviceKind::Cpu => train_model(Cpu::default(), cfg, target, progress, lock_wait),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            let dev = crate::device::cuda::open(0).map_err(|e| TrainError::Device(e.0))?;
            train_model(dev, cfg, target, progress, lock_wait)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(TrainError::Device(crate::device::NO_CUDA.into())),
    }
}

/// [`train`] on the device `dev`: the model `cfg.model` names (its `kind`), picked by the registry.
fn train_model<D: ModelDevice>(
    dev: D,
    cfg: Config,
    target: Target,
    progress: &mut dyn Progress,
    lock_wait: Duration,
) -> Result<Report, TrainError> {
    let kind = cfg.model.kind();
    registry::with_model(
        kind,
        Training {
            dev,
            cfg,
            target,
            progress,
            lock_wait,
        },
    )
}

/// Training, as the registry's task for whichever model it picks.
struct Training<'a, D> {
    dev: D,
    cfg: Config,
    target: Target,
    progress: &'a mut dyn Progress,
    lock_wait: Duration,
}

impl<D: ModelDevice> ModelTask<D> for Training<'_, D> {
    type Output = Result<Report, TrainError>;

    fn run<M: Trainee<D>>(self) -> Self::Output {
        train_on::<D, M>(self.dev, self.cfg, self.target, self.progress, self.lock_wait)
    }
}

/// [`train`] of the model `M` on the device `dev`.
fn train_on<D: ModelDevice, M: Trainee<D>>(
    dev: D,
    cfg: Config,
    target: Target,
    progress: &mut dyn Progress,
    lock_wait: Duration,
) -> Result<Report, TrainError> {
    if let Target::New(p) = &target {
        if p.join(history::CONFIG_FILE).exists() {
            return Err(TrainError::RunDir {
                path: p.clone(),
                why: "already holds a run; pass --resume to continue it or choose another --run-dir".into(),
            });
        }
    }
    // Data first: a missing file must not leave an empty run directory behind.
    let mut train_split = crate::data::load(&cfg.data_dir, cfg.dataset, cfg.output_activation.range())?.train;
    let run = match &target {
        Target::New(p) => {
            std::fs::create_dir_all(p).map_err(|e| TrainError::RunDir {
                path: p.clone(),
                why: e.to_string(),
            })?;
            p.clone()
        }
        Target::Unique(p) => claim_unique(p)?,
        Target::Resume(p) => p.clone(),
    };
    // Held until this function returns (or the process dies).
    let _lock = RunLock::acquire(&run, lock_wait)?;
    if cfg.train_images > 0 {
        train_split.truncate(cfg.train_images);
    }
    let mut data = Dataset::new(train_split, cfg.batch_size, cfg.seed)
        .map_err(|why| ConfigError::Value(format!("batch_size: {why}")))?;
    let mut gan = M::build(dev, &cfg);
    let resuming = matches!(target, Target::Resume(_));
    let start = if !resuming {
        0
    } else if checkpoint::list(&run).is_empty() {
        // A run killed before its first checkpoint starts again from step 0: the same seed
        // gives the same initial weights, so nothing is lost.
        eprintln!(
            "cgan: {} has no checkpoint yet; starting it again at step 0",
            run.display()
        );
        0
    } else {
        let state = checkpoint::load_latest(&run, &mut gan)?;
        if state.step >= cfg.steps {
            return Err(TrainError::RunDir {
                path: run.clone(),
                why: format!(
                    "is at step {} already, at or past steps = {}: pass a larger --steps to train it on",
                    state.step, cfg.steps
                ),
            });
        }
        eprintln!(
            "cgan: resuming {} at step {} (until step {})",
            run.display(),
            state.step,
            cfg.steps
        );
        state.step
    };
    let segment = if resuming {
        let before = run_config(&run)?;
        history::append(&run, start, history::overrides(&before, &cfg))?
    } else {
        history::write_config(&run, &cfg)?;
        history::append(&run, 0, toml::Table::new())?
    };
    let mut tb = Summaries::new(&run).map_err(|e| TrainError::RunDir {
        path: run.clone(),
        why: format!("cannot write TensorBoard events: {e}"),
    })?;
    if resuming {
        tb.session_start(start);
    }
    let header = if segment.index == 1 {
        "The config this run started with.".to_string()
    } else {
        format!(
            "Segment {} of this run: resumed at step {start} with {}. The config it trains with:",
            segment.index,
            history::describe(&segment.overrides)
        )
    };
    tb.text(
        tags::CONFIG_TEXT,
        &format!("{header}\n\n```toml\n{}```", cfg.to_toml()),
        start,
    );
    if start == 0 {
        // TensorBoard keeps the first of these records in a run: segments that resume
        // keep the values the run started with (history.toml has what they changed).
        // A restart from step 0 writes them again in case the first process died first.
        let hparams = dashboards::hparams(&cfg, &[]);
        tb.hparams_experiment(&hparams, &[], &dashboards::metrics(&cfg));
        tb.hparams_session_start(&hparams, unix_seconds());
        tb.custom_scalars(&dashboards::layout(&cfg, M::dashboard()));
    }
    flush(&mut tb)?;
    let fixed = fixed_noise(&cfg);
    let mut evaluator = if cfg.eval_every > 0 {
        Some(Evaluator::new(&cfg, &run, start)?)
    } else {
        None
    };

    let t0 = Instant::now();
    let mut step_seconds = 0.0;
    let mut last = M::Stats::default();
    let mut last_eval: Option<(u64, metrics::Metrics)> = None;
    let mut interrupted_at = None;
    let (mut mark_t, mut mark_step) = (Instant::now(), start);
    for step in start..cfg.steps {
        let t_step = Instant::now();
        last = gan.train_step(&mut data, step);
        step_seconds += t_step.elapsed().as_secs_f64();
        let done = step + 1;
        if let Err(e) = check_finite(&last, done, &run, cfg.lr) {
            let kept = checkpoint::list(&run).last().map_or(0, |(s, _)| *s);
            let summary = RunSummary {
                status: Status::NonFinite,
                final_step: kept,
                steps: cfg.steps,
                segment: segment.index,
                wall_seconds: t0.elapsed().as_secs_f64(),
                steps_per_second: (done - start) as f64 / t0.elapsed().as_secs_f64().max(1e-9),
                last: history::last_values(&last),
                eval: last_eval.as_ref().map(|(_, m)| m.clone()),
                eval_step: last_eval.as_ref().map(|(s, _)| *s),
            };
            history::write_summary(&run, &summary)?;
            return Err(e);
        }
        progress.step(done, cfg.steps, &last);
        let end = done == cfg.steps;
        let interrupted = !end && interrupt::requested();
        if done.is_multiple_of(cfg.summary_every) || end || interrupted {
            let sps = (done - mark_step) as f64 / mark_t.elapsed().as_secs_f64().max(1e-9);
            // Every `histogram_every`-th summary from the first, counted by step rather than in
            // this process: a resumed run logs what an uninterrupted one would.
            let index = (done / cfg.summary_every).max(1) - 1;
            let histograms = cfg.histogram_every > 0
                && done.is_multiple_of(cfg.summary_every)
                && index.is_multiple_of(cfg.histogram_every);
            let at = Point {
                stats: &last,
                step: done,
                steps_per_second: sps,
                histograms,
            };
            summarise(&mut tb, &mut gan, &fixed, at, &run)?;
            progress.summary(done, cfg.steps, &last, sps);
            (mark_t, mark_step) = (Instant::now(), done);
        }
        if let Some(ev) = evaluator
            .as_mut()
            .filter(|_| done.is_multiple_of(cfg.eval_every) || end)
        {
            last_eval = Some((done, ev.run(&mut gan, &mut tb, done, &run)?));
        }
        if done.is_multiple_of(cfg.checkpoint_every) || end || interrupted {
            checkpoint::save(&run, &gan, done, cfg.keep_checkpoints)?;
        }
        if interrupted {
            interrupted_at = Some(done);
            break;
        }
    }
    progress.finish();
    let wall_seconds = t0.elapsed().as_secs_f64();
    let trained = start < cfg.steps;
    let final_step = interrupted_at.unwrap_or(cfg.steps.max(start));
    if trained && interrupted_at.is_none() {
        tb.hparams_session_end(true, unix_seconds());
    }
    flush(&mut tb)?;
    if trained {
        history::write_summary(
            &run,
            &RunSummary {
                status: if interrupted_at.is_some() {
                    Status::Interrupted
                } else {
                    Status::Finished
                },
                final_step,
                steps: cfg.steps,
                segment: segment.index,
                wall_seconds,
                steps_per_second: (final_step - start) as f64 / wall_seconds.max(1e-9),
                last: history::last_values(&last),
                eval: last_eval.as_ref().map(|(_, m)| m.clone()),
                eval_step: last_eval.as_ref().map(|(s, _)| *s),
            },
        )?;
    }
    if let Some(step) = interrupted_at {
        return Err(TrainError::Interrupted { step, run });
    }
    Ok(Report {
        run_dir: run,
        start_step: start,
        steps: cfg.steps.max(start),
        last: history::last_values(&last),
        last_line: last.line(),
        wall_seconds,
        step_seconds,
        eval: last_eval.map(|(_, m)| m),
    })
}
