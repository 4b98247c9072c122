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
use std::any::{Any, TypeId};
use std::cell::RefCell;
use std::collections::HashMap;

/// A gather index on device `D`, built and uploaded once per key (per thread) and then
/// shared: uploading it every call cost a host-to-device copy of up to 3 MB, which
/// stalled the GPU several times a step. The upload is waited for once, so any instance
/// of the device may read it.
pub(crate) fn cached_index<D: Device<f32> + Synchronize>(
    dev: &D,
    key: IndexKey,
    build: impl FnOnce() -> Vec<usize>,
) -> Tensor<(usize,), usize, D> {
    thread_local! {
        static CACHE: RefCell<HashMap<(TypeId, IndexKey), Box<dyn Any>>> = RefCell::new(HashMap::new());
    }
    CACHE.with(|cache| {
        let mut cache = cache.borrow_mut();
        let entry = cache.entry((TypeId::of::<D>(), key)).or_insert_with(|| {
            let idx = build();
            let len = idx.len();
            let t = dev.tensor_from_vec(idx, (len,));
            dev.synchronize();
            Box::new(t)
        });
        entry
            .downcast_ref::<Tensor<(usize,), usize, D>>()
            .expect("the cache is keyed by the device type")
            .clone()
    })
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
