//! DCGAN's vector arithmetic on z (Radford et al. 2016, as the article retells it): average
//! the noise vectors of a few samples that share a style, then draw from
//! `mean(A) - mean(B) + mean(C)`. In a conditional G, z carries the style and c the digit,
//! so every style is drawn as all ten digits.
//!
//! A style here is measured on the samples themselves: *ink* (mean brightness: stroke
//! thickness) and *slant* (how far the strokes lean right, from the image moments), each
//! averaged over the ten digits a z draws. The automatic sets are
//! A = thick and leaning right, B = thin and leaning right, C = thin and leaning left, so
//! A - B + C should come out thick and leaning left: the report says whether it did.

use crate::data::grid::{tile, Grid};
use crate::data::{IMAGE_SIDE, NUM_CLASSES, PIXELS};
use crate::models::checkpoint::GeneratorManifest;
use crate::models::sample::{draw, Sampler};
use crate::models::{one_hot_rows, sample_noise, NOISE_DIM};
use crate::support::rng::{stream_rng, Stream};
use dfdx::prelude::*;

/// Samples averaged per style (DCGAN used three).
pub const PER_STYLE: usize = 3;

/// How a set of samples looks.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Style {
    /// Mean brightness in [0, 1] (0 black): thicker strokes, more ink.
    pub ink: f64,
    /// Lean of the strokes: horizontal shift per row going up, in pixels per pixel
    /// (positive: leaning right, like italics).
    pub slant: f64,
}

/// The style of one image in G's `range`.
pub fn style_of(image: &[f32], (low, high): (f32, f32)) -> Style {
    let side = IMAGE_SIDE as f64;
    let w: Vec<f64> = image
        .iter()
        .map(|v| ((v - low) / (high - low)).clamp(0.0, 1.0) as f64)
        .collect();
    let mass: f64 = w.iter().sum();
    if mass <= 0.0 {
        return Style::default();
    }
    let (mut cx, mut cy) = (0.0, 0.0);
    for (i, m) in w.iter().enumerate() {
        cx += m * (i % IMAGE_SIDE) as f64;
        cy += m * (i / IMAGE_SIDE) as f64;
    }
    (cx, cy) = (cx / mass, cy / mass);
    let (mut xy, mut yy) = (0.0, 0.0);
    for (i, m) in w.iter().enumerate() {
        let (dx, dy) = ((i % IMAGE_SIDE) as f64 - cx, (i / IMAGE_SIDE) as f64 - cy);
        xy += m * dx * dy;
        yy += m * dy * dy;
    }
    Style {
        ink: mass / (side * side),
        // Rows count downwards: a right lean puts the top to the right, so x falls as y grows.
        slant: if yy > 0.0 { -xy / yy } else { 0.0 },
    }
}

/// The mean style of `images` (row-major, one image per 784 values).
fn mean_style(images: &[f32], range: (f32, f32)) -> Style {
    let styles: Vec<Style> = images.chunks_exact(PIXELS).map(|im| style_of(im, range)).collect();
    let n = styles.len().max(1) as f64;
    Style {
        ink: styles.iter().map(|s| s.ink).sum::<f64>() / n,
        slant: styles.iter().map(|s| s.slant).sum::<f64>() / n,
    }
}

/// One row of the arithmetic grid.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// `A`, `B`, `C` or `A - B + C`.
    pub name: &'static str,
    /// The candidates averaged (empty for the result).
    pub members: Vec<usize>,
    /// The row's style over its ten digits.
    pub style: Style,
}

/// The grid (rows A, B, C, A - B + C; columns digits 0-9) and what each row is.
#[derive(Clone, Debug)]
pub struct Arithmetic {
    /// 4 rows x 10 digits.
    pub grid: Grid,
    /// The rows, top to bottom.
    pub rows: Vec<Row>,
    /// Candidates measured.
    pub candidates: usize,
}

impl Arithmetic {
    /// One line per row: its name, members and style.
    pub fn report(&self) -> String {
        self.rows
            .iter()
            .map(|r| {
                let members = if r.members.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (candidates {})",
                        r.members.iter().map(usize::to_string).collect::<Vec<_>>().join(",")
                    )
                };
                format!(
                    "{:<9} ink {:.3} slant {:+.3}{members}\n",
                    r.name, r.style.ink, r.style.slant
                )
            })
            .collect()
    }
}

/// The three sets of `--arithmetic-z`, each comma-separated candidate numbers.
pub fn parse_sets(sets: &[String]) -> Result<[Vec<usize>; 3], ArithmeticError> {
    let parse = |s: &String| -> Result<Vec<usize>, ArithmeticError> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|p| {
                p.trim().parse().map_err(|_| {
                    ArithmeticError(format!(
                        "--arithmetic-z: {p:?} in {s:?} is not a candidate number (e.g. 4,17,80)"
                    ))
                })
            })
            .collect()
    };
    match sets {
        [a, b, c] => Ok([parse(a)?, parse(b)?, parse(c)?]),
        _ => Err(ArithmeticError("--arithmetic-z takes three sets: A B C".into())),
    }
}

