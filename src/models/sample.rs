//! The one way images are drawn from a trained generator: G(z, c) in chunks, with
//! BatchNorm on running statistics. Summaries, evaluation and `cgan generate` all draw
//! through [`draw`]; each architecture ([`Sampler`]) says how it maps one chunk.

use crate::data::NUM_CLASSES;
use crate::models::checkpoint::GeneratorManifest;
use crate::models::NOISE_DIM;

/// Images per forward pass: bounds memory for large draws.
const CHUNK: usize = 100;

/// A trained generator: the article's G, or LAPGAN's pyramid of generators.
pub trait Sampler: std::fmt::Debug {
    /// G(z[i], c[i]) for the rows of one chunk (`z`: 100 per row, `c`: 10 per row), as
    /// row-major `(n, 28, 28)` pixels in G's range (`how.output_activation`).
    fn draw_chunk(&mut self, how: &GeneratorManifest, z: &[f32], c: &[f32]) -> Vec<f32>;
    /// Every tensor of the generator(s) by name.
    fn weights(&self) -> Vec<crate::nn::params::Param>;
}

/// The inputs of a sample grid: every row of `fixed` (100 values each) with every class
/// in turn, as (z, c) rows for [`draw`]: rows = noise vectors, columns = classes.
pub fn grid_inputs(fixed: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let rows = fixed.len() / NOISE_DIM;
    let mut z = Vec::with_capacity(rows * NUM_CLASSES * NOISE_DIM);
    let mut labels = Vec::with_capacity(rows * NUM_CLASSES);
    for r in 0..rows {
        for d in 0..NUM_CLASSES as u8 {
            z.extend_from_slice(&fixed[r * NOISE_DIM..][..NOISE_DIM]);
            labels.push(d);
        }
    }
    (z, crate::models::one_hot_rows(&labels))
}

/// G(z[i], c[i]) for every row i of `z` (100 per row) and `c` (10 per row, probability
/// vectors), as pixels in G's range (`how.output_activation`), row-major `(n, 28, 28)`,
/// on G's device with its fastest ops.
pub fn draw(g: &mut dyn Sampler, how: &GeneratorManifest, z: &[f32], c: &[f32]) -> Vec<f32> {
    let n = z.len() / NOISE_DIM;
    let mut out = Vec::with_capacity(n * crate::data::PIXELS);
    for start in (0..n).step_by(CHUNK) {
        let m = CHUNK.min(n - start);
        out.extend(g.draw_chunk(
            how,
            &z[start * NOISE_DIM..][..m * NOISE_DIM],
            &c[start * NUM_CLASSES..][..m * NUM_CLASSES],
        ));
    }
    out
}
