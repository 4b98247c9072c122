//! The training loop around a model's step (GAN-CLS or LAPGAN, see [`Trainee`]): run
//! directory, resume, TensorBoard summaries, progress, checkpoints, and a stop on a
//! non-finite loss.

use crate::checkpoint::Manifest;
use crate::checkpoint::{self, CheckpointError};
use crate::config::{Config, ConfigError, ModelKind};
use crate::data::{DataError, Dataset};
use crate::device::{DeviceKind, ModelDevice};
use crate::eval::{self, Reference};
use crate::gan::lapgan::Lapgan;
use crate::gan::Gan;
use crate::grid::{tile, Grid};
use crate::history::{self, HistoryError, RunSummary, Status};
use crate::judge::Judge;
use crate::models::{sample_noise, NUM_CLASSES};
use crate::rng::{stream_rng, Stream};
use crate::sample::{draw, grid_inputs};
use crate::summary::{unix_seconds, Summaries};
use crate::trainee::{StepReport, Trainee};
use crate::{dashboards, interrupt, tags};
use dfdx::prelude::*;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Why training stopped early. Every message is one line naming the thing and the fix.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// Bad config.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Missing or corrupt MNIST.
    #[error(transparent)]
    Data(#[from] DataError),
    /// A checkpoint could not be written or read.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// A sample-grid regression failed.
    #[error(transparent)]
    Regress(#[from] crate::regress::RegressError),
    /// The judge could not be trained or loaded.
    #[error(transparent)]
    Judge(#[from] crate::judge::JudgeError),
    /// A sweep could not be planned or run.
    #[error(transparent)]
    Sweep(#[from] crate::sweep::SweepError),
    /// The run's history or summary could not be read or written.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Ctrl-C or SIGTERM: training stopped after a step and a checkpoint.
    #[error("interrupted at step {step}: checkpoint written; resume with `cgan train --resume {}`", run.display())]
    Interrupted {
        /// The step the checkpoint holds.
        step: u64,
        /// The run.
        run: PathBuf,
    },
    /// `cgan generate --arithmetic` cannot be served.
    #[error(transparent)]
    Arithmetic(#[from] crate::arithmetic::ArithmeticError),
    /// The device cannot be used (no CUDA in this build, no GPU).
    #[error("{0}")]
    Device(String),
    /// The run directory cannot be used.
    #[error("run directory {path}: {why}")]
    RunDir {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// A loss became NaN or infinite.
    #[error("{what} is {value} at step {step}: training stopped; {kept}")]
    NonFinite {
        /// Which loss (its tag).
        what: String,
        /// Its value.
        value: f32,
        /// The step (1-based) that produced it.
        step: u64,
        /// What is on disk to go back to.
        kept: String,
    },
}

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
    pub eval: Option<eval::Metrics>,
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

/// How progress is shown.
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, step: u64, total: u64, stats: &dyn StepReport);
    /// Called at every summary with the measured speed.
    fn summary(&mut self, step: u64, total: u64, stats: &dyn StepReport, steps_per_second: f64);
    /// Called once at the end.
    fn finish(&mut self) {}
}

/// A progress bar on a terminal.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar over `total` steps (a resumed run's bar jumps to its step at the first step).
    pub fn new(total: u64) -> Self {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self(bar)
    }
}

impl Progress for Bar {
    fn step(&mut self, step: u64, _: u64, stats: &dyn StepReport) {
        self.0.set_position(step);
        if step.is_multiple_of(10) {
            self.0.set_message(stats.line());
        }
    }
    fn summary(&mut self, _: u64, _: u64, _: &dyn StepReport, _: f64) {}
    fn finish(&mut self) {
        self.0.finish();
    }
}

/// Plain lines at every summary (for logs and CI).
pub struct Lines;

impl Progress for Lines {
    fn step(&mut self, _: u64, _: u64, _: &dyn StepReport) {}
    fn summary(&mut self, step: u64, total: u64, stats: &dyn StepReport, sps: f64) {
        let eta = total.saturating_sub(step) as f64 / sps.max(1e-9);
        eprintln!("step {step}/{total} {sps:.2} steps/s eta {eta:.0}s {}", stats.line());
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

/// The sample grids of one summary: G on the run's fixed noise for every digit.
pub struct Samples {
    /// `samples/all`: rows = fixed noise vectors, columns = digits 0-9.
    pub all: Grid,
    /// `samples/digit_d` for d = 0..9.
    pub digits: Vec<Grid>,
}

/// Draws G(z_fixed[r], d) for every row r and digit d.
pub fn samples<D: ModelDevice, M: Trainee<D>>(model: &mut M, fixed: &[f32]) -> Samples {
    let cfg = model.config().clone();
    let how = Manifest::of(&cfg).generator;
    let rows = fixed.len() / crate::models::NOISE_DIM;
    let (z, c) = grid_inputs(fixed);
    let images = draw(model.sampler(), &how, &z, &c);
    let range = cfg.output_activation.range();
    let px = crate::data::PIXELS;
    let digits = (0..NUM_CLASSES)
        .map(|d| {
            let own: Vec<f32> = (0..rows)
                .flat_map(|r| images[(r * NUM_CLASSES + d) * px..][..px].to_vec())
                .collect();
            tile(&own, (rows as f64).sqrt().ceil() as usize, range)
        })
        .collect();
    Samples {
        all: tile(&images, NUM_CLASSES, range),
        digits,
    }
}

/// The run's fixed noise: `rows` vectors, the same for every summary of the run.
pub fn fixed_noise(cfg: &Config) -> Vec<f32> {
    sample_noise(
        &Cpu::default(),
        cfg.sample_rows,
        cfg.noise,
        &mut stream_rng(cfg.seed, Stream::FixedNoise, 0),
    )
    .as_vec()
}

/// `best/best.toml`: which step the best checkpoint (lowest Frechet distance) is.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Best {
    /// Step of the checkpoint in `best/`.
    pub step: u64,
    /// Its Frechet distance.
    pub frechet_distance: f64,
}

/// Every evaluation during training, one JSON object per line (`step` and the metrics of
/// `cgan eval --json`): the run's record of its judge metrics, readable without TensorBoard.
pub const EVAL_HISTORY: &str = "eval.jsonl";

fn append_history(run: &Path, step: u64, m: &eval::Metrics) -> Result<(), TrainError> {
    use std::io::Write;
    let path = run.join(EVAL_HISTORY);
    let mut line = serde_json::to_value(m).unwrap_or_default();
    line["step"] = step.into();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| TrainError::RunDir {
            path,
            why: e.to_string(),
        })
}

/// Judge metrics during training: `eval/...` tags, the best checkpoint, the alarm.
struct Evaluator {
    judge: Judge,
    reference: Reference,
    best: Option<Best>,
    alarmed: bool,
}

impl Evaluator {
    /// Loads (or trains) the judge. A resumed run's `eval.jsonl` keeps only the
    /// evaluations up to `start`, like its TensorBoard scalars.
    fn new(cfg: &Config, run: &Path, start: u64) -> Result<Self, TrainError> {
        let history = run.join(EVAL_HISTORY);
        if let Ok(text) = std::fs::read_to_string(&history) {
            let kept: String = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s <= start)
                })
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&history, kept).map_err(|e| TrainError::RunDir {
                path: history.clone(),
                why: e.to_string(),
            })?;
        }
        let judge = Judge::load_or_train(&cfg.judge_dir, &cfg.data_dir, cfg.dataset, &mut |m| {
            eprintln!("cgan: {m}")
        })?;
        let mnist = crate::data::load(&cfg.data_dir, cfg.dataset, crate::judge::RANGE)?;
        let reference = Reference::new(&judge, &mnist, cfg.eval_samples, cfg.seed);
        let best = std::fs::read_to_string(run.join("best/best.toml"))
            .ok()
            .and_then(|t| toml::from_str(&t).ok());
        Ok(Self {
            judge,
            reference,
            best,
            alarmed: false,
        })
    }

    fn run<D: ModelDevice, M: Trainee<D>>(
        &mut self,
        gan: &mut M,
        tb: &mut Summaries,
        step: u64,
        run: &Path,
    ) -> Result<eval::Metrics, TrainError> {
        let cfg = gan.config().clone();
        let how = Manifest::of(&cfg).generator;
        let (images, labels) = eval::generated(gan.sampler(), &how, cfg.eval_samples, cfg.seed);
        let m = eval::score(&self.judge, &self.reference, &images, &labels);
        append_history(run, step, &m)?;
        for (tag, v) in tags::eval_scalars(&m) {
            tb.scalar(tag, v as f32, step);
        }
        for (d, v) in m.conditional_accuracy_per_digit.iter().enumerate() {
            tb.scalar(&tags::conditional_accuracy_class(cfg.dataset, d), *v as f32, step);
        }
        flush(tb)?;
        if m.collapse_alarm && !self.alarmed {
            self.alarmed = true;
            eprintln!(
                "cgan: mode-collapse alarm at step {step}: diversity ratio {:.3} < {} (samples of a digit look alike)",
                m.diversity_ratio,
                eval::COLLAPSE_THRESHOLD
            );
        }
        if self
            .best
            .as_ref()
            .is_none_or(|b| m.frechet_distance < b.frechet_distance)
        {
            let best = Best {
                step,
                frechet_distance: m.frechet_distance,
            };
            let dir = run.join("best");
            checkpoint::save_dir(&dir, gan, step)?;
            std::fs::write(dir.join("best.toml"), toml::to_string(&best).unwrap_or_default()).map_err(|e| {
                TrainError::RunDir {
                    path: dir,
                    why: e.to_string(),
                }
            })?;
            self.best = Some(best);
        }
        Ok(m)
    }
}

