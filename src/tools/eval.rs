//! `cgan eval`: a run's checkpoint, samples something else generated (`--from`, see
//! [`super::samples`]), or real MNIST test images standing in for G, scored by the judge.
//! A run's checkpoint is scored, by default, on the sample count and seed of the run's
//! own evaluations, so `cgan eval` and the `eval/*` point TensorBoard shows for that step
//! give the same figures.

use crate::data::datasets::DatasetKind;
use crate::judge::classifier::{self, Judge};
use crate::judge::metrics::{self, Metrics, Reference};
use crate::models::checkpoint::GeneratorManifest;
use crate::models::registry;
use crate::run::checkpoint;
use crate::run::train::{self, TrainError};
use crate::tools::samples::{self, SamplesError};
use std::path::{Path, PathBuf};

/// Sample count and seed when nothing says otherwise (real-data mode, or a run that
/// does not name them).
pub const DEFAULT_SAMPLES: usize = 2000;

/// Why `cgan eval` could not score.
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The run, its checkpoint, the judge or the data.
    #[error(transparent)]
    Run(#[from] TrainError),
    /// The samples of `--from`.
    #[error(transparent)]
    Samples(#[from] SamplesError),
}

/// What to score and how; `None` takes the run's value.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The run; `None` scores `from`, else real MNIST test images instead of G.
    pub run: Option<PathBuf>,
    /// A directory of samples generated elsewhere ([`super::samples`]), scored in place
    /// of a run's (their count is the sample count; `seed` picks the real reference).
    pub from: Option<PathBuf>,
    /// Checkpoint step (the latest when `None`).
    pub checkpoint: Option<u64>,
    /// Generated samples (the run's `eval_samples`).
    pub samples: Option<usize>,
    /// Seed of the samples (the run's `seed`).
    pub seed: Option<u64>,
    /// The judge (the run's `judge_dir`).
    pub judge_dir: Option<PathBuf>,
    /// The data (the run's `data_dir`).
    pub data_dir: Option<PathBuf>,
    /// The dataset (the run's; MNIST without a run).
    pub dataset: Option<DatasetKind>,
}

/// What was scored, and the scores.
#[derive(Clone, Debug)]
pub struct Scored {
    /// "RUN at step N", or the real-data description.
    pub what: String,
    /// The checkpoint's step (none in real-data mode).
    pub step: Option<u64>,
    /// The seed the samples were drawn with.
    pub seed: u64,
    /// The dataset (which names the classes).
    pub dataset: DatasetKind,
    /// The judge's directory (its weights' SHA-256 is in the metrics).
    pub judge_dir: PathBuf,
    /// The judge's metrics (their `samples` field is the count scored).
    pub metrics: Metrics,
}

/// Scores what `r` asks for. Loads only G's weights and the manifest of a checkpoint.
pub fn evaluate(r: &Request) -> Result<Scored, EvalError> {
    // A run's config, if it has a readable one, supplies the defaults.
    let cfg = r.run.as_deref().map(train::run_config).transpose()?;
    let from = r.from.as_deref().map(samples::read).transpose()?;
    let samples = from
        .as_ref()
        .map(|s| s.labels.len())
        .or(r.samples)
        .or(cfg.as_ref().map(|c| c.eval_samples))
        .unwrap_or(DEFAULT_SAMPLES);
    let seed = r.seed.or(cfg.as_ref().map(|c| c.seed)).unwrap_or(0);
    let dataset = r.dataset.or(cfg.as_ref().map(|c| c.dataset)).unwrap_or_default();
    let data_dir = r
        .data_dir
        .clone()
        .or(cfg.as_ref().map(|c| c.data_dir.clone()))
        .unwrap_or_else(|| dataset.default_data_dir());
    let judge_dir = r
        .judge_dir
        .clone()
        .or(cfg.as_ref().map(|c| c.judge_dir.clone()))
        .unwrap_or_else(|| dataset.default_judge_dir());
    let generator = match &r.run {
        Some(run) => Some((load_generator(run, r.checkpoint)?, run)),
        None => None,
    };
    let judge = Judge::load_or_train(&judge_dir, &data_dir, dataset, &mut |m| eprintln!("cgan: {m}"))
        .map_err(TrainError::from)?;
    let mnist = crate::data::load(&data_dir, dataset, classifier::RANGE).map_err(TrainError::from)?;
    let reference = Reference::new(&judge, &mnist, samples, seed);
    let (images, labels, what, step) = match (generator, from, &r.from) {
        (Some(((mut g, how, step), run)), _, _) => {
            let (images, labels) = metrics::generated(g.as_mut(), &how, samples, seed);
            (images, labels, format!("{} at step {step}", run.display()), Some(step))
        }
        (None, Some(s), Some(dir)) => (s.images, s.labels, format!("samples in {}", dir.display()), None),
        _ => {
            let (images, labels) = metrics::real(&mnist, samples, seed);
            (
                images,
                labels,
                format!("real {} test images standing in for G", dataset.title()),
                None,
            )
        }
    };
    Ok(Scored {
        what,
        step,
        seed,
        dataset,
        judge_dir: crate::judge::pinned::locate(&judge_dir),
        metrics: metrics::score(&judge, &reference, &images, &labels),
    })
}

/// A run's G at a checkpoint (the latest, or `step`), with its manifest and step: only
/// G's weights and the manifest are read.
pub fn load_generator(
    run: &Path,
    step: Option<u64>,
) -> Result<(Box<dyn crate::models::sample::Sampler>, GeneratorManifest, u64), TrainError> {
    let dir = checkpoint::find(run, step)?;
    let (g, how) = registry::load_generator(&dir)?;
    Ok((g, how, checkpoint::step_of(&dir)?))
}
