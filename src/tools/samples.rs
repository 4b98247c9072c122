//! Samples that something else generated, for `cgan eval --from DIR`: `DIR/images.npy`
//! and `DIR/labels.npy` in NumPy's `.npy` format (`numpy.save`, C order, little-endian).
//!
//! - `images.npy`: `float32` or `float64` in [-1, 1] (G's tanh range), or `uint8` in
//!   0-255 (as MNIST's files); shape `(n, 28, 28)`, `(n, 28, 28, 1)`, `(n, 1, 28, 28)` or
//!   `(n, 784)`.
//! - `labels.npy`: any integer type, shape `(n,)`: the class each image was asked to be,
//!   0-9, every class at least twice (diversity compares pairs within a class).
//!
//! At least [`MIN_SAMPLES`] images. Anything else is a one-line error naming the file,
//! what is wrong and how to fix it.

use crate::data::{IMAGE_SIDE, NUM_CLASSES, PIXELS};
use std::path::{Path, PathBuf};

/// The file of the images in a samples directory.
pub const IMAGES_FILE: &str = "images.npy";
/// The file of the labels in a samples directory.
pub const LABELS_FILE: &str = "labels.npy";
/// Fewest samples `--from` scores (as `cgan eval --samples`).
pub const MIN_SAMPLES: usize = 200;

/// Why a samples directory cannot be scored.
#[derive(Debug, thiserror::Error)]
#[error("samples {}: {why}", .path.display())]
pub struct SamplesError {
    /// The file (or directory).
    pub path: PathBuf,
    /// What is wrong, and the fix.
    pub why: String,
}

fn bad(path: &Path, why: impl Into<String>) -> SamplesError {
    SamplesError {
        path: path.to_owned(),
        why: why.into(),
    }
}

/// Images in the judge's range [-1, 1], and their labels.
#[derive(Clone, Debug)]
pub struct Samples {
    /// `n * 784` pixels, image after image.
    pub images: Vec<f32>,
    /// `n` labels.
    pub labels: Vec<u8>,
}

/// An `.npy` array: element type, shape and raw little-endian data.
struct Array {
    descr: String,
    shape: Vec<usize>,
    data: Vec<u8>,
}

/// The value of `key` in the header dict, up to the next `,` outside parentheses.
fn header_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let start = header.find(&format!("'{key}'"))? + key.len() + 2;
    let rest = header[start..].trim_start().strip_prefix(':')?.trim_start();
    let mut depth = 0;
    let end = rest
        .char_indices()
        .find(|&(_, c)| {
            match c {
                '(' => depth += 1,
                ')' => depth -= 1,
                _ => {}
            }
            depth == 0 && (c == ',' || c == '}')
        })
        .map_or(rest.len(), |(i, c)| if c == ')' { i + 1 } else { i });
    Some(rest[..end].trim())
}

fn read_npy(path: &Path) -> Result<Array, SamplesError> {
    let bytes = std::fs::read(path).map_err(|e| {
        bad(
            path,
            format!("{e}; write it with numpy.save (docs/judging.md has the format)"),
        )
    })?;
    let not_npy = || bad(path, "not a .npy file (no \\x93NUMPY header): write it with numpy.save");
    let magic = bytes.get(..8).ok_or_else(not_npy)?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err(not_npy());
    }
    let (len, at) = match magic[6] {
        1 => {
            let b = bytes.get(8..10).ok_or_else(not_npy)?;
            (u16::from_le_bytes([b[0], b[1]]) as usize, 10)
        }
        2 | 3 => {
            let b = bytes.get(8..12).ok_or_else(not_npy)?;
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize, 12)
        }
        v => return Err(bad(path, format!(".npy version {v} is not known (1, 2 or 3 are)"))),
    };
    let header = bytes
        .get(at..at + len)
        .and_then(|h| std::str::from_utf8(h).ok())
        .ok_or_else(|| bad(path, "truncated .npy header"))?;
    let descr = header_value(header, "descr")
        .map(|d| d.trim_matches(|c| c == '\'' || c == '"').to_string())
        .ok_or_else(|| bad(path, "the .npy header has no 'descr'"))?;
    if header_value(header, "fortran_order") != Some("False") {
        return Err(bad(
            path,
            "the array is in Fortran order: save numpy.ascontiguousarray(x) instead",
        ));
    }
    let shape = header_value(header, "shape")
        .and_then(|s| {
            s.trim_start_matches('(')
                .trim_end_matches(')')
                .split(',')
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(|d| d.parse().ok())
                .collect::<Option<Vec<usize>>>()
        })
        .ok_or_else(|| bad(path, "the .npy header's 'shape' is not a tuple of sizes"))?;
    let data = bytes[at + len..].to_vec();
    let expected = shape.iter().product::<usize>() * item_size(&descr).unwrap_or(1);
    if item_size(&descr).is_some() && data.len() != expected {
        return Err(bad(
            path,
            format!(
                "holds {} bytes of data where shape {shape:?} of {descr} needs {expected}: the file is truncated or corrupt",
                data.len()
            ),
        ));
    }
    Ok(Array { descr, shape, data })
}

