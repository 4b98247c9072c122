//! The networks: the article's generator G(z, c) and the matching-aware discriminator
//! D(x, c) in its variants, and LAPGAN's pyramid of them ([`lapgan`]). Shapes are the contract (see DESIGN.md): G -> `(n, 28, 28, 1)`,
//! D -> `(n, 1)` for every preset. The public API is NHWC like the article's TensorFlow
//! code, NCHW inside (identical memory for one channel, so the conversion is a free
//! reshape).

pub mod checkpoint;
pub mod gan_cls;
pub mod lapgan;
pub mod phases;
pub mod registry;
pub mod sample;
pub mod trainee;

use crate::config::NoiseKind;
use crate::data::NUM_CLASSES;
use dfdx::prelude::*;

/// Length of the noise vector z.
pub const NOISE_DIM: usize = 100;
/// A batch of noise vectors `(n, 100)`.
pub type Noise<D, T = NoneTape> = Tensor<(usize, Const<NOISE_DIM>), f32, D, T>;
/// A batch of conditions `(n, 10)`: probability vectors over the classes.
pub type Condition<D> = Tensor<(usize, Const<NUM_CLASSES>), f32, D>;
/// D's output `(n, 1)`: logits of "real and matching".
pub type Logits<D, T = NoneTape> = Tensor<(usize, Const<1>), f32, D, T>;

/// One-hot conditions for `labels` (each 0-9).
pub fn one_hot<D: Device<f32>>(dev: &D, labels: &[u8]) -> Condition<D> {
    dev.tensor_from_vec(one_hot_rows(labels), (labels.len(), Const))
}

/// One-hot rows (10 values each) for `labels` (each 0-9).
pub fn one_hot_rows(labels: &[u8]) -> Vec<f32> {
    let mut v = vec![0.0f32; labels.len() * NUM_CLASSES];
    for (row, &l) in v.chunks_exact_mut(NUM_CLASSES).zip(labels) {
        row[l as usize] = 1.0;
    }
    v
}

/// `n` noise vectors drawn from `kind` with `rng`.
pub fn sample_noise<D: Device<f32>>(dev: &D, n: usize, kind: NoiseKind, rng: &mut impl rand::Rng) -> Noise<D> {
    let v: Vec<f32> = match kind {
        NoiseKind::Uniform => (0..n * NOISE_DIM).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        NoiseKind::Normal => (0..n * NOISE_DIM)
            .map(|_| rng.sample(rand_distr::StandardNormal))
            .collect(),
    };
    dev.tensor_from_vec(v, (n, Const))
}
