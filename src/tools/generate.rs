//! `cgan generate`: PNG grids from a checkpoint, like the article's `generate.py`, plus
//! walks through z and through the condition (GAN-INT style) and the style grid.

use crate::data::grid::{tile, Grid};
use crate::data::NUM_CLASSES;
use crate::models::checkpoint::GeneratorManifest;
use crate::models::sample::{draw, Sampler};
use crate::models::{sample_noise, NOISE_DIM};
use crate::support::rng::{stream_rng, Stream};
use dfdx::prelude::*;

/// What to draw. Every grid has 10 columns and `rows` rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Column d shows digit d, every cell its own noise.
    All,
    /// Every cell digit `d`, its own noise.
    Digit(u8),
    /// Row r keeps one z across the ten digit columns: the z "style" kept across classes.
    StyleGrid,
    /// Row r is digit r mod 10 (or the given digit); columns walk linearly from one
    /// noise vector to another.
    InterpolateZ(Option<u8>),
    /// Row r keeps one z; columns move the condition from digit a to digit b.
    InterpolateDigits(u8, u8),
}

/// Noise `(n * 100)` and conditions `(n * 10)` of a `rows x 10` grid.
fn inputs(layout: Layout, rows: usize, noise: &[f32], extra: &[f32]) -> (Vec<f32>, Vec<f32>) {
    let cells = rows * NUM_CLASSES;
    let mut z = Vec::with_capacity(cells * NOISE_DIM);
    let mut c = vec![0.0f32; cells * NUM_CLASSES];
    for r in 0..rows {
        for col in 0..NUM_CLASSES {
            let cell = r * NUM_CLASSES + col;
            let t = col as f32 / (NUM_CLASSES - 1) as f32;
            let own = &noise[cell * NOISE_DIM..][..NOISE_DIM];
            let row_z = &noise[r * NOISE_DIM..][..NOISE_DIM];
            let cond = &mut c[cell * NUM_CLASSES..][..NUM_CLASSES];
            match layout {
                Layout::All => {
                    z.extend_from_slice(own);
                    cond[col] = 1.0;
                }
                Layout::Digit(d) => {
                    z.extend_from_slice(own);
                    cond[d as usize] = 1.0;
                }
                Layout::StyleGrid => {
                    z.extend_from_slice(row_z);
                    cond[col] = 1.0;
                }
                Layout::InterpolateZ(d) => {
                    let end = &extra[r * NOISE_DIM..][..NOISE_DIM];
                    z.extend(row_z.iter().zip(end).map(|(a, b)| (1.0 - t) * a + t * b));
                    cond[d.map_or(r % NUM_CLASSES, |d| d as usize)] = 1.0;
                }
                Layout::InterpolateDigits(a, b) => {
                    z.extend_from_slice(row_z);
                    cond[a as usize] += 1.0 - t;
                    cond[b as usize] += t;
                }
            }
        }
    }
    (z, c)
}

/// Draws the grid with G. The same seed gives the same bytes.
pub fn generate(g: &mut dyn Sampler, how: &GeneratorManifest, layout: Layout, rows: usize, seed: u64) -> Grid {
    let cells = rows * NUM_CLASSES;
    let dev = Cpu::default();
    let mut rng = stream_rng(seed, Stream::Tool, 3);
    let noise = sample_noise(&dev, cells, how.noise, &mut rng).as_vec();
    let extra = sample_noise(&dev, rows, how.noise, &mut rng).as_vec();
    let (z, c) = inputs(layout, rows, &noise, &extra);
    let images = draw(g, how, &z, &c);
    tile(&images, NUM_CLASSES, how.output_activation.range())
}
