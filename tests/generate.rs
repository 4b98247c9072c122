//! `cgan generate` grids and evaluation during training, on a tiny real run.

mod common;

use common::root;

use cgan::cli::{Cli, Command};
use cgan::config::Config;
use cgan::models::checkpoint::GeneratorManifest;
use cgan::models::gan_cls::Gan;
use cgan::models::sample::Sampler;
use cgan::run::checkpoint;
use cgan::run::evaluator::{Best, EVAL_HISTORY};
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target};
use cgan::tools::arithmetic::{arithmetic, parse_sets, style_of, PER_STYLE};
use cgan::tools::eval;
use cgan::tools::generate::{generate, Layout};
use clap::Parser;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The tiny run's config: 4 steps, judge metrics every 2 (the pinned judge).
fn tiny_config() -> Config {
    Config {
        steps: 4,
        batch_size: 8,
        summary_every: 2,
        checkpoint_every: 2,
        keep_checkpoints: 5,
        eval_every: 2,
        eval_samples: 200,
        sample_rows: 2,
        data_dir: root().join("data/mnist"),
        judge_dir: root().join("judges/mnist"),
        ..Config::default()
    }
}

fn tiny_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cgan-generate-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        train::train(tiny_config(), Target::New(dir.clone()), &mut Lines).expect("tiny run trains");
        dir
    })
}

fn history_steps(run: &Path) -> Vec<u64> {
    std::fs::read_to_string(run.join(EVAL_HISTORY))
        .unwrap()
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["step"]
                .as_u64()
                .unwrap()
        })
        .collect()
}

