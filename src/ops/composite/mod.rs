//! The model's ops written only with dfdx's public tensor ops (gather, matmul, reshape,
//! permute, sums, broadcasts, elementwise), generic over any `D: Device<f32>`: autodiff
//! comes from dfdx, and they run on `Cuda` as on `Cpu`. The fast host kernels in
//! [`super`] are the CPU's; `tests/composite.rs` proves these against them, values and
//! every gradient.
//!
//! Convolutions gather with an index built once per layer shape (and cached); positions
//! that fall in the zero padding point at one extra zero row, the *zero slot*.

pub mod batch_norm;
pub mod conv;
pub mod regularisers;

use dfdx::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// A gather index as host values, built once per key and shared (the device copy is made
/// per call: dfdx tensors are tied to one device instance).
pub(crate) fn cached_index(key: IndexKey, build: impl FnOnce() -> Vec<usize>) -> Arc<Vec<usize>> {
    static CACHE: Mutex<Option<HashMap<IndexKey, Arc<Vec<usize>>>>> = Mutex::new(None);
    let mut cache = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    cache
        .get_or_insert_with(HashMap::new)
        .entry(key)
        .or_insert_with(|| Arc::new(build()))
        .clone()
}

/// What a gather index depends on: the op and its geometry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct IndexKey {
    /// Which op (each builds its own kind of index).
    pub op: &'static str,
    /// Channels, height, width, kernel, stride, pad, output padding.
    pub geometry: [usize; 7],
}

/// `x (rows, n)` with one zero row appended: row `rows` is the zero slot.
pub(crate) fn with_zero_row<D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<(usize, usize), f32, D, T>,
) -> Tensor<(usize, usize), f32, D, T> {
    let n = x.shape().1;
    let zero = x.device().zeros_like(&(1usize, n));
    (x, zero).concat_along(Axis::<0>)
}
