//! Why a run could not start, go on or be read: the run layer's one error, gathering the
//! errors of the layers below it (config, data, checkpoints, judge, history).

use crate::config::ConfigError;
use crate::data::DataError;
use crate::models::checkpoint::CheckpointError;
use crate::run::history::HistoryError;
use std::path::PathBuf;

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
    /// The judge could not be trained or loaded.
    #[error(transparent)]
    Judge(#[from] crate::judge::classifier::JudgeError),
    /// The run's history or summary could not be read or written.
    #[error(transparent)]
    History(#[from] HistoryError),
    /// Another process trains the run.
    #[error(transparent)]
    Lock(#[from] crate::run::lock::LockError),
    /// Ctrl-C or SIGTERM: training stopped after a step and a checkpoint.
    #[error("interrupted at step {step}: checkpoint written; resume with `cgan train --resume {}`", run.display())]
    Interrupted {
        /// The step the checkpoint holds.
        step: u64,
        /// The run.
        run: PathBuf,
    },
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
