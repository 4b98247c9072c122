//! insta snapshots of the interfaces a user sees: every subcommand's --help, every
//! preset's config, the TensorBoard tags a short run writes (read back from the event file), and
//! the model summary. They live in the top-level snapshots/ directory.

mod common;

use cgan::cli::Cli;
use cgan::config::{Config, ModelConfig, Preset};
use cgan::models::gan_cls::{Discriminator, DiscriminatorSpec, Generator};
use cgan::models::lapgan::{PyramidD, PyramidG};
use cgan::nn::params;
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target};
use clap::CommandFactory;
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use std::path::Path;

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.set_snapshot_path("../snapshots");
    s.set_prepend_module_to_snapshot(false);
    s
}

#[test]
fn help_of_every_subcommand() {
    let mut cmd = Cli::command();
    let mut all = format!("{}\n", cmd.render_long_help());
    for sub in ["train", "judge", "eval", "generate", "sweep"] {
        let sc = cmd.find_subcommand_mut(sub).expect("subcommand exists");
        all += &format!("===== cgan {sub} --help\n{}\n", sc.render_long_help());
    }
    settings().bind(|| insta::assert_snapshot!("cli_help", all));
}

#[test]
fn model_summary() {
    let dev = Cpu::default();
    let mut text = params::summary(
        "Generator (every GAN-CLS preset)",
        &params::params(&Generator::<f32, Cpu>::build(&dev)),
    );
    for preset in Preset::ALL {
        let cfg = preset.config();
        text += &match &cfg.model {
            ModelConfig::GanCls(m) => {
                let d = Discriminator::new(&dev, DiscriminatorSpec::of(m), &mut StdRng::seed_from_u64(0));
                params::summary(&format!("Discriminator ({})", preset.name()), &d.params())
            }
            ModelConfig::Lapgan(_) => {
                params::summary(
                    &format!("Generators, levels 7, 14, 28 ({})", preset.name()),
                    &params::params(&PyramidG::<f32, Cpu>::build(&dev)),
                ) + &params::summary(
                    &format!("Discriminators, levels 7, 14, 28 ({})", preset.name()),
                    &params::params(&PyramidD::<f32, Cpu>::build(&dev)),
                )
            }
        };
    }
    assert!(text.contains("trainable parameters: 335913") && text.contains("trainable parameters: 99089"));
    settings().bind(|| insta::assert_snapshot!("model_summary", text));
}

#[test]
fn config_of_every_preset() {
    for preset in Preset::ALL {
        settings().bind(|| insta::assert_snapshot!(format!("config_{}", preset.name()), preset.config().to_toml()));
    }
}

/// Every tag a 4-step run of `preset` writes, with its kind and steps.
fn tags_of_a_short_run(preset: Preset) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::temp_dir().join(format!("cgan-snap-{}-{}", preset.name(), std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config {
        steps: 4,
        batch_size: 8,
        summary_every: 2,
        checkpoint_every: 2,
        histogram_every: 1,
        eval_every: 2,
        eval_samples: 200,
        data_dir: root.join("data/mnist"),
        judge_dir: root.join("judges/mnist"),
        ..preset.config()
    };
    train::train(cfg, Target::New(dir.clone()), &mut Lines).unwrap();
    let listing = common::tags(&dir)
        .iter()
        .map(|(tag, (kind, steps))| format!("{tag} {kind:?} {steps:?}\n"))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    listing
}

#[test]
fn tensorboard_tags_of_a_short_run() {
    let listing = tags_of_a_short_run(Preset::default());
    settings().bind(|| insta::assert_snapshot!("tensorboard_tags", listing));
}

#[test]
fn tensorboard_tags_of_a_short_lapgan_run() {
    let listing = tags_of_a_short_run(Preset::Lapgan);
    settings().bind(|| insta::assert_snapshot!("tensorboard_tags_lapgan", listing));
}