#[test]
fn a_resumed_run_keeps_one_evaluation_per_step_in_its_history() {
    let dir = std::env::temp_dir().join(format!("cgan-history-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    train::train(tiny_config(), Target::New(dir.clone()), &mut Lines).unwrap();
    // Killed after evaluating step 4 but before its checkpoint: resume from 2.
    std::fs::remove_dir_all(checkpoint::find(&dir, Some(4)).unwrap()).unwrap();
    train::train(tiny_config(), Target::Resume(dir.clone()), &mut Lines).unwrap();
    assert_eq!(history_steps(&dir), [2, 4]);
    let _ = std::fs::remove_dir_all(&dir);
}

/// G at `step` and its manifest, loaded as generation does: G's file and the manifest only.
fn g_at(step: u64) -> (Box<dyn Sampler>, GeneratorManifest) {
    cgan::models::registry::load_generator(&checkpoint::find(tiny_run(), Some(step)).unwrap()).unwrap()
}

#[test]
fn generation_needs_only_g_and_its_manifest() {
    let src = checkpoint::find(tiny_run(), Some(4)).unwrap();
    let dir = std::env::temp_dir().join(format!("cgan-g-only-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    // The default preset samples from the average of G's weights: that file and the
    // manifest are all generation reads (not G's own weights, D or the optimiser).
    for f in [cgan::models::checkpoint::G_EMA_FILE, "manifest.toml"] {
        std::fs::copy(src.join(f), dir.join(f)).unwrap();
    }
    let (mut g, how) = cgan::models::registry::load_generator(&dir).unwrap();
    let (mut g4, how4) = g_at(4);
    assert!(how.averaged);
    assert_eq!(how, how4);
    assert_eq!(
        generate(g.as_mut(), &how, Layout::All, 2, 1).to_png(),
        generate(g4.as_mut(), &how4, Layout::All, 2, 1).to_png()
    );
    std::fs::remove_file(dir.join(cgan::models::checkpoint::G_EMA_FILE)).unwrap();
    let err = cgan::models::registry::load_generator(&dir).unwrap_err().to_string();
    assert!(
        err.contains(cgan::models::checkpoint::G_EMA_FILE) && err.contains("missing"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    std::fs::remove_file(dir.join("manifest.toml")).unwrap();
    let err = cgan::models::registry::load_generator(&dir).unwrap_err().to_string();
    assert!(err.contains("manifest.toml") && err.contains("missing"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_layout_is_a_ten_column_grid_and_the_same_seed_gives_the_same_bytes() {
    let (mut g, how) = g_at(4);
    let layouts = [
        Layout::All,
        Layout::Digit(7),
        Layout::StyleGrid,
        Layout::InterpolateZ(None),
        Layout::InterpolateZ(Some(3)),
        Layout::InterpolateDigits(1, 7),
    ];
    let mut pngs = Vec::new();
    for layout in layouts {
        let a = generate(g.as_mut(), &how, layout, 3, 5);
        assert_eq!((a.width, a.height), (10 * 30 + 2, 3 * 30 + 2), "{layout:?}");
        let b = generate(g.as_mut(), &how, layout, 3, 5);
        assert_eq!(a.to_png(), b.to_png(), "{layout:?}: same seed, same PNG");
        let c = generate(g.as_mut(), &how, layout, 3, 6);
        assert_ne!(a.rgb, c.rgb, "{layout:?}: the seed matters");
        pngs.push(a.rgb);
    }
    pngs.dedup();
    assert_eq!(pngs.len(), layouts.len(), "layouts draw different grids");
}

#[test]
fn checkpoints_differ_and_a_missing_one_names_the_ones_there() {
    let ((mut g2, how), (mut g4, _)) = (g_at(2), g_at(4));
    let a = generate(g2.as_mut(), &how, Layout::All, 1, 0);
    let b = generate(g4.as_mut(), &how, Layout::All, 1, 0);
    assert_ne!(a.rgb, b.rgb);
    let err = checkpoint::find(tiny_run(), Some(3)).unwrap_err().to_string();
    assert!(
        err.contains("no checkpoint at step 3") && err.contains("(have: 2, 4)") && err.contains("--checkpoint"),
        "{err}"
    );
}

#[test]
fn evaluation_during_training_keeps_the_best_checkpoint() {
    let run = tiny_run();
    let best: Best = toml::from_str(&std::fs::read_to_string(run.join("best/best.toml")).unwrap()).unwrap();
    assert!([2, 4].contains(&best.step));
    assert!(best.frechet_distance.is_finite() && best.frechet_distance > 0.0);
    let mut gan = Gan::new(&train::run_config(run).unwrap());
    assert_eq!(checkpoint::load(&run.join("best"), &mut gan).unwrap().step, best.step);
    // The history: one line per evaluation, the metrics of `cgan eval --json`.
    let history = std::fs::read_to_string(run.join(EVAL_HISTORY)).unwrap();
    let lines: Vec<serde_json::Value> = history.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(history_steps(run), [2, 4]);
    for l in &lines {
        assert!((0.0..=1.0).contains(&l["conditional_accuracy"].as_f64().unwrap()));
        assert_eq!(l["samples"].as_u64(), Some(200));
        assert!(l["frechet_distance"].as_f64().unwrap() > 0.0);
    }
    let best_line = lines.iter().find(|l| l["step"].as_u64() == Some(best.step)).unwrap();
    assert!((best_line["frechet_distance"].as_f64().unwrap() - best.frechet_distance).abs() < 1e-9);
}

#[test]
fn cgan_eval_on_a_checkpoint_gives_the_figures_training_logged_for_that_step() {
    let run = tiny_run();
    let history = std::fs::read_to_string(run.join(EVAL_HISTORY)).unwrap();
    for line in history.lines() {
        let mut logged: serde_json::Value = serde_json::from_str(line).unwrap();
        let step = logged["step"].as_u64().unwrap();
        logged.as_object_mut().unwrap().remove("step");
        // Nothing but the run and the step: sample count, seed, judge and data come
        // from the run's config, as `cgan eval --run RUN --checkpoint N` does.
        let scored = eval::evaluate(&eval::Request {
            run: Some(run.clone()),
            checkpoint: Some(step),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(scored.step, Some(step));
        assert_eq!(scored.metrics.samples, 200);
        assert_eq!(serde_json::to_value(&scored.metrics).unwrap(), logged, "step {step}");
    }
    // The final evaluation is also the run's summary.json.
    let summary = cgan::run::history::read_summary(run).unwrap();
    let last = eval::evaluate(&eval::Request {
        run: Some(run.clone()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!((summary.eval_step, summary.eval), (Some(4), Some(last.metrics)));
}

#[test]
fn generate_flags_parse_and_conflict() {
    let ok = |args: &[&str]| {
        let argv: Vec<&str> = ["cgan", "generate", "--run", "r"].iter().chain(args).copied().collect();
        Cli::try_parse_from(argv)
    };
    assert!(ok(&["--digit", "7"]).is_ok());
    assert!(ok(&["--interpolate-digits", "1", "7", "--rows", "4"]).is_ok());
    assert!(ok(&["--digit", "10"]).is_err(), "digit out of range");
    assert!(ok(&["--digit", "3", "--all"]).is_err());
    assert!(ok(&["--style-grid", "--interpolate-z"]).is_err());
    assert!(ok(&["--interpolate-digits", "1"]).is_err(), "needs two digits");
    let Ok(Cli {
        command: Command::Generate(g),
    }) = ok(&["--interpolate-z", "--digit", "2"])
    else {
        panic!()
    };
    assert!(g.interpolate_z && g.digit == Some(2));
    assert!(ok(&["--arithmetic", "--arithmetic-z", "1,2", "3", "4,5"]).is_ok());
    assert!(ok(&["--arithmetic-z", "1", "2", "3"]).is_err(), "needs --arithmetic");
    assert!(ok(&["--arithmetic", "--digit", "3"]).is_err());
    assert!(
        Cli::try_parse_from(["cgan", "eval"]).is_err(),
        "eval needs --run or --real-data"
    );
    assert!(Cli::try_parse_from(["cgan", "eval", "--real-data", "--json"]).is_ok());
}

/// A 28 x 28 image (range [-1, 1]) with a bar `width` pixels wide from row 4 to 23 whose
/// centre moves `lean` pixels right per row going up.
fn bar(width: usize, lean: f64) -> Vec<f32> {
    let mut im = vec![-1.0f32; 28 * 28];
    for y in 4..24 {
        let centre = 14.0 + lean * (13.5 - y as f64);
        for x in 0..28 {
            if ((x as f64) - centre).abs() < width as f64 / 2.0 {
                im[y * 28 + x] = 1.0;
            }
        }
    }
    im
}

#[test]
fn style_measures_ink_and_lean() {
    let range = (-1.0, 1.0);
    let upright = style_of(&bar(2, 0.0), range);
    let thick = style_of(&bar(5, 0.0), range);
    let right = style_of(&bar(2, 0.3), range);
    let left = style_of(&bar(2, -0.3), range);
    assert!(upright.slant.abs() < 0.02, "{upright:?}");
    assert!(thick.ink > 2.0 * upright.ink, "{thick:?} vs {upright:?}");
    assert!(
        (right.slant - 0.3).abs() < 0.05,
        "a bar leaning 0.3 px/px right: {right:?}"
    );
    assert!((left.slant + 0.3).abs() < 0.05, "{left:?}");
    assert_eq!(style_of(&vec![-1.0; 784], range).ink, 0.0, "a black image has no ink");
}

#[test]
fn arithmetic_is_four_rows_of_ten_digits_from_disjoint_styles_and_reproducible() {
    let (mut g, how) = g_at(4);
    let a = arithmetic(g.as_mut(), &how, 3, 40, None).unwrap();
    let all = generate(g.as_mut(), &how, Layout::All, 4, 0);
    assert_eq!((a.grid.width, a.grid.height), (all.width, all.height), "4 x 10 cells");
    let names: Vec<&str> = a.rows.iter().map(|r| r.name).collect();
    assert_eq!(names, ["A", "B", "C", "A - B + C"]);
    let mut members: Vec<usize> = a.rows[..3].iter().flat_map(|r| r.members.clone()).collect();
    assert!(a.rows[..3].iter().all(|r| r.members.len() == PER_STYLE));
    members.sort();
    members.dedup();
    assert_eq!(members.len(), 3 * PER_STYLE, "no candidate in two sets");
    assert!(members.iter().all(|&i| i < 40));
    let again = arithmetic(g.as_mut(), &how, 3, 40, None).unwrap();
    assert_eq!(again.grid.rgb, a.grid.rgb, "same seed, same bytes");
    assert_eq!(a.report().lines().count(), 4);

    let given = parse_sets(&["1,2".into(), "3".into(), " 4, 5 ".into()]).unwrap();
    assert_eq!(given, [vec![1, 2], vec![3], vec![4, 5]]);
    let chosen = arithmetic(g.as_mut(), &how, 3, 40, Some(given)).unwrap();
    assert_eq!(chosen.rows[1].members, vec![3]);
    assert_ne!(chosen.grid.rgb, a.grid.rgb);

    let err = arithmetic(g.as_mut(), &how, 3, 40, Some([vec![1], vec![40], vec![2]])).unwrap_err();
    assert!(
        err.to_string().contains("candidate 40") && err.to_string().contains("0-39"),
        "{err}"
    );
    let err = parse_sets(&["1,x".into(), "2".into(), "3".into()]).unwrap_err();
    assert!(err.to_string().contains("\"x\""), "{err}");
    assert!(
        arithmetic(g.as_mut(), &how, 3, 5, None).is_err(),
        "too few candidates for three sets"
    );
}

#[test]
fn cgan_generate_arithmetic_writes_the_grid_and_says_what_each_row_is() {
    let out = std::env::temp_dir().join(format!("cgan-arith-{}.png", std::process::id()));
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_cgan"))
        .args(["generate", "--arithmetic", "--candidates", "30", "--run"])
        .arg(tiny_run())
        .arg("--out")
        .arg(&out)
        .output()
        .expect("cgan runs");
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(
        lines[0].starts_with("A ") && lines[3].starts_with("A - B + C"),
        "{stdout}"
    );
    assert!(lines[0].contains("ink") && lines[0].contains("slant") && lines[0].contains("candidates"));
    assert_eq!(lines[4], out.display().to_string());
    assert!(std::fs::read(&out).unwrap().starts_with(b"\x89PNG"));
    let _ = std::fs::remove_file(&out);
}
