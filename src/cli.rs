//! Command-line interface (clap). Each subcommand is a thin call into the library;
//! errors print as one line and exit non-zero.

use crate::config::{Config, DLoss};
use crate::train::{self, Bar, Lines, Progress, Target};
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
}

/// `cgan train` flags; each overrides the config file's value.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// TOML config file (missing keys take their defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Plain progress lines even on a terminal.
    #[arg(long)]
    pub no_progress_bar: bool,
}

impl TrainArgs {
    /// The config this invocation trains with: defaults, then the run's or the given
    /// file, then the flags.
    pub fn resolve(&self) -> Result<(Config, Target), train::TrainError> {
        let mut cfg = match (&self.resume, &self.config) {
            (Some(run), _) => train::run_config(run)?,
            (None, Some(path)) => Config::load(path)?,
            (None, None) => Config::default(),
        };
        if let (Some(_), Some(path)) = (&self.resume, &self.config) {
            cfg = Config::load(path)?;
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
            k_steps
        );
        cfg.validate()?;
        let target = match (&self.resume, &self.run_dir) {
            (Some(run), _) => Target::Resume(run.clone()),
            (None, Some(dir)) => Target::New(dir.clone()),
            (None, None) => Target::New(train::default_run_dir(&cfg.name)),
        };
        Ok((cfg, target))
    }
}

fn run_train(args: &TrainArgs) -> Result<(), train::TrainError> {
    let (cfg, target) = args.resolve()?;
    let start_hint = 0;
    let mut progress: Box<dyn Progress> = if std::io::stderr().is_terminal() && !args.no_progress_bar {
        Box::new(Bar::new(start_hint, cfg.steps))
    } else {
        Box::new(Lines)
    };
    let report = train::train(cfg, target, progress.as_mut())?;
    let s = report.last;
    println!(
        "trained {} steps ({} in this process) in {:.1}s into {}\nfinal p_real_right {:.3} p_real_wrong {:.3} p_fake {:.3} loss_g {:.3} loss_d {:.3}\nsee it: tensorboard --logdir {}",
        report.steps,
        report.steps - report.start_step,
        report.wall_seconds,
        report.run_dir.display(),
        s.p_real_right,
        s.p_real_wrong,
        s.p_fake,
        s.loss_g,
        s.loss_d,
        report.run_dir.parent().map(|p| p.display().to_string()).unwrap_or_else(|| "runs".into()),
    );
    Ok(())
}

/// Runs the CLI; returns the process exit code.
pub fn main() -> i32 {
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Train(args) => run_train(args),
    };
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("cgan: error: {e}");
            1
        }
    }
}
