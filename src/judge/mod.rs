//! The judge: a small MNIST (or Fashion-MNIST) classifier trained once, and the metrics it
//! gives a generator's samples (conditional accuracy, MNIST score, Frechet distance,
//! diversity).

pub mod classifier;
pub mod metrics;
pub mod pinned;
