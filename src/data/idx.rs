//! MNIST (and Fashion-MNIST, the same format) in its original IDX form: each file's size
//! and header checked before it is read, its body read as bytes in one allocation, the
//! grey levels kept as bytes and scaled to the model's range as images are read.

use crate::data::datasets::{DatasetKind, PIXELS};
use std::path::{Path, PathBuf};

/// The four IDX files with their magic numbers and item counts.
const FILES: [(&str, u32, usize); 4] = [
    ("train-images-idx3-ubyte", IMAGES_MAGIC, 60_000),
    ("train-labels-idx1-ubyte", 0x0801, 60_000),
    ("t10k-images-idx3-ubyte", IMAGES_MAGIC, 10_000),
    ("t10k-labels-idx1-ubyte", 0x0801, 10_000),
];

/// Why a dataset could not be loaded. Every message names the dataset, the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// A file is absent.
    #[error("{} file {} is missing: run `{}` to fetch and verify it", .dataset.title(), .path.display(), .dataset.fetch_command())]
    Missing {
        /// The dataset.
        dataset: DatasetKind,
        /// The file.
        path: PathBuf,
    },
    /// A file cannot be read.
    #[error("cannot read {} file {}: {source}; check its permissions or run `{}`", .dataset.title(), .path.display(), .dataset.fetch_command())]
    Unreadable {
        /// The dataset.
        dataset: DatasetKind,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is the wrong size or has a wrong header.
    #[error("{} file {} is corrupt ({why}): delete it and run `{}`", .dataset.title(), .path.display(), .dataset.fetch_command())]
    Corrupt {
        /// The dataset.
        dataset: DatasetKind,
        /// The file.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

impl DataError {
    /// The same error, said of `kind`.
    fn of(self, kind: DatasetKind) -> Self {
        match self {
            DataError::Missing { path, .. } => DataError::Missing { dataset: kind, path },
            DataError::Unreadable { path, source, .. } => DataError::Unreadable {
                dataset: kind,
                path,
                source,
            },
            DataError::Corrupt { path, why, .. } => DataError::Corrupt {
                dataset: kind,
                path,
                why,
            },
        }
    }
}

fn corrupt(path: &Path, why: impl Into<String>) -> DataError {
    DataError::Corrupt {
        dataset: DatasetKind::default(),
        path: path.to_owned(),
        why: why.into(),
    }
}

/// Magic number of an IDX image file (the other kind holds labels).
const IMAGES_MAGIC: u32 = 0x0803;

/// Header length and bytes per item of an IDX file with `magic`.
fn idx_layout(magic: u32) -> (usize, usize) {
    if magic == IMAGES_MAGIC {
        (16, PIXELS)
    } else {
        (8, 1)
    }
}

/// Checks one IDX file's size and header without reading its body.
fn check_idx(path: &Path, magic: u32, count: usize) -> Result<(), DataError> {
    use std::io::Read;
    let mut f = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(DataError::Missing {
                dataset: DatasetKind::default(),
                path: path.to_owned(),
            })
        }
        Err(source) => {
            return Err(DataError::Unreadable {
                dataset: DatasetKind::default(),
                path: path.to_owned(),
                source,
            })
        }
    };
    let is_images = magic == IMAGES_MAGIC;
    let (header_len, item) = idx_layout(magic);
    let mut header = [0u8; 16];
    let header = &mut header[..header_len];
    f.read_exact(header)
        .map_err(|_| corrupt(path, format!("shorter than its {header_len}-byte header")))?;
    let word = |i: usize| u32::from_be_bytes([header[4 * i], header[4 * i + 1], header[4 * i + 2], header[4 * i + 3]]);
    if word(0) != magic {
        return Err(corrupt(
            path,
            format!("magic number {:#06x}, expected {magic:#06x}", word(0)),
        ));
    }
    if word(1) as usize != count {
        return Err(corrupt(path, format!("{} items, expected {count}", word(1))));
    }
    if is_images && (word(2), word(3)) != (28, 28) {
        return Err(corrupt(path, format!("{}x{} images, expected 28x28", word(2), word(3))));
    }
    let want = (header_len + count * item) as u64;
    let got = f
        .metadata()
        .map_err(|source| DataError::Unreadable {
            dataset: DatasetKind::default(),
            path: path.to_owned(),
            source,
        })?
        .len();
    if got != want {
        return Err(corrupt(
            path,
            format!("{got} bytes, expected {want} (truncated or padded)"),
        ));
    }
    Ok(())
}

