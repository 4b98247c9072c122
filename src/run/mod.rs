//! A training run: the loop that drives a model, its directory (config, history, summary,
//! checkpoints), its TensorBoard dashboards, evaluations during training, progress, and
//! stopping cleanly on Ctrl-C or SIGTERM.

pub mod checkpoint;
pub mod dashboards;
pub mod error;
pub mod evaluator;
pub mod history;
pub mod interrupt;
pub mod lock;
pub mod progress;
pub mod summaries;
pub mod train;
