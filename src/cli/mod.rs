//! Command-line interface (clap). Each subcommand is a thin call into the library;
//! errors print as one line and exit non-zero.

mod error;

pub use error::AppError;

use crate::config::{Activation, AdversarialLoss, Config, ConfigError, DLoss, DNorm, Preset};
use crate::data::datasets::DatasetKind;
use crate::device::{DeviceKind, Kernels};
use crate::judge::classifier::{self, Judge, JudgeInfo};
use crate::judge::metrics;

use crate::run::checkpoint;
use crate::run::progress::{Bar, Lines, Progress};
use crate::run::train::{self, Target, TrainError};
use crate::tools::arithmetic;
use crate::tools::eval;
use crate::tools::generate::{generate, Layout};
use crate::tools::sweep::{self, slurm};
use clap::{Args, Parser, Subcommand};
use std::io::IsTerminal;
use std::path::PathBuf;

/// cgan: train and inspect the article's matching-aware conditional GAN on MNIST.
#[derive(Debug, Parser)]
#[command(name = "cgan", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train the GAN on MNIST, writing TensorBoard events, samples and checkpoints.
    Train(TrainArgs),
    /// Train a judge of your own (a classifier that measures G; the pinned judges/<dataset> is the default) and save it.
    Judge(JudgeArgs),
    /// Judge metrics of a run's checkpoint (or of real MNIST with --real-data, or of samples made elsewhere with --from).
    Eval(EvalArgs),
    /// A PNG grid of generated digits from a run's checkpoint.
    Generate(GenerateArgs),
    /// Compare a run's latest samples/all grid with a golden PNG (exit 1 if they differ).
    Regress(RegressArgs),
    /// Train a grid or list of config overrides (presets x seeds x lr ...) as runs under
    /// one directory, a few at a time, and collect their metrics in results.csv.
    Sweep(SweepArgs),
}

/// `cgan sweep` flags.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("what").required(true).args(["config", "status", "collect", "task"])))]
pub struct SweepArgs {
    /// The sweep file: `name`, `parallel`, `[base]`, `[grid]`, `[random]`, `[[trial]]` and
    /// `[slurm]` tables.
    #[arg(long, value_name = "SWEEP.toml")]
    pub config: Option<PathBuf>,
    /// The sweep directory [default: runs/<YYYY-MM-DD_HH-MM-SS>_sweep_<name>]; pass an
    /// earlier sweep's directory to finish its unfinished trials.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Trials run at once [default: the file's `parallel`, else 1].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub parallel: Option<u16>,
    /// Write the trial configs and print one `cgan train ...` line per trial (for GNU
    /// parallel, a Slurm job array, a CI matrix) instead of running them.
    #[arg(long)]
    pub print_commands: bool,
    /// Submit the trials to Slurm as one job array (`sbatch`) instead of running them
    /// here; the flags below override the file's `[slurm]` table.
    #[arg(long, conflicts_with = "print_commands")]
    pub slurm: bool,
    /// Slurm partition.
    #[arg(long, requires = "slurm")]
    pub partition: Option<String>,
    /// Slurm time limit per trial, e.g. 2:00:00 (a trial that hits it checkpoints and
    /// requeues itself).
    #[arg(long, requires = "slurm")]
    pub time: Option<String>,
    /// CPUs per trial.
    #[arg(long, requires = "slurm", value_name = "N")]
    pub cpus_per_task: Option<u32>,
    /// Memory per trial, e.g. 8G.
    #[arg(long, requires = "slurm")]
    pub mem: Option<String>,
    /// Generic resources per trial, e.g. gpu:1 for `device = "cuda"`.
    #[arg(long, requires = "slurm")]
    pub gres: Option<String>,
    /// At most K trials running at once (`--array=...%K`).
    #[arg(long, requires = "slurm", value_name = "K")]
    pub max_running: Option<u32>,
    /// Requeues of a trial after a time limit or preemption before it counts as failed
    /// (default: the file's `max_requeues`, else 3).
    #[arg(long, requires = "slurm", value_name = "N")]
    pub max_requeues: Option<u32>,
    /// Each trial's state (pending, running, finished, failed, stopped) and step.
    #[arg(long, value_name = "DIR")]
    pub status: Option<PathBuf>,
    /// Write DIR/results.csv from the trials on disk (run by Slurm, by hand from
    /// --print-commands, or by another scheduler).
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
    /// Run this Slurm array task's trial (what the job array's script calls).
    #[arg(long, value_name = "DIR", hide = true)]
    pub task: Option<PathBuf>,
}

