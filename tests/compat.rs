//! What the cgan before the config's `[model]` table wrote still works: its configs load
//! as the same settings, and its run directories load, generate the same digits and train
//! on (tests/fixtures/README.md says how the fixtures were made).

mod common;

use cgan::config::{Config, DNorm, ModelKind, Preset};
use cgan::models::registry::{load_generator, Manifest};
use cgan::run::checkpoint;
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target};
use cgan::tools::generate::{generate, Layout};
use common::{root, scratch};
use std::path::Path;

fn fixture(name: &str) -> std::path::PathBuf {
    root().join("tests/fixtures").join(name)
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

/// `preset` as it was when the fixtures were written: the default trained 6000 steps
/// with lr 2e-4 for both nets and the mode-seeking term at weight 1 before issue 26 (a
/// run keeps the values it was written with).
fn as_written(preset: Preset) -> Config {
    let cfg = preset.config();
    match preset {
        Preset::ModeSeeking => Config {
            steps: 6000,
            lr: 2e-4,
            lr_d_scale: 1.0,
            mode_seeking: 1.0,
            ..cfg
        },
        _ => cfg,
    }
}

#[test]
fn every_presets_flat_config_loads_as_that_preset() {
    for preset in Preset::ALL {
        let path = fixture("flat-configs").join(format!("{}.toml", preset.name()));
        let cfg = Config::load_run(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        // They were written when the judge a run trained for itself was the default: a run
        // keeps the judge that scored it, the pinned one is only the new default.
        let want = Config {
            judge_dir: "runs/judge".into(),
            ..as_written(preset)
        };
        assert_eq!(cfg, want, "{}", preset.name());
        cfg.validate().unwrap();
    }
}

#[test]
fn flat_model_keys_still_go_into_the_model_table() {
    let dir = scratch("flat-keys");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    // What a hand-written config or a sweep's grid names at the top level.
    std::fs::write(&path, "preset = \"article\"\nd_norm = \"none\"\nk_steps = 2\n").unwrap();
    let cfg = Config::load(&path, None).unwrap();
    let m = cfg.model.gan_cls().unwrap();
    assert_eq!((m.d_norm, m.k_steps), (DNorm::None, 2));
    // Set twice, the [model] table's value wins over the top level's.
    std::fs::write(&path, "d_norm = \"batch\"\n[model]\nd_norm = \"none\"\n").unwrap();
    assert_eq!(
        Config::load(&path, None).unwrap().model.gan_cls().unwrap().d_norm,
        DNorm::None
    );
    // A [model] table that changes the kind starts from that kind's settings.
    std::fs::write(&path, "[model]\nkind = \"lapgan\"\n").unwrap();
    assert_eq!(Config::load(&path, None).unwrap().model.kind(), ModelKind::Lapgan);
    std::fs::write(&path, "preset = \"lapgan\"\n[model]\nkind = \"gan-cls\"\n").unwrap();
    let cfg = Config::load(&path, None).unwrap();
    assert_eq!(cfg.model, cgan::config::ModelConfig::of_kind(ModelKind::GanCls));
    // An unknown kind is refused, naming the kinds there are.
    std::fs::write(&path, "[model]\nkind = \"vae\"\n").unwrap();
    let err = Config::load(&path, None).unwrap_err().to_string();
    assert!(
        err.contains("vae") && err.contains("gan-cls") && err.contains("lapgan"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn a_run_written_before_the_model_table_loads_generates_and_trains_on() {
    let run = scratch("old-run");
    copy_dir(&fixture("run-flat-config"), &run);

    // Its config: config.toml (flat) with history.toml's flat override applied.
    let cfg = train::run_config(&run).unwrap();
    let want = common::gan_cls(
        Config {
            name: "fixture".into(),
            steps: 3,
            batch_size: 8,
            train_images: 64,
            summary_every: 1,
            histogram_every: 0,
            checkpoint_every: 2,
            keep_checkpoints: 1,
            sample_rows: 1,
            eval_every: 0,
            judge_dir: "runs/judge".into(),
            ..as_written(Preset::ModeSeeking)
        },
        |m| m.gan_int = 0.25,
    );
    assert_eq!(cfg, want);

    // Its checkpoint's manifest ([generator] and [discriminator]) fits that config.
    let ck = checkpoint::find(&run, None).unwrap();
    let manifest = Manifest::read(&ck).unwrap();
    assert!(manifest.fits(&Manifest::of(&cfg)), "{manifest:?}");

    // It generates exactly what the old cgan generated from it.
    let (mut g, how) = load_generator(&ck).unwrap();
    assert!(how.averaged);
    let png = generate(g.as_mut(), &how, Layout::All, 2, 1).to_png();
    let old = std::fs::read(fixture("run-flat-config-generated.png")).unwrap();
    assert!(png == old, "the grid differs from the old cgan's");

    // It resumes from step 3 and trains on, writing the new manifest.
    let report = train::train(Config { steps: 5, ..cfg }, Target::Resume(run.clone()), &mut Lines).unwrap();
    assert_eq!((report.start_step, report.steps), (3, 5));
    let ck = checkpoint::find(&run, Some(5)).unwrap();
    let text = std::fs::read_to_string(ck.join("manifest.toml")).unwrap();
    assert!(
        text.contains("[model]\nkind = \"gan-cls\"") && !text.contains("[discriminator]"),
        "{text}"
    );
    let resumed = train::run_config(&run).unwrap();
    assert_eq!(resumed.steps, 5);
    assert_eq!(resumed.model.gan_cls().unwrap().gan_int, 0.25);
    let _ = std::fs::remove_dir_all(run);
}

#[test]
fn every_config_in_experiments_loads_and_validates() {
    let mut seen = 0;
    for dir in std::fs::read_dir(root().join("experiments")).unwrap() {
        let dir = dir.unwrap().path();
        for f in std::fs::read_dir(&dir).unwrap() {
            let path = f.unwrap().path();
            if path.extension().is_none_or(|e| e != "toml") {
                continue;
            }
            seen += 1;
            if dir.ends_with("sweeps") {
                cgan::tools::sweep::load(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            } else {
                let cfg = Config::load(&path, None).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                cfg.validate().unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            }
        }
    }
    assert!(seen >= 19, "{seen} configs");
}
