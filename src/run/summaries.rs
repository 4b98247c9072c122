//! What a run writes to TensorBoard at each summary step: scalars, sample grids (G's and
//! the real batch), weight histograms, and the fixed noise the grids are drawn from.

use crate::config::Config;
use crate::data::grid::{tile, Grid};
use crate::data::NUM_CLASSES;
use crate::device::ModelDevice;
use crate::models::registry::Manifest;
use crate::models::sample::{draw, grid_inputs};
use crate::models::sample_noise;
use crate::models::trainee::{StepReport, Trainee};
use crate::run::checkpoint;
use crate::support::rng::{stream_rng, Stream};
use crate::tensorboard::tags;
use crate::tensorboard::writer::Summaries;
use dfdx::prelude::*;
use std::path::Path;

use crate::run::error::TrainError;

/// The sample grids of one summary: G on the run's fixed noise for every digit.
pub struct Samples {
    /// `samples/all`: rows = fixed noise vectors, columns = digits 0-9.
    pub all: Grid,
    /// `samples/digit_d` for d = 0..9.
    pub digits: Vec<Grid>,
}

/// Draws G(z_fixed[r], d) for every row r and digit d.
pub fn samples<D: ModelDevice, M: Trainee<D>>(model: &mut M, fixed: &[f32]) -> Samples {
    let cfg = model.config().clone();
    let how = Manifest::of(&cfg).generator;
    let rows = fixed.len() / crate::models::NOISE_DIM;
    let (z, c) = grid_inputs(fixed);
    let images = draw(model.sampler(), &how, &z, &c);
    let range = cfg.output_activation.range();
    let px = crate::data::PIXELS;
    let digits = (0..NUM_CLASSES)
        .map(|d| {
            let own: Vec<f32> = (0..rows)
                .flat_map(|r| images[(r * NUM_CLASSES + d) * px..][..px].to_vec())
                .collect();
            tile(&own, (rows as f64).sqrt().ceil() as usize, range)
        })
        .collect();
    Samples {
        all: tile(&images, NUM_CLASSES, range),
        digits,
    }
}

/// The run's fixed noise: `rows` vectors, the same for every summary of the run.
pub fn fixed_noise(cfg: &Config) -> Vec<f32> {
    sample_noise(
        &Cpu::default(),
        cfg.sample_rows,
        cfg.noise,
        &mut stream_rng(cfg.seed, Stream::FixedNoise, 0),
    )
    .as_vec()
}

/// What one summary writes besides the networks' state.
pub(crate) struct Point<'a> {
    pub(crate) stats: &'a dyn StepReport,
    pub(crate) step: u64,
    pub(crate) steps_per_second: f64,
    pub(crate) histograms: bool,
}

pub(crate) fn summarise<D: ModelDevice, M: Trainee<D>>(
    tb: &mut Summaries,
    gan: &mut M,
    fixed: &[f32],
    at: Point,
    run: &Path,
) -> Result<(), TrainError> {
    let Point {
        stats,
        step,
        steps_per_second: sps,
        histograms,
    } = at;
    for (tag, v) in stats.scalars(gan.config()) {
        tb.scalar(&tag, v, step);
    }
    tb.scalar(tags::STEPS_PER_SECOND, sps as f32, step);
    let s = samples(gan, fixed);
    tb.image(tags::SAMPLES_ALL, &s.all, step);
    for (d, grid) in s.digits.iter().enumerate() {
        tb.image(&tags::samples_class(gan.config().dataset, d), grid, step);
    }
    for (tag, grid) in gan.extra_images(fixed) {
        tb.image(&tag, &grid, step);
    }
    let range = gan.config().output_activation.range();
    let real = gan
        .last_batch()
        .images
        .iter()
        .take(32 * crate::data::PIXELS)
        .copied()
        .collect::<Vec<f32>>();
    tb.image(tags::REAL_BATCH, &tile(&real, 8, range), step);
    if histograms {
        for (net, ps) in gan.weights() {
            for p in ps.iter().filter(|p| p.trainable) {
                tb.histogram(&tags::weights(net, &p.name), &p.values, step);
            }
        }
    }
    flush(tb)?;
    let dir = run.join("samples");
    std::fs::create_dir_all(&dir)
        .and_then(|_| {
            s.all
                .save_png(&dir.join(format!("all_{}.png", checkpoint::dir_name(step))))
        })
        .map_err(|e| TrainError::RunDir {
            path: dir,
            why: e.to_string(),
        })
}

/// Pushes the summaries to disk; a write error (a full disk) is one line naming the file.
pub(crate) fn flush(tb: &mut Summaries) -> Result<(), TrainError> {
    tb.flush().map_err(|e| TrainError::RunDir {
        path: tb.path().to_owned(),
        why: format!("cannot write TensorBoard events: {e}"),
    })
}