/// `cgan regress` flags.
#[derive(Debug, Args)]
pub struct RegressArgs {
    /// The run directory.
    #[arg(long, value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// The golden PNG.
    #[arg(long, value_name = "FILE.png")]
    pub golden: PathBuf,
    /// Allowed mean absolute difference in grey levels (0-255).
    #[arg(long, value_name = "T", default_value_t = crate::tools::regress::DEFAULT_TOLERANCE)]
    pub tolerance: f64,
}

/// `cgan judge` flags.
#[derive(Debug, Args)]
pub struct JudgeArgs {
    /// Where to save it [default: runs/judge for MNIST, runs/judge-fashion-mnist].
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Training epochs over the dataset's train split.
    #[arg(long, value_name = "N", default_value_t = classifier::DEFAULT_EPOCHS, value_parser = clap::value_parser!(u32).range(1..=50))]
    pub epochs: u32,
    /// Seed of its initialisation and data order.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// The dataset it learns to classify.
    #[arg(long, default_value = "mnist")]
    pub dataset: DatasetKind,
    /// Where the dataset is [default: data/<dataset>].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

/// `cgan eval` flags.
#[derive(Debug, Args)]
pub struct EvalArgs {
    /// The run directory to evaluate.
    #[arg(long, value_name = "RUN_DIR", required_unless_present_any = ["real_data", "from"])]
    pub run: Option<PathBuf>,
    /// Score samples generated elsewhere instead: a directory holding images.npy (float
    /// in [-1, 1] or uint8 0-255, n x 28 x 28) and labels.npy (integers 0-9, n); see
    /// docs/judging.md.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["run", "checkpoint", "samples", "real_data"])]
    pub from: Option<PathBuf>,
    /// Checkpoint step [default: the latest].
    #[arg(long, value_name = "N")]
    pub checkpoint: Option<u64>,
    /// Generated samples to score (digits in turn) [default: the run's eval_samples, so
    /// the figures match its eval/* points; 2000 with --real-data].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(200..=10_000))]
    pub samples: Option<u64>,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Score real MNIST test images in place of G's samples (the metrics' own check).
    #[arg(long, conflicts_with_all = ["run", "checkpoint"])]
    pub real_data: bool,
    /// The judge to use: a pinned one, or one of your own (trained there first if
    /// missing) [default: the run's judge_dir, else the pinned judges/<dataset>].
    #[arg(long, value_name = "DIR")]
    pub judge: Option<PathBuf>,
    /// Where the data is [default: the run's data_dir, else data/<dataset>].
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// The dataset [default: the run's, else mnist].
    #[arg(long)]
    pub dataset: Option<DatasetKind>,
    /// Seed of the generated samples [default: the run's seed; 0 with --real-data].
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
}

/// `cgan generate` flags.
#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// The run directory.
    #[arg(long, value_name = "RUN_DIR")]
    pub run: PathBuf,
    /// Checkpoint step [default: the latest].
    #[arg(long, value_name = "N")]
    pub checkpoint: Option<u64>,
    /// Only this digit (0-9; `--class` on other datasets), 10 per row.
    #[arg(long, visible_alias = "class", value_name = "D", value_parser = clap::value_parser!(u8).range(0..=9), conflicts_with = "all")]
    pub digit: Option<u8>,
    /// Every digit, one per column (the default).
    #[arg(long)]
    pub all: bool,
    /// Rows of the grid.
    #[arg(long, value_name = "R", default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub rows: u16,
    /// Seed of the noise.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Output PNG [default: RUN_DIR/generated/<what>_step-N.png].
    #[arg(long, value_name = "FILE.png")]
    pub out: Option<PathBuf>,
    /// Rows walk between two noise vectors (digit r mod 10 per row, or --digit).
    #[arg(long, conflicts_with_all = ["interpolate_digits", "style_grid", "all"])]
    pub interpolate_z: bool,
    /// Columns move the condition from digit A to digit B (GAN-INT style).
    #[arg(long, num_args = 2, value_names = ["A", "B"], value_parser = clap::value_parser!(u8).range(0..=9), conflicts_with_all = ["digit", "style_grid", "all"])]
    pub interpolate_digits: Option<Vec<u8>>,
    /// Rows = fixed z, columns = digits 0-9: the z "style" kept across classes.
    #[arg(long, conflicts_with_all = ["digit", "all"])]
    pub style_grid: bool,
    /// DCGAN's vector arithmetic on z: rows A, B, C and A - B + C, each the mean z of 3
    /// samples sharing a style (A thick and leaning right, B thin and leaning right, C thin
    /// and leaning left, measured on --candidates samples), columns digits 0-9.
    #[arg(long, conflicts_with_all = ["digit", "all", "style_grid", "interpolate_z", "interpolate_digits"])]
    pub arithmetic: bool,
    /// The sets of --arithmetic given as candidate numbers instead, e.g. 4,17,80 12,9,33 5,61,2.
    #[arg(long, num_args = 3, value_names = ["A", "B", "C"], requires = "arithmetic")]
    pub arithmetic_z: Option<Vec<String>>,
    /// Noise vectors --arithmetic draws and measures.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub candidates: usize,
}

