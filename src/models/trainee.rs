//! What the training loop drives, behind one small trait: the article's conditional GAN
//! ([`crate::models::gan_cls::Gan`]) or LAPGAN's pyramid ([`crate::models::lapgan::step::Lapgan`]). The loop,
//! run directory, summaries, evaluations and checkpoints are the same for both.

use crate::config::Config;
use crate::data::grid::Grid;
use crate::data::{Batch, Dataset};
use crate::device::ModelDevice;
use crate::models::checkpoint::{CheckpointError, State};
use crate::models::sample::Sampler;
use crate::nn::params::Param;
use crate::tensorboard::writer::LayoutCategory;
use std::path::{Path, PathBuf};

/// What one training step measured.
pub trait StepReport {
    /// The scalars a summary logs, by tag (`cfg` says which regularisers are on).
    fn scalars(&self, cfg: &Config) -> Vec<(String, f32)>;
    /// The values `summary.json` records, by tag (every loss and probability).
    fn record(&self) -> Vec<(String, f32)>;
    /// The losses checked for NaN and infinity, by tag.
    fn losses(&self) -> Vec<(String, f32)>;
    /// One line for the progress display.
    fn line(&self) -> String;
}

/// A model the training loop can train, sample, summarise and checkpoint.
pub trait Trainee<D: ModelDevice>: Sized {
    /// What a step measures.
    type Stats: StepReport + Copy + Default;
    /// Fresh networks on `dev`, initialised from the config's seed (drawn on the CPU and
    /// copied, so every device starts from the same weights).
    fn build(dev: D, cfg: &Config) -> Self;
    /// The config it trains with.
    fn config(&self) -> &Config;
    /// Training step number `step` (0-based); every random draw is a function of
    /// (seed, step), so steps can be replayed.
    fn train_step(&mut self, data: &mut Dataset, step: u64) -> Self::Stats;
    /// The generator that samples (summaries, evaluations).
    fn sampler(&mut self) -> &mut dyn Sampler;
    /// The real batch the last step saw.
    fn last_batch(&self) -> &Batch;
    /// Trainable and other tensors of each network by name, for weight histograms.
    fn weights(&self) -> Vec<(&'static str, Vec<Param>)>;
    /// Image summaries only this model has (tag, grid) for the run's fixed noise.
    fn extra_images(&mut self, fixed: &[f32]) -> Vec<(String, Grid)>;
    /// Writes the networks and the optimisers' moments into the fresh directory `dir`;
    /// returns every file written (the caller fsyncs them).
    fn write_state(&self, dir: &Path) -> Result<Vec<PathBuf>, CheckpointError>;
    /// Reads what [`Trainee::write_state`] wrote into checkpoint `dir` at `state`; leaves
    /// the model as it was on any error.
    fn read_state(&mut self, dir: &Path, state: &State) -> Result<(), CheckpointError>;
    /// Updates done so far by (G's, D's) optimiser.
    fn adam_steps(&self) -> (u64, u64);
    /// The model's own CUSTOM SCALARS charts (the run adds the judge's).
    fn dashboard() -> Vec<LayoutCategory>;
}
