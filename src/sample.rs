//! The one way images are drawn from a trained G: G(z, c) with BatchNorm on running
//! statistics, in chunks. Summaries, evaluation and `cgan generate` all draw through it.

use crate::checkpoint::GeneratorManifest;
use crate::device::{Kernels, ModelDevice};
use crate::models::{Condition, Generator, Noise, NOISE_DIM, NUM_CLASSES};
use crate::ops::batch_norm::Mode;
use dfdx::prelude::*;

/// Images per forward pass: bounds memory for large draws.
const CHUNK: usize = 100;

/// G(z[i], c[i]) for every row i of `z` (100 per row) and `c` (10 per row, probability
/// vectors), as pixels in G's range (`how.output_activation`), row-major `(n, 28, 28)`,
/// on G's device with its fastest ops.
pub fn draw<D: ModelDevice>(g: &mut Generator<f32, D>, how: &GeneratorManifest, z: &[f32], c: &[f32]) -> Vec<f32> {
    let dev = g.fc.weight.device().clone();
    let n = z.len() / NOISE_DIM;
    let mut out = Vec::with_capacity(n * crate::data::PIXELS);
    for start in (0..n).step_by(CHUNK) {
        let m = CHUNK.min(n - start);
        let zc: Noise<D> = dev.tensor_from_vec(z[start * NOISE_DIM..][..m * NOISE_DIM].to_vec(), (m, Const));
        let cc: Condition<D> = dev.tensor_from_vec(c[start * NUM_CLASSES..][..m * NUM_CLASSES].to_vec(), (m, Const));
        out.extend(
            g.forward(zc, cc, Mode::Eval, how.output_activation, Kernels::Auto)
                .as_vec(),
        );
    }
    out
}