/// `cgan train` flags; each overrides the config file's value.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// TOML config file (missing keys take the preset's values).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// The preset to start from [default: mode-seeking]; the config file's keys and the
    /// other flags override its values.
    #[arg(long, value_enum, conflicts_with = "resume")]
    pub preset: Option<Preset>,
    /// Total steps of the run (a resumed run continues until this step).
    #[arg(long, value_name = "N")]
    pub steps: Option<u64>,
    /// Real images per step.
    #[arg(long, value_name = "B")]
    pub batch_size: Option<usize>,
    /// Seed of every random draw.
    #[arg(long, value_name = "S")]
    pub seed: Option<u64>,
    /// Learning rate of both Adam optimisers.
    #[arg(long, value_name = "LR", allow_negative_numbers = true)]
    pub lr: Option<f64>,
    /// Run directory [default: runs/<YYYY-MM-DD_HH-MM-SS>_<name>].
    #[arg(long, value_name = "DIR", conflicts_with = "resume")]
    pub run_dir: Option<PathBuf>,
    /// Run name (suffix of the default run directory).
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Scalars and sample grids every N steps.
    #[arg(long, value_name = "N")]
    pub summary_every: Option<u64>,
    /// A checkpoint every N steps (and at the end).
    #[arg(long, value_name = "N")]
    pub checkpoint_every: Option<u64>,
    /// Continue the run in RUN_DIR from its latest checkpoint (its config.toml is the base).
    #[arg(long, value_name = "RUN_DIR")]
    pub resume: Option<PathBuf>,
    /// D's loss: sum (the article's code) or reed (the paper).
    #[arg(long, value_enum)]
    pub d_loss: Option<DLoss>,
    /// D steps per G step.
    #[arg(long, value_name = "K")]
    pub k_steps: Option<u32>,
    /// G runs once per step, its output shared by D's fake term and G's update.
    #[arg(long, value_name = "BOOL")]
    pub shared_fake: Option<bool>,
    /// Judge metrics (eval/...) every N steps (0: never).
    #[arg(long, value_name = "N")]
    pub eval_every: Option<u64>,
    /// GAN-INT: G also learns on interpolated conditions, with weight BETA (0: off).
    #[arg(long, value_name = "BETA", allow_negative_numbers = true)]
    pub gan_int: Option<f64>,
    /// Weight of the mode-seeking term in G's loss (0: off).
    #[arg(long, value_name = "W", allow_negative_numbers = true)]
    pub mode_seeking: Option<f64>,
    /// The mode-seeking term's cap on its ratio (inf: none).
    #[arg(long, value_name = "R")]
    pub mode_seeking_cap: Option<f64>,
    /// D's normalisation after its first two convs.
    #[arg(long, value_enum)]
    pub d_norm: Option<DNorm>,
    /// D's activation.
    #[arg(long, value_enum)]
    pub d_activation: Option<Activation>,
    /// A minibatch-standard-deviation map at D's 4x4 stage.
    #[arg(long, value_name = "BOOL")]
    pub minibatch_std: Option<bool>,
    /// Spectral normalisation of D's weights.
    #[arg(long, value_name = "BOOL")]
    pub spectral_norm: Option<bool>,
    /// Projection conditioning in D.
    #[arg(long, value_name = "BOOL")]
    pub projection: Option<bool>,
    /// The adversarial loss of D and G.
    #[arg(long, value_enum)]
    pub adversarial_loss: Option<AdversarialLoss>,
    /// Decay of the moving average of G's weights that samples (0: off).
    #[arg(long, value_name = "DECAY")]
    pub g_ema: Option<f64>,
    /// D's learning rate = lr x this (two time-scale update rule).
    #[arg(long, value_name = "X", allow_negative_numbers = true)]
    pub lr_d_scale: Option<f64>,
    /// The dataset (its data_dir and judge_dir follow unless set): mnist or fashion-mnist.
    #[arg(long)]
    pub dataset: Option<DatasetKind>,
    /// Where to train: cpu, or cuda (needs a build with --features cuda).
    #[arg(long)]
    pub device: Option<DeviceKind>,
    /// Which implementation of the ops: auto (the device's fastest), direct (the CPU's
    /// kernels with direct convolutions), fast (the CPU's kernels with im2col + gemm
    /// convolutions) or composite (what a GPU runs, also on the CPU).
    #[arg(long)]
    pub kernels: Option<Kernels>,
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub no_progress_bar: bool,
}

