//! The data layer: the two datasets (MNIST and Fashion-MNIST, ten classes of 28 x 28 grey
//! images each), their IDX files checked and loaded, GAN-CLS batches drawn from them, and
//! image grids written as PNG.

pub mod batches;
pub mod datasets;
pub mod grid;
pub mod idx;

pub use batches::{Batch, Dataset};
pub use datasets::{DatasetKind, IMAGE_SIDE, NUM_CLASSES, PIXELS};
pub use idx::{load, load_mnist, DataError, Mnist, Split};