/// The body of an IDX file (its bytes after the header), read in one allocation of the
/// file's size. Checked again here: the file may have changed since [`check_idx`].
fn read_body(path: &Path, magic: u32, count: usize) -> Result<Vec<u8>, DataError> {
    let (header_len, item) = idx_layout(magic);
    let mut bytes = std::fs::read(path).map_err(|source| DataError::Unreadable {
        dataset: DatasetKind::default(),
        path: path.to_owned(),
        source,
    })?;
    if bytes.len() != header_len + count * item {
        return Err(corrupt(
            path,
            format!("{} bytes, changed while it was read", bytes.len()),
        ));
    }
    bytes.drain(..header_len);
    Ok(bytes)
}

/// Images and labels of one split. Pixels stay grey levels (a byte each: the 60,000
/// training images take 47 MB, not the 188 MB of f32) and are scaled as they are read.
#[derive(Clone, Debug)]
pub struct Split {
    /// `len * 784` grey levels 0-255, row-major.
    pub pixels: Vec<u8>,
    /// Digits 0-9.
    pub labels: Vec<u8>,
    /// The model's range `(low, high)`: grey level 0 reads as `low`, 255 as `high`.
    pub range: (f32, f32),
}

impl Split {
    /// Number of examples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True when the split holds no example.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels of example `i`, scaled to the range.
    pub fn image(&self, i: usize) -> impl ExactSizeIterator<Item = f32> + '_ {
        let (low, high) = self.range;
        self.pixels[i * PIXELS..][..PIXELS]
            .iter()
            .map(move |&p| low + (high - low) * p as f32 / 255.0)
    }

    /// Every example's pixels, scaled, `len * 784` values.
    pub fn images(&self) -> Vec<f32> {
        (0..self.len()).flat_map(|i| self.image(i)).collect()
    }

    /// Keeps the first `n` examples.
    pub fn truncate(&mut self, n: usize) {
        self.pixels.truncate(n * PIXELS);
        self.labels.truncate(n);
    }
}

/// A dataset's 60,000 training and 10,000 test examples.
#[derive(Clone, Debug)]
pub struct Mnist {
    /// The training split.
    pub train: Split,
    /// The test split.
    pub test: Split,
}

/// Loads MNIST from `dir`: [`load`] of [`DatasetKind::Mnist`].
pub fn load_mnist(dir: &Path, range: (f32, f32)) -> Result<Mnist, DataError> {
    load(dir, DatasetKind::Mnist, range)
}

/// Loads the dataset `kind` from `dir` with pixels scaled from [0, 255] to `[low, high]`.
/// Checks every file's size and header first, so a bad file gives a [`DataError`] naming
/// the dataset and the command that fetches it, never a panic.
pub fn load(dir: &Path, kind: DatasetKind, range: (f32, f32)) -> Result<Mnist, DataError> {
    read(dir, range).map_err(|e| e.of(kind))
}

fn read(dir: &Path, (low, high): (f32, f32)) -> Result<Mnist, DataError> {
    for (name, magic, count) in FILES {
        check_idx(&dir.join(name), magic, count)?;
    }
    let [trn_img, trn_lbl, tst_img, tst_lbl] =
        FILES.map(|(name, magic, count)| read_body(&dir.join(name), magic, count));
    let (trn_img, trn_lbl, tst_img, tst_lbl) = (trn_img?, trn_lbl?, tst_img?, tst_lbl?);
    for (labels, name) in [(&trn_lbl, FILES[1].0), (&tst_lbl, FILES[3].0)] {
        if let Some(bad) = labels.iter().find(|l| **l > 9) {
            return Err(corrupt(&dir.join(name), format!("label {bad} outside 0-9")));
        }
    }
    Ok(Mnist {
        train: Split {
            pixels: trn_img,
            labels: trn_lbl,
            range: (low, high),
        },
        test: Split {
            pixels: tst_img,
            labels: tst_lbl,
            range: (low, high),
        },
    })
}