impl TrainArgs {
    /// The config this invocation trains with: defaults, then the run's or the given
    /// file, then the flags.
    pub fn resolve(&self) -> Result<(Config, Target), TrainError> {
        // A resumed run's own config is the base (reading it also checks the directory);
        // an explicit --config replaces it.
        let base = match &self.resume {
            Some(run) => train::run_config(run)?,
            None => self.preset.unwrap_or_default().config(),
        };
        let mut cfg = match &self.config {
            Some(path) => Config::load(path, self.preset)?,
            None => base,
        };
        if let Some(d) = self.dataset {
            cfg = cfg.with_dataset(d);
        }
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = self.$field.clone() { cfg.$field = v; })* };
        }
        set!(
            steps,
            batch_size,
            seed,
            lr,
            name,
            summary_every,
            checkpoint_every,
            d_loss,
            eval_every,
            mode_seeking,
            mode_seeking_cap,
            lr_d_scale,
            device,
            kernels
        );
        macro_rules! set_model {
            ($($field:ident),*) => { $(if let Some(v) = self.$field.clone() {
                let flag = concat!("--", stringify!($field)).replace('_', "-");
                cfg.model.gan_cls_mut(&flag).map_err(ConfigError::Value)?.$field = v;
            })* };
        }
        set_model!(
            k_steps,
            shared_fake,
            gan_int,
            d_norm,
            d_activation,
            minibatch_std,
            spectral_norm,
            projection,
            adversarial_loss,
            g_ema
        );
        cfg.validate()?;
        let target = match (&self.resume, &self.run_dir) {
            (Some(run), _) => Target::Resume(run.clone()),
            (None, Some(dir)) => Target::New(dir.clone()),
            (None, None) => Target::Unique(train::default_run_dir(&cfg.name)),
        };
        Ok((cfg, target))
    }
}

fn run_train(args: &TrainArgs) -> Result<(), AppError> {
    let (cfg, target) = args.resolve()?;
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() && !args.no_progress_bar {
        Box::new(Bar::new(cfg.steps))
    } else {
        Box::new(Lines)
    };
    crate::run::interrupt::install();
    let report = train::train(cfg, target, progress.as_mut())?;
    println!(
        "trained {} steps ({} in this process) in {:.1}s ({:.1}% outside the steps: summaries, evaluations, checkpoints) into {}\nfinal {}\nsee it: tensorboard --logdir {}",
        report.steps,
        report.steps - report.start_step,
        report.wall_seconds,
        100.0 * report.loop_overhead(),
        report.run_dir.display(),
        report.last_line,
        report.run_dir.parent().map(|p| p.display().to_string()).unwrap_or_else(|| "runs".into()),
    );
    Ok(())
}

fn run_judge(a: &JudgeArgs) -> Result<(), AppError> {
    let t = std::time::Instant::now();
    let data_dir = a.data_dir.clone().unwrap_or_else(|| a.dataset.default_data_dir());
    let dir = a.dir.clone().unwrap_or_else(|| a.dataset.trained_judge_dir());
    let j = Judge::train(&data_dir, a.dataset, a.epochs, a.seed, &mut |m| eprintln!("{m}"))?;
    j.save(
        &dir,
        &JudgeInfo {
            dataset: a.dataset,
            test_accuracy: j.test_accuracy,
            epochs: a.epochs,
            seed: a.seed,
        },
    )?;
    println!(
        "judge: test accuracy {:.4} after {} epochs in {:.0}s, saved in {}",
        j.test_accuracy,
        a.epochs,
        t.elapsed().as_secs_f64(),
        dir.display()
    );
    Ok(())
}

