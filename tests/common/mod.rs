//! What several test files share: where the checkout's data and judge are, scratch
//! directories, small run configs, the `cgan` binary, random vectors and error measures,
//! and a reader of TensorBoard event files ([`events`]). Each test file compiles this
//! module on its own and uses a part of it.

#![allow(dead_code)]

pub mod events;

#[allow(unused_imports)]
pub use events::*;

use cgan::config::{Config, GanClsConfig};
use cgan::data::{Split, PIXELS};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// The checkout (where `data/` and the pinned `judges/` are).
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A directory under the system's temp dir for this test file, process and `tag`, removed
/// if a previous run left it (not created: a run directory must not exist yet).
pub fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "cgan-{}-{tag}-{}",
        env!("CARGO_CRATE_NAME"),
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// A tiny run of `base`: `steps` steps of 8 images, summaries and checkpoints every 2
/// steps, 2 sample rows, no evaluations, on the checkout's MNIST.
pub fn small_on(base: Config, steps: u64) -> Config {
    Config {
        steps,
        batch_size: 8,
        summary_every: 2,
        checkpoint_every: 2,
        sample_rows: 2,
        data_dir: root().join("data/mnist"),
        eval_every: 0,
        ..base
    }
}

/// [`small_on`] the default config.
/// `cfg` with its `[model]` GAN-CLS settings changed by `f` (`cfg` must be a GAN-CLS config).
pub fn gan_cls(mut cfg: Config, f: impl FnOnce(&mut GanClsConfig)) -> Config {
    f(cfg.model.gan_cls_mut("a test's setting").expect("a GAN-CLS config"));
    cfg
}

pub fn small(steps: u64) -> Config {
    small_on(Config::default(), steps)
}

/// The `cgan` binary run in the checkout with `args`, stdout dropped, stderr captured.
pub fn cgan(args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_cgan"));
    c.current_dir(root())
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    c
}

/// `len` values uniform in [-1, 1).
pub fn random(rng: &mut StdRng, len: usize) -> Vec<f32> {
    (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect()
}

/// `n` labels uniform in 0-9.
pub fn labels(rng: &mut StdRng, n: usize) -> Vec<u8> {
    (0..n).map(|_| rng.gen_range(0..10)).collect()
}

/// `v` in f64.
pub fn to64(v: &[f32]) -> Vec<f64> {
    v.iter().map(|x| *x as f64).collect()
}

/// max |a - b| / max |b|: `a` against an f64 reference `b`.
pub fn rel_err(a: &[f32], b: &[f64]) -> f64 {
    assert_eq!(a.len(), b.len(), "length mismatch");
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-12);
    a.iter().zip(b).fold(0.0f64, |m, (x, y)| m.max((*x as f64 - y).abs())) / scale
}

/// Four batches of `n` random images (grey levels, read in the range [-1, 1]) and
/// labels, the same on every call: data for training steps that need no MNIST.
pub fn random_split(n: usize) -> Split {
    let mut rng = StdRng::seed_from_u64(0);
    Split {
        pixels: (0..n * 4 * PIXELS).map(|_| rng.gen()).collect(),
        labels: (0..n * 4).map(|_| rng.gen_range(0..10)).collect(),
        range: (-1.0, 1.0),
    }
}

/// Writes an `.npy` file (version 1, C order) of `descr` (e.g. `<f4`) and `shape` with the
/// raw little-endian `data`, as `numpy.save` does.
pub fn write_npy(path: &Path, descr: &str, shape: &[usize], data: &[u8]) {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let tuple = if dims.len() == 1 {
        format!("({},)", dims[0])
    } else {
        format!("({})", dims.join(", "))
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {tuple}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend(data);
    std::fs::write(path, bytes).unwrap();
}

/// `values` as little-endian f32 bytes.
pub fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}