/// An arithmetic request that cannot be served.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ArithmeticError(pub String);

/// G(z, d) for every digit d of one z each: `(n * 10)` images, z-major.
fn all_digits(g: &mut dyn Sampler, how: &GeneratorManifest, zs: &[f32]) -> Vec<f32> {
    let n = zs.len() / NOISE_DIM;
    let z: Vec<f32> = (0..n)
        .flat_map(|i| {
            std::iter::repeat_n(&zs[i * NOISE_DIM..][..NOISE_DIM], NUM_CLASSES)
                .flatten()
                .copied()
        })
        .collect();
    let labels: Vec<u8> = (0..n).flat_map(|_| 0..NUM_CLASSES as u8).collect();
    draw(g, how, &z, &one_hot_rows(&labels))
}

/// `mean(A) - mean(B) + mean(C)` over `candidates` noise vectors drawn with `seed`. The sets
/// are `given` (indices into the candidates) or chosen by style (see the module doc).
pub fn arithmetic(
    g: &mut dyn Sampler,
    how: &GeneratorManifest,
    seed: u64,
    candidates: usize,
    given: Option<[Vec<usize>; 3]>,
) -> Result<Arithmetic, ArithmeticError> {
    if candidates < 3 * PER_STYLE {
        return Err(ArithmeticError(format!(
            "--candidates must be at least {} (three sets of {PER_STYLE}), got {candidates}",
            3 * PER_STYLE
        )));
    }
    let range = how.output_activation.range();
    let mut rng = stream_rng(seed, Stream::Tool, 4);
    let zs = sample_noise(&Cpu::default(), candidates, how.noise, &mut rng).as_vec();
    let images = all_digits(g, how, &zs);
    let styles: Vec<Style> = images
        .chunks_exact(NUM_CLASSES * PIXELS)
        .map(|ims| mean_style(ims, range))
        .collect();
    let sets = match given {
        Some(sets) => {
            if let Some(bad) = sets.iter().flatten().find(|&&i| i >= candidates) {
                return Err(ArithmeticError(format!(
                    "--arithmetic-z: candidate {bad} does not exist (there are {candidates}: 0-{}); raise --candidates",
                    candidates - 1
                )));
            }
            if let Some(empty) = sets.iter().position(Vec::is_empty) {
                return Err(ArithmeticError(format!(
                    "--arithmetic-z: set {} is empty; give comma-separated candidate numbers",
                    ["A", "B", "C"][empty]
                )));
            }
            sets
        }
        None => by_style(&styles),
    };
    let mean_z = |set: &[usize]| -> Vec<f32> {
        (0..NOISE_DIM)
            .map(|k| set.iter().map(|&i| zs[i * NOISE_DIM + k]).sum::<f32>() / set.len() as f32)
            .collect()
    };
    let [a, b, c] = [mean_z(&sets[0]), mean_z(&sets[1]), mean_z(&sets[2])];
    let result: Vec<f32> = (0..NOISE_DIM).map(|k| a[k] - b[k] + c[k]).collect();
    let row_z: Vec<f32> = [a, b, c, result].concat();
    let drawn = all_digits(g, how, &row_z);
    let names = ["A", "B", "C", "A - B + C"];
    let rows = drawn
        .chunks_exact(NUM_CLASSES * PIXELS)
        .zip(names)
        .enumerate()
        .map(|(r, (ims, name))| Row {
            name,
            members: sets.get(r).cloned().unwrap_or_default(),
            style: mean_style(ims, range),
        })
        .collect();
    Ok(Arithmetic {
        grid: tile(&drawn, NUM_CLASSES, range),
        rows,
        candidates,
    })
}

/// The automatic sets: A thick and leaning right, B thin and leaning right, C thin and
/// leaning left, [`PER_STYLE`] candidates each, no candidate in two sets. Ink and slant are
/// standardised so each counts the same.
fn by_style(styles: &[Style]) -> [Vec<usize>; 3] {
    let standard = |f: &dyn Fn(&Style) -> f64| -> Vec<f64> {
        let v: Vec<f64> = styles.iter().map(f).collect();
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let sd = (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64)
            .sqrt()
            .max(1e-12);
        v.iter().map(|x| (x - mean) / sd).collect()
    };
    let (ink, slant) = (standard(&|s| s.ink), standard(&|s| s.slant));
    let mut used = vec![false; styles.len()];
    let mut pick = |score: &dyn Fn(usize) -> f64| -> Vec<usize> {
        let mut order: Vec<usize> = (0..styles.len()).filter(|&i| !used[i]).collect();
        order.sort_by(|&i, &j| score(j).total_cmp(&score(i)));
        order.truncate(PER_STYLE);
        for &i in &order {
            used[i] = true;
        }
        order
    };
    let a = pick(&|i| ink[i] + slant[i]);
    let b = pick(&|i| -ink[i] + slant[i]);
    let c = pick(&|i| -ink[i] - slant[i]);
    [a, b, c]
}