fn run_eval(a: &EvalArgs) -> Result<(), AppError> {
    let t = std::time::Instant::now();
    let scored = eval::evaluate(&eval::Request {
        run: a.run.clone().filter(|_| !a.real_data),
        from: a.from.clone(),
        checkpoint: a.checkpoint,
        samples: a.samples.map(|n| n as usize),
        seed: a.seed,
        judge_dir: a.judge.clone(),
        data_dir: a.data_dir.clone(),
        dataset: a.dataset,
    })?;
    let m = &scored.metrics;
    if a.json {
        println!("{}", serde_json::to_string(m).unwrap_or_default());
    } else {
        println!(
            "{}: {} samples, seed {}, {:.1}s",
            scored.what,
            m.samples,
            scored.seed,
            t.elapsed().as_secs_f64()
        );
        println!(
            "judge                 {}  (SHA-256 {})",
            scored.judge_dir.display(),
            m.judge_sha256
        );
        println!(
            "conditional_accuracy  {:.4}  (judge's own test accuracy {:.4})",
            m.conditional_accuracy, m.judge_test_accuracy
        );
        let per: Vec<String> = m
            .conditional_accuracy_per_digit
            .iter()
            .enumerate()
            .map(|(d, v)| format!("{d}:{v:.2}"))
            .collect();
        println!("  per {:<15} {}", scored.dataset.class_word(), per.join(" "));
        println!(
            "mnist_score           {:.3}  (10 = confident and balanced)",
            m.mnist_score
        );
        println!(
            "frechet_distance      {:.3}  ({} samples; real train vs test floor {:.3})",
            m.frechet_distance, m.samples, m.frechet_distance_real_floor
        );
        let per: Vec<String> = m
            .diversity_ratio_per_digit
            .iter()
            .enumerate()
            .map(|(d, v)| format!("{d}:{v:.2}"))
            .collect();
        println!(
            "diversity_ratio       {:.3}  (real ~1; alarm below {})",
            m.diversity_ratio,
            metrics::COLLAPSE_THRESHOLD
        );
        println!("  per {:<15} {}", scored.dataset.class_word(), per.join(" "));
        if m.collapse_alarm {
            println!("MODE-COLLAPSE ALARM: samples of a digit look alike");
        }
    }
    Ok(())
}

/// `--out`, or `RUN_DIR/generated/<name>`; its directory is created.
fn output(a: &GenerateArgs, name: &str) -> Result<PathBuf, AppError> {
    let out = a.out.clone().unwrap_or_else(|| a.run.join("generated").join(name));
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| AppError::Output {
            path: dir.into(),
            why: e.to_string(),
        })?;
    }
    Ok(out)
}

fn run_generate(a: &GenerateArgs) -> Result<(), AppError> {
    let (mut g, how, step) = eval::load_generator(&a.run, a.checkpoint)?;
    if a.arithmetic {
        let given = a.arithmetic_z.as_deref().map(arithmetic::parse_sets).transpose()?;
        let result = arithmetic::arithmetic(g.as_mut(), &how, a.seed, a.candidates, given)?;
        let out = output(a, &format!("arithmetic_{}.png", checkpoint::dir_name(step)))?;
        result.grid.save_png(&out).map_err(|e| AppError::Output {
            path: out.clone(),
            why: e.to_string(),
        })?;
        print!("{}", result.report());
        println!("{}", out.display());
        return Ok(());
    }
    let (layout, what) = match (&a.interpolate_digits, a.interpolate_z, a.style_grid, a.digit) {
        (Some(ab), _, _, _) => (
            Layout::InterpolateDigits(ab[0], ab[1]),
            format!("interpolate_{}_{}", ab[0], ab[1]),
        ),
        (None, true, _, d) => (Layout::InterpolateZ(d), "interpolate_z".to_string()),
        (None, false, true, _) => (Layout::StyleGrid, "style_grid".to_string()),
        (None, false, false, Some(d)) => (Layout::Digit(d), format!("digit_{d}")),
        (None, false, false, None) => (Layout::All, "all".to_string()),
    };
    let grid = generate(g.as_mut(), &how, layout, a.rows as usize, a.seed);
    let out = output(a, &format!("{what}_{}.png", checkpoint::dir_name(step)))?;
    grid.save_png(&out).map_err(|e| AppError::Output {
        path: out.clone(),
        why: e.to_string(),
    })?;
    println!("{}", out.display());
    Ok(())
}

