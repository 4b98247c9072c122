//! The one error a `cgan` command ends with: each layer's own error, passed on unchanged
//! (their messages already name the thing and the fix), and the CLI's own.

use crate::judge::classifier::JudgeError;
use crate::run::train::TrainError;
use crate::tools::arithmetic::ArithmeticError;
use crate::tools::eval::EvalError;
use crate::tools::regress::RegressError;
use crate::tools::sweep::SweepError;
use std::path::PathBuf;

/// Why a command failed; printed as one line after `cgan: error: `.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Training, or reading a run.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// `cgan eval` could not score.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The judge could not be trained or loaded.
    #[error(transparent)]
    Judge(#[from] JudgeError),
    /// A sample-grid regression failed.
    #[error(transparent)]
    Regress(#[from] RegressError),
    /// A sweep could not be planned or run.
    #[error(transparent)]
    Sweep(#[from] SweepError),
    /// `cgan generate --arithmetic` cannot be served.
    #[error(transparent)]
    Arithmetic(#[from] ArithmeticError),
    /// An output of the command (a PNG, a sweep directory) cannot be written or is
    /// incomplete.
    #[error("run directory {path}: {why}")]
    Output {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong, and what to do.
        why: String,
    },
}