/// What one summary writes besides the networks' state.
struct Point<'a> {
    stats: &'a dyn StepReport,
    step: u64,
    steps_per_second: f64,
    histograms: bool,
}

fn summarise<D: ModelDevice, M: Trainee<D>>(
    tb: &mut Summaries,
    gan: &mut M,
    fixed: &[f32],
    at: Point,
    run: &Path,
) -> Result<(), TrainError> {
    let Point {
        stats,
        step,
        steps_per_second: sps,
        histograms,
    } = at;
    for (tag, v) in stats.scalars(gan.config()) {
        tb.scalar(&tag, v, step);
    }
    tb.scalar(tags::STEPS_PER_SECOND, sps as f32, step);
    let s = samples(gan, fixed);
    tb.image(tags::SAMPLES_ALL, &s.all, step);
    for (d, grid) in s.digits.iter().enumerate() {
        tb.image(&tags::samples_class(gan.config().dataset, d), grid, step);
    }
    for (tag, grid) in gan.extra_images(fixed) {
        tb.image(&tag, &grid, step);
    }
    let range = gan.config().output_activation.range();
    let real = gan
        .last_batch()
        .images
        .iter()
        .take(32 * crate::data::PIXELS)
        .copied()
        .collect::<Vec<f32>>();
    tb.image(tags::REAL_BATCH, &tile(&real, 8, range), step);
    if histograms {
        for (net, ps) in gan.weights() {
            for p in ps.iter().filter(|p| p.trainable) {
                tb.histogram(&tags::weights(net, &p.name), &p.values, step);
            }
        }
    }
    flush(tb)?;
    let dir = run.join("samples");
    std::fs::create_dir_all(&dir)
        .and_then(|_| {
            s.all
                .save_png(&dir.join(format!("all_{}.png", checkpoint::dir_name(step))))
        })
        .map_err(|e| TrainError::RunDir {
            path: dir,
            why: e.to_string(),
        })
}

