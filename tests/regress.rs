//! Sample-grid regression: the tiny seeded runs of snapshots/regress.toml (the article
//! preset), snapshots/regress_mode_seeking.toml (the default) and snapshots/regress_lapgan.toml
//! (LAPGAN) must draw their golden
//! grids (within `regress::DEFAULT_TOLERANCE`), and `cgan regress` must flag a different
//! grid, write a diff image, and touch no golden file.

mod common;

use common::root;

use cgan::config::{Config, Preset};
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target};
use cgan::tools::regress::{self, RegressError, DEFAULT_TOLERANCE};
use rstest::rstest;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The regression config and golden grid of `preset`.
fn files(preset: Preset) -> (PathBuf, PathBuf) {
    let stem = match preset {
        Preset::Article => "regress".to_string(),
        p => format!("regress_{}", p.name().replace('-', "_")),
    };
    (
        root().join(format!("snapshots/{stem}.toml")),
        root().join(format!("snapshots/{stem}_samples_all.png")),
    )
}

fn golden() -> PathBuf {
    files(Preset::Article).1
}

fn regress_run_of(preset: Preset, seed_override: Option<u64>) -> PathBuf {
    let mut cfg = Config::load(&files(preset).0, None).unwrap();
    assert_eq!(cfg.preset, preset, "the regression config names its preset");
    cfg.data_dir = root().join("data/mnist");
    let tag = format!(
        "{}-{}",
        preset.name(),
        seed_override.map_or("golden".to_string(), |s| format!("seed{s}"))
    );
    if let Some(s) = seed_override {
        cfg.seed = s;
    }
    let dir = std::env::temp_dir().join(format!("cgan-regress-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    train::train(cfg, Target::New(dir.clone()), &mut Lines).unwrap();
    dir
}

fn regress_run(seed_override: Option<u64>) -> PathBuf {
    regress_run_of(Preset::Article, seed_override)
}

fn golden_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| regress_run(None))
}

#[rstest]
fn the_regression_run_of_every_preset_draws_its_golden_grid(
    #[values(Preset::Article, Preset::ModeSeeking, Preset::Lapgan)] preset: Preset,
) {
    let run = match preset {
        Preset::Article => golden_run().clone(),
        p => regress_run_of(p, None),
    };
    let diff = regress::check(&run, &files(preset).1, DEFAULT_TOLERANCE).unwrap_or_else(|e| panic!("{preset:?}: {e}"));
    assert!(diff.mean_abs <= DEFAULT_TOLERANCE);
}

#[test]
fn the_presets_golden_grids_differ() {
    let (a, b) = (files(Preset::Article).1, files(Preset::ModeSeeking).1);
    let diff = regress::compare(&regress::read_png(&a).unwrap(), &regress::read_png(&b).unwrap());
    assert!(diff.mean_abs > 5.0 * DEFAULT_TOLERANCE, "{diff}");
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