fn run_sweep(a: &SweepArgs) -> Result<(), AppError> {
    if let Some(dir) = &a.status {
        return sweep_status(dir);
    }
    if let Some(dir) = &a.collect {
        println!("{}", sweep::results::collect(dir)?.display());
        return Ok(());
    }
    if let Some(dir) = &a.task {
        let env = slurm::TaskEnv::from_env()?;
        return match slurm::run_task(dir, &env, &mut |m| eprintln!("{m}"))? {
            slurm::TaskEnd::Failed(f) => Err(AppError::Output {
                path: dir.clone(),
                why: format!("trial failed ({})", f.error),
            }),
            _ => Ok(()),
        };
    }
    let Some(config) = &a.config else {
        unreachable!("clap requires --config, --status, --collect or --task")
    };
    let mut plan = sweep::load(config)?;
    if let Some(n) = a.parallel {
        plan.parallel = n as usize;
    }
    let dir = sweep::prepare(config, &plan, a.out.as_deref())?;
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "cgan".into());
    if a.print_commands {
        for t in &plan.trials {
            if let Some(args) = sweep::launch::command_for(&exe, &dir, t) {
                println!("{}", sweep::shell_line(&args));
            }
        }
        return Ok(());
    }
    if a.slurm {
        let mut opts = plan.slurm.clone();
        macro_rules! set {
            ($($field:ident),*) => { $(if let Some(v) = a.$field.clone() { opts.$field = Some(v); })* };
        }
        set!(partition, time, cpus_per_task, mem, gres, max_running);
        if let Some(n) = a.max_requeues {
            opts.max_requeues = n;
        }
        let sub = slurm::submit(&exe, &dir, &plan, &opts, &mut |m| eprintln!("{m}"))?;
        println!(
            "sweep: submitted {} trials as Slurm job {} ({})
follow it: cgan sweep --status {}
logs: {}/logs/
results: {}/results.csv when the last trial ends (or cgan sweep --collect {})",
            plan.trials.len(),
            sub.job_id,
            sub.script.display(),
            dir.display(),
            dir.display(),
            dir.display(),
            dir.display()
        );
        return Ok(());
    }
    crate::run::interrupt::install();
    let report = sweep::run(&exe, &dir, &plan, &mut |m| eprintln!("{m}"))?;
    let ok = report.outcomes.iter().filter(|o| o.exit_code == Some(0)).count();
    println!(
        "sweep: {ok} of {} trials finished into {}\nresults: {}\nsee it: tensorboard --logdir {}",
        report.outcomes.len(),
        report.dir.display(),
        report.results.display(),
        report.dir.display()
    );
    if crate::run::interrupt::requested() {
        return Err(AppError::Output {
            path: report.dir,
            why: format!(
                "sweep interrupted; run `cgan sweep --config {} --out <this directory>` to finish it",
                config.display()
            ),
        });
    }
    if ok < report.outcomes.len() {
        return Err(AppError::Output {
            path: report.dir,
            why: "some trials failed: see results.csv and logs/".into(),
        });
    }
    Ok(())
}

/// `cgan sweep --status DIR`: one line per trial.
fn sweep_status(dir: &std::path::Path) -> Result<(), AppError> {
    let states = slurm::status(dir)?;
    let width = states.iter().map(|s| s.trial.len()).max().unwrap_or(5).max(5);
    println!("{:width$}  {:11}  {:>13}  log", "trial", "state", "step");
    for s in &states {
        println!(
            "{:width$}  {:11}  {:>13}  {}",
            s.trial,
            s.state,
            format!("{}/{}", s.step, s.steps),
            s.log.display()
        );
        if let Some(e) = &s.error {
            println!("{:width$}  error: {e}", "");
        }
    }
    let count = |w: &str| states.iter().filter(|s| s.state == w).count();
    println!(
        "{} trials: {} finished, {} running, {} pending, {} failed",
        states.len(),
        count("finished"),
        count("running"),
        count("pending"),
        count("failed")
    );
    Ok(())
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => run_train(args),
        Command::Judge(args) => run_judge(args),
        Command::Eval(args) => run_eval(args),
        Command::Generate(args) => run_generate(args),
        Command::Sweep(a) => run_sweep(a),
        Command::Regress(a) => crate::tools::regress::check(&a.run, &a.golden, a.tolerance)
            .map(|d| println!("regress: {} matches {} ({d})", a.run.display(), a.golden.display()))
            .map_err(Into::into),
    };
    match result {
        Ok(()) => 0,
        Err(e @ AppError::Train(TrainError::Interrupted { .. })) => {
            eprintln!("cgan: {e}");
            crate::run::interrupt::EXIT_CODE
        }
        Err(e) => {
            eprintln!("cgan: error: {e}");
            1
        }
    }
}
