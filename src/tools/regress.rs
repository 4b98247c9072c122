//! Sample-grid regression: a run's latest `samples/all` grid against a golden PNG.
//!
//! Why a tolerance and not equality: on one machine a seeded run is bit-identical, but
//! gemm picks its kernels by CPU (AVX2, AVX-512, ...), which changes the order of float
//! sums; over a few dozen GAN steps those last-bit differences grow into visibly
//! different pixels. The default tolerance (mean absolute difference of 2 grey levels
//! out of 255, see [`DEFAULT_TOLERANCE`]) accepts run-to-run drift on machines with the
//! same vector width and still fails on any real change (another seed, architecture, loss
//! or data order moves the mean by 20 levels or more). Between AVX2 and AVX-512 kernels
//! the chaotic `article` preset drifts further (37.5 levels measured), so goldens belong
//! to one kind of CPU (see docs/testing.md).

use crate::data::grid::Grid;
use std::path::{Path, PathBuf};

/// Default allowed mean absolute difference, in grey levels (0-255).
pub const DEFAULT_TOLERANCE: f64 = 2.0;

/// Why a comparison could not be made or failed.
#[derive(Debug, thiserror::Error)]
pub enum RegressError {
    /// A PNG cannot be read.
    #[error("cannot read PNG {path}: {why}")]
    Read {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// The run has no sample grid.
    #[error("no samples/all_step-*.png in {0}: is this a run directory written by `cgan train`?")]
    NoSamples(PathBuf),
    /// The grids differ beyond the tolerance.
    #[error(
        "{run} differs from golden {golden}: {diff}; diff image in {diff_png} (if the change is intended: make regress-update)"
    )]
    Differs {
        /// The run's grid.
        run: PathBuf,
        /// The golden grid.
        golden: PathBuf,
        /// The measured difference.
        diff: Diff,
        /// Where the diff image went.
        diff_png: PathBuf,
    },
}

/// How two grids differ.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Diff {
    /// Mean absolute difference over all pixels, grey levels.
    pub mean_abs: f64,
    /// Largest single-pixel difference.
    pub max_abs: u8,
    /// Pixels that differ at all.
    pub pixels_changed: usize,
    /// Whether the sizes differ (then nothing else is compared).
    pub size_mismatch: bool,
}

impl std::fmt::Display for Diff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.size_mismatch {
            return write!(f, "the grids have different sizes");
        }
        write!(
            f,
            "mean abs difference {:.2} grey levels (max {}, {} pixels changed)",
            self.mean_abs, self.max_abs, self.pixels_changed
        )
    }
}

/// Reads an 8-bit RGB or grey PNG.
pub fn read_png(path: &Path) -> Result<Grid, RegressError> {
    let err = |why: String| RegressError::Read {
        path: path.to_owned(),
        why,
    };
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let (info, mut reader) = png::Decoder::new(file).read_info().map_err(|e| err(e.to_string()))?;
    let mut buf = vec![0; info.buffer_size()];
    reader.next_frame(&mut buf).map_err(|e| err(e.to_string()))?;
    let (width, height) = (info.width as usize, info.height as usize);
    let rgb = match (info.color_type, info.bit_depth) {
        (png::ColorType::RGB, png::BitDepth::Eight) => buf,
        (png::ColorType::Grayscale, png::BitDepth::Eight) => buf.iter().flat_map(|v| [*v; 3]).collect(),
        (c, d) => {
            return Err(err(format!(
                "unsupported PNG format {c:?} {d:?}; expected 8-bit RGB or grey"
            )))
        }
    };
    Ok(Grid { width, height, rgb })
}

/// Compares two grids pixel by pixel.
pub fn compare(a: &Grid, b: &Grid) -> Diff {
    if (a.width, a.height) != (b.width, b.height) {
        return Diff {
            mean_abs: f64::INFINITY,
            max_abs: 255,
            pixels_changed: 0,
            size_mismatch: true,
        };
    }
    let d: Vec<u8> = a.rgb.iter().zip(&b.rgb).map(|(x, y)| x.abs_diff(*y)).collect();
    Diff {
        mean_abs: d.iter().map(|v| *v as f64).sum::<f64>() / d.len().max(1) as f64,
        max_abs: d.iter().copied().max().unwrap_or(0),
        pixels_changed: d.chunks_exact(3).filter(|p| p.iter().any(|v| *v > 0)).count(),
        size_mismatch: false,
    }
}

/// A picture of where two same-size grids differ: differences amplified 4x, in red.
pub fn diff_image(a: &Grid, b: &Grid) -> Grid {
    let mut rgb = vec![0u8; a.rgb.len()];
    for (i, px) in rgb.chunks_exact_mut(3).enumerate() {
        let d = (0..3)
            .map(|c| a.rgb[3 * i + c].abs_diff(b.rgb[3 * i + c]))
            .max()
            .unwrap_or(0);
        px[0] = d.saturating_mul(4);
        px[1] = a.rgb[3 * i] / 4;
        px[2] = a.rgb[3 * i] / 4;
    }
    Grid {
        width: a.width,
        height: a.height,
        rgb,
    }
}

/// The newest `samples/all_step-*.png` of a run.
pub fn latest_samples(run: &Path) -> Result<PathBuf, RegressError> {
    let dir = run.join("samples");
    let mut all: Vec<PathBuf> = std::fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default();
            name.starts_with("all_step-") && name.ends_with(".png")
        })
        .collect();
    all.sort();
    all.pop().ok_or_else(|| RegressError::NoSamples(run.to_owned()))
}

/// Compares the run's latest grid with `golden`; on failure writes
/// `samples/regress_diff.png` in the run and returns [`RegressError::Differs`].
pub fn check(run: &Path, golden: &Path, tolerance: f64) -> Result<Diff, RegressError> {
    let path = latest_samples(run)?;
    let (got, want) = (read_png(&path)?, read_png(golden)?);
    let diff = compare(&got, &want);
    if diff.size_mismatch || diff.mean_abs > tolerance {
        let diff_png = run.join("samples/regress_diff.png");
        if !diff.size_mismatch {
            diff_image(&got, &want)
                .save_png(&diff_png)
                .map_err(|e| RegressError::Read {
                    path: diff_png.clone(),
                    why: e.to_string(),
                })?;
        }
        return Err(RegressError::Differs {
            run: path,
            golden: golden.to_owned(),
            diff,
            diff_png,
        });
    }
    Ok(diff)
}