/// Pushes the summaries to disk; a write error (a full disk) is one line naming the file.
fn flush(tb: &mut Summaries) -> Result<(), TrainError> {
    tb.flush().map_err(|e| TrainError::RunDir {
        path: tb.path().to_owned(),
        why: format!("cannot write TensorBoard events: {e}"),
    })
}

/// Trains `cfg` (the model it names) into `target` until `cfg.steps`, reporting progress
/// to `progress`.
///
/// A new run writes `config.toml` (never rewritten afterwards), the first segment of
/// `history.toml` and the HPARAMS and CUSTOM SCALARS records; a resumed run appends a
/// segment with the keys it changed. After Ctrl-C or SIGTERM (once [`interrupt::install`]
/// ran) the current step finishes, its summaries and a checkpoint are written, and
/// [`TrainError::Interrupted`] says how to resume. Every stop writes `summary.json`.
pub fn train(cfg: Config, target: Target, progress: &mut dyn Progress) -> Result<Report, TrainError> {
    cfg.validate()?;
    // The device opens first: one that cannot be used must not leave a run directory.
    match cfg.device {
        DeviceKind::Cpu => train_model(Cpu::default(), cfg, target, progress),
        #[cfg(feature = "cuda")]
        DeviceKind::Cuda => {
            let dev = crate::device::cuda::open(0).map_err(|e| TrainError::Device(e.0))?;
            train_model(dev, cfg, target, progress)
        }
        #[cfg(not(feature = "cuda"))]
        DeviceKind::Cuda => Err(TrainError::Device(crate::device::NO_CUDA.into())),
    }
}

/// [`train`] on the device `dev`: the model `cfg.model` names.
fn train_model<D: ModelDevice>(
    dev: D,
    cfg: Config,
    target: Target,
    progress: &mut dyn Progress,
) -> Result<Report, TrainError> {
    match cfg.model {
        ModelKind::GanCls => train_on::<D, Gan<D>>(dev, cfg, target, progress),
        ModelKind::Lapgan => train_on::<D, Lapgan<D>>(dev, cfg, target, progress),
    }
}

/// [`train`] of the model `M` on the device `dev`.
fn train_on<D: ModelDevice, M: Trainee<D>>(
    dev: D,
    cfg: Config,
    target: Target,
    progress: &mut dyn Progress,
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
        tb.custom_scalars(&dashboards::layout(&cfg));
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
    let mut last_eval: Option<(u64, eval::Metrics)> = None;
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
