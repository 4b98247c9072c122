//! Sample-grid regression: the tiny seeded run of snapshots/regress.toml must draw the
//! golden grid (within `regress::DEFAULT_TOLERANCE`), and `cgan regress` must flag a
//! different grid, write a diff image, and touch no golden file.

use cgan::config::Config;
use cgan::regress::{self, RegressError, DEFAULT_TOLERANCE};
use cgan::train::{self, Lines, Target};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn golden() -> PathBuf {
    root().join("snapshots/regress_samples_all.png")
}

fn regress_run(seed_override: Option<u64>) -> PathBuf {
    let mut cfg = Config::load(&root().join("snapshots/regress.toml")).unwrap();
    cfg.data_dir = root().join("data/mnist");
    let tag = seed_override.map_or("golden".to_string(), |s| format!("seed{s}"));
    if let Some(s) = seed_override {
        cfg.seed = s;
    }
    let dir = std::env::temp_dir().join(format!("cgan-regress-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    train::train(cfg, Target::New(dir.clone()), &mut Lines).unwrap();
    dir
}

fn golden_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| regress_run(None))
}

#[test]
fn the_regression_run_draws_the_golden_grid() {
    let diff = regress::check(golden_run(), &golden(), DEFAULT_TOLERANCE).unwrap_or_else(|e| panic!("{e}"));
    assert!(diff.mean_abs <= DEFAULT_TOLERANCE);
}

#[test]
fn a_different_run_fails_with_a_diff_image_and_the_golden_file_untouched() {
    let before = std::fs::read(golden()).unwrap();
    let other = regress_run(Some(8));
    let err = regress::check(&other, &golden(), DEFAULT_TOLERANCE).unwrap_err();
    let RegressError::Differs { diff, diff_png, .. } = &err else {
        panic!("{err}")
    };
    assert!(
        diff.mean_abs > 5.0 * DEFAULT_TOLERANCE,
        "another seed moves the grid: {diff}"
    );
    assert!(regress::read_png(diff_png).is_ok(), "diff image written");
    let msg = err.to_string();
    assert!(msg.contains("regress-update") && !msg.contains('\n'), "{msg}");
    assert_eq!(before, std::fs::read(golden()).unwrap(), "golden file untouched");
}

#[test]
fn a_missing_or_broken_golden_is_a_clear_error() {
    let err = regress::check(golden_run(), Path::new("/nonexistent/golden.png"), 2.0).unwrap_err();
    assert!(err.to_string().contains("/nonexistent/golden.png"), "{err}");
    let bad = std::env::temp_dir().join(format!("cgan-bad-golden-{}.png", std::process::id()));
    std::fs::write(&bad, b"\x89PNG but not really").unwrap();
    assert!(matches!(
        regress::check(golden_run(), &bad, 2.0),
        Err(RegressError::Read { .. })
    ));
    let empty = std::env::temp_dir().join(format!("cgan-empty-run-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(
        regress::check(&empty, &golden(), 2.0),
        Err(RegressError::NoSamples(_))
    ));
}