/// Bytes per element of the little-endian types read here.
fn item_size(descr: &str) -> Option<usize> {
    let (order, kind) = descr.split_at(1);
    if !matches!(order, "<" | "|") {
        return None;
    }
    match kind {
        "u1" | "i1" | "b1" => Some(1),
        "u2" | "i2" => Some(2),
        "f4" | "u4" | "i4" => Some(4),
        "f8" | "u8" | "i8" => Some(8),
        _ => None,
    }
}

/// Every element as f64 (the types [`item_size`] knows).
fn values(a: &Array) -> Vec<f64> {
    let size = item_size(&a.descr).unwrap_or(1);
    a.data
        .chunks_exact(size)
        .map(|b| {
            let mut w = [0u8; 8];
            w[..size].copy_from_slice(b);
            let u = u64::from_le_bytes(w);
            let sign_extend = |bits: u32| ((u << (64 - bits)) as i64 >> (64 - bits)) as f64;
            match &a.descr[1..] {
                "f4" => f32::from_bits(u as u32) as f64,
                "f8" => f64::from_bits(u),
                "i1" => sign_extend(8),
                "i2" => sign_extend(16),
                "i4" => sign_extend(32),
                "i8" => u as i64 as f64,
                _ => u as f64,
            }
        })
        .collect()
}

fn images(path: &Path) -> Result<Vec<f32>, SamplesError> {
    let a = read_npy(path)?;
    let n = a.shape.first().copied().unwrap_or(0);
    let side = IMAGE_SIDE;
    let dims = a.shape.get(1..).unwrap_or(&[]);
    let ok_shape = matches!(dims, [p] if *p == PIXELS)
        || dims == [side, side]
        || dims == [side, side, 1]
        || dims == [1, side, side];
    if !ok_shape {
        return Err(bad(
            path,
            format!(
                "shape {:?} is not n images of 28 x 28: use (n, 28, 28), (n, 28, 28, 1), (n, 1, 28, 28) or (n, 784)",
                a.shape
            ),
        ));
    }
    let (low, high) = match a.descr.as_str() {
        "<f4" | "<f8" => (-1.0, 1.0),
        "|u1" | "<u1" => (0.0, 255.0),
        other => {
            return Err(bad(
                path,
                format!("element type {other} is not float32, float64 or uint8: convert with x.astype(numpy.float32)"),
            ))
        }
    };
    let v = values(&a);
    if let Some(i) = v.iter().position(|x| !x.is_finite()) {
        return Err(bad(
            path,
            format!(
                "value {} at index {i} is not finite: the generator's output is broken",
                v[i]
            ),
        ));
    }
    let (min, max) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| {
        (lo.min(*x), hi.max(*x))
    });
    let slack = 1e-3;
    if n > 0 && (min < low - slack || max > high + slack) {
        return Err(bad(
            path,
            format!("values run from {min} to {max}, outside [{low}, {high}]: scale float images to [-1, 1] (G's tanh range), or save uint8 0-255"),
        ));
    }
    if low < 0.0 && n > 0 && min >= 0.0 {
        return Err(bad(
            path,
            format!("no value is below 0 (they run from {min} to {max}): these look like [0, 1] images; save x * 2 - 1 (the range is [-1, 1])"),
        ));
    }
    Ok(v.iter()
        .map(|x| ((x - low) / (high - low) * 2.0 - 1.0) as f32)
        .collect())
}

fn labels(path: &Path) -> Result<Vec<u8>, SamplesError> {
    let a = read_npy(path)?;
    if a.shape.len() != 1 {
        return Err(bad(
            path,
            format!("shape {:?} is not (n,): save one label per image", a.shape),
        ));
    }
    if item_size(&a.descr).is_none() || a.descr.ends_with("f4") || a.descr.ends_with("f8") {
        return Err(bad(
            path,
            format!(
                "element type {} is not an integer type: convert with y.astype(numpy.int64)",
                a.descr
            ),
        ));
    }
    values(&a)
        .iter()
        .enumerate()
        .map(|(i, &y)| {
            if (0.0..NUM_CLASSES as f64).contains(&y) {
                Ok(y as u8)
            } else {
                Err(bad(path, format!("label {y} at index {i} is outside 0-9")))
            }
        })
        .collect()
}

/// Reads the samples in `dir` (see the module's doc for the format).
pub fn read(dir: &Path) -> Result<Samples, SamplesError> {
    if !dir.is_dir() {
        return Err(bad(
            dir,
            format!("not a directory: --from takes a directory holding {IMAGES_FILE} and {LABELS_FILE}"),
        ));
    }
    let images = images(&dir.join(IMAGES_FILE))?;
    let labels = labels(&dir.join(LABELS_FILE))?;
    let n = images.len() / PIXELS;
    if n != labels.len() {
        return Err(bad(
            dir,
            format!(
                "{IMAGES_FILE} holds {n} images but {LABELS_FILE} {} labels: one label per image",
                labels.len()
            ),
        ));
    }
    if n < MIN_SAMPLES {
        return Err(bad(
            dir,
            format!("{n} samples are too few to score: save at least {MIN_SAMPLES} (2000 is the docs' figure)"),
        ));
    }
    for c in 0..NUM_CLASSES as u8 {
        let k = labels.iter().filter(|&&y| y == c).count();
        if k < 2 {
            return Err(bad(
                &dir.join(LABELS_FILE),
                format!("class {c} has {k} samples: every class needs at least 2 (diversity compares pairs)"),
            ));
        }
    }
    Ok(Samples { images, labels })
}
