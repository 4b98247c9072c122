//! LAPGAN (`--preset lapgan`): the shapes of every level, coarse-to-fine generation, and a
//! LAPGAN run through the same harness as the GAN-CLS presets: per-level tags and samples,
//! checkpoints, bit-identical resume, `cgan eval` and `cgan generate`, and its config errors.

mod common;

use common::{root, scratch};

use cgan::config::{Config, ModelKind, NoiseKind, OutputActivation, Preset};
use cgan::data::{load_mnist, Dataset};
use cgan::device::Kernels;
use cgan::models::checkpoint::GeneratorArchitecture;
use cgan::models::gan_cls::Gan;
use cgan::models::lapgan::step::Lapgan;
use cgan::models::lapgan::{PyramidD, PyramidG, SIDES};
use cgan::models::trainee::{StepReport, Trainee};
use cgan::models::{one_hot, sample_noise};
use cgan::ops::pyramid::{downsample, upsample, Planes};
use cgan::run::checkpoint;
use cgan::run::evaluator::EVAL_HISTORY;
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target};
use cgan::tensorboard::tags;
use cgan::tools::eval;
use cgan::tools::generate::{generate, Layout};
use common::Kind;
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// [`common::small_on`] LAPGAN, with evaluations (200 samples) and five checkpoints kept.
fn small(steps: u64) -> Config {
    Config {
        keep_checkpoints: 5,
        eval_every: 2,
        eval_samples: 200,
        judge_dir: root().join("judges/mnist"),
        ..common::small_on(Preset::Lapgan.config(), steps)
    }
}

/// A 4-step LAPGAN run with evaluations at 2 and 4, shared by the tests that read it.
fn tiny_run() -> &'static PathBuf {
    static RUN: OnceLock<PathBuf> = OnceLock::new();
    RUN.get_or_init(|| {
        let dir = scratch("tiny");
        train::train(small(4), Target::New(dir.clone()), &mut Lines).expect("a LAPGAN run trains");
        dir
    })
}

fn shape(t: &Planes<Cpu>) -> [usize; 4] {
    let (n, c, h, w) = *t.shape();
    [n, c, h, w]
}

#[test]
fn every_level_has_its_shapes_and_generation_runs_coarse_to_fine() {
    let dev = Cpu::seed_from_u64(3);
    let g = PyramidG::<f32, Cpu>::build(&dev);
    let d = PyramidD::<f32, Cpu>::build(&dev);
    let mut rng = StdRng::seed_from_u64(1);
    for n in [1, 5] {
        let labels: Vec<u8> = (0..n as u8).map(|i| i % 10).collect();
        let c = one_hot(&dev, &labels);
        let z = sample_noise(&dev, n, NoiseKind::Uniform, &mut rng);
        let [i7, i14, i28] = g.levels(z.clone(), c.clone(), OutputActivation::Tanh, Kernels::Auto);
        assert_eq!(shape(&i7), [n, 1, 7, 7]);
        assert_eq!(shape(&i14), [n, 1, 14, 14]);
        assert_eq!(shape(&i28), [n, 1, 28, 28]);
        // Each finer level is the upsampled coarser image plus that level's residual.
        let l14 = upsample(i7.clone());
        let h14 = g.level14.forward(l14.clone(), c.clone(), z.clone(), Kernels::Auto);
        assert_eq!(shape(&h14), [n, 1, 14, 14]);
        let rebuilt = (l14.clone() + h14.clone()).as_vec();
        assert_eq!(i14.as_vec(), rebuilt);
        let l28 = upsample(i14.clone());
        let h28 = g.level28.forward(l28.clone(), c.clone(), z.clone(), Kernels::Auto);
        assert_eq!(shape(&h28), [n, 1, 28, 28]);
        let want: Vec<f32> = (l28.clone() + h28.clone())
            .as_vec()
            .into_iter()
            .map(|v| v.clamp(-1.0, 1.0))
            .collect();
        assert_eq!(i28.as_vec(), want);
        assert!(i7.as_vec().iter().all(|v| v.abs() <= 1.0), "tanh range at level 7");
        // Every D gives one logit per image.
        assert_eq!(d.level7.forward(i7, c.clone(), Kernels::Auto).shape().0, n);
        let logit14 = d.level14.forward(h14, l14, c.clone(), Kernels::Auto);
        let logit28 = d.level28.forward(h28, l28, c, Kernels::Auto);
        assert_eq!((logit14.shape().0, logit28.shape().0), (n, n));
        assert!(logit28.as_vec().iter().all(|v| v.is_finite()));
    }
}

#[test]
#[should_panic(expected = "LAPGAN level 14: l is 1x28x28, expected 1x14x14")]
fn a_level_refuses_an_image_of_another_level() {
    let dev = Cpu::default();
    let g = PyramidG::<f32, Cpu>::build(&dev);
    let l: Planes<Cpu> = dev.zeros_like(&(2usize, 1usize, 28usize, 28usize));
    let z = sample_noise(&dev, 2, NoiseKind::Uniform, &mut StdRng::seed_from_u64(0));
    g.level14.forward(l, one_hot(&dev, &[1, 2]), z, Kernels::Auto);
}

#[test]
fn every_level_learns_from_its_own_real_images_and_residuals() {
    // The real pyramid rebuilds the batch: what levels 7, 14 and 28 learn adds up to it.
    let cfg = small(1);
    let m = load_mnist(&cfg.data_dir, cfg.output_activation.range()).unwrap();
    let mut data = Dataset::new(m.test, cfg.batch_size, cfg.seed).unwrap();
    let mut lapgan = Lapgan::build(Cpu::default(), &cfg);
    let before = lapgan.g.clone();
    let stats = lapgan.train_step(&mut data, 0);
    let dev = Cpu::default();
    let i28: Planes<Cpu> = dev.tensor_from_vec(lapgan.last_batch().images.clone(), (8usize, 1usize, 28usize, 28usize));
    let i14 = downsample(i28.clone());
    let i7 = downsample(i14.clone());
    let back = upsample(upsample(i7.clone()) + (i14.clone() - upsample(i7))) + (i28.clone() - upsample(i14));
    let err = (back - i28).as_vec().into_iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(err < 1e-6, "{err}");
    // One step moves every level's G, and every level reports finite numbers.
    for (name, moved) in [
        (
            "level7",
            before.level7.out.weight.as_vec() != lapgan.g.level7.out.weight.as_vec(),
        ),
        (
            "level14",
            before.level14.out.weight.as_vec() != lapgan.g.level14.out.weight.as_vec(),
        ),
        (
            "level28",
            before.level28.out.weight.as_vec() != lapgan.g.level28.out.weight.as_vec(),
        ),
    ] {
        assert!(moved, "{name}'s G did not move");
    }
    for l in stats.levels {
        assert!(l.loss_g.is_finite() && l.loss_d.is_finite());
        for p in [l.p_real, l.p_real_wrong, l.p_fake] {
            assert!((0.0..=1.0).contains(&p), "{p}");
        }
    }
}

#[test]
fn a_lapgan_run_logs_every_level_and_the_final_samples() {
    let run = tiny_run();
    let tags = common::tags(run);
    let kind = |t: &str| tags.get(t).map(|(k, steps)| (*k, steps.clone()));
    for side in SIDES {
        for tag in [
            tags::level_loss_g(side),
            tags::level_loss_d(side),
            tags::level_p_real(side),
            tags::level_p_real_wrong(side),
            tags::level_p_fake(side),
        ] {
            assert_eq!(kind(&tag), Some((Kind::Scalar, vec![2, 4])), "{tag}");
        }
    }
    for tag in [
        tags::samples_level(7),
        tags::samples_level(14),
        tags::SAMPLES_ALL.to_string(),
    ] {
        assert_eq!(kind(&tag), Some((Kind::Image, vec![2, 4])), "{tag}");
    }
    assert_eq!(kind(tags::CONDITIONAL_ACCURACY).map(|k| k.1), Some(vec![2, 4]));
    // The GAN-CLS tags are not faked for a model that has no such terms.
    for tag in [tags::LOSS_G, tags::P_REAL_RIGHT, tags::D_REAL_WRONG] {
        assert!(!tags.contains_key(tag), "{tag}");
    }
    let ck = checkpoint::find(run, Some(4)).unwrap();
    let (_, how) = cgan::models::registry::load_generator(&ck).unwrap();
    assert_eq!(how.architecture, GeneratorArchitecture::Lapgan);
    let summary = cgan::run::history::read_summary(run).unwrap();
    assert!(summary.last[&tags::level_loss_g(28)].is_some());
}

#[test]
fn cgan_eval_and_generate_work_on_a_lapgan_run() {
    let run = tiny_run();
    let history = std::fs::read_to_string(run.join(EVAL_HISTORY)).unwrap();
    let logged: serde_json::Value = serde_json::from_str(history.lines().last().unwrap()).unwrap();
    let scored = eval::evaluate(&eval::Request {
        run: Some(run.clone()),
        ..Default::default()
    })
    .unwrap();
    assert_eq!(scored.step, Some(4));
    assert_eq!(
        serde_json::to_value(&scored.metrics).unwrap()["frechet_distance"],
        logged["frechet_distance"],
        "cgan eval gives what training logged"
    );
    let (mut g, how, _) = eval::load_generator(run, None).unwrap();
    let a = generate(g.as_mut(), &how, Layout::Digit(7), 3, 1);
    assert_eq!((a.width, a.height), (10 * 30 + 2, 3 * 30 + 2));
    assert_eq!(a, generate(g.as_mut(), &how, Layout::Digit(7), 3, 1), "seeded");
    assert_ne!(a, generate(g.as_mut(), &how, Layout::Digit(7), 3, 2));
}

#[test]
fn a_resumed_lapgan_run_has_the_weights_of_an_uninterrupted_one() {
    let (a, b) = (scratch("straight"), scratch("resumed"));
    let quick = |steps| Config {
        eval_every: 0,
        ..small(steps)
    };
    train::train(quick(4), Target::New(a.clone()), &mut Lines).unwrap();
    train::train(quick(2), Target::New(b.clone()), &mut Lines).unwrap();
    let report = train::train(quick(4), Target::Resume(b.clone()), &mut Lines).unwrap();
    assert_eq!(report.start_step, 2);
    for file in ["g.safetensors", "d.safetensors", "optim.safetensors"] {
        let read = |dir: &Path| std::fs::read(dir.join("checkpoints/step-00000004").join(file)).unwrap();
        assert_eq!(read(&a), read(&b), "{file}");
    }
    // A GAN-CLS config cannot take a LAPGAN checkpoint: the manifest names the difference.
    let ck = checkpoint::find(&a, Some(4)).unwrap();
    let gan_cfg = Config::default();
    let err = checkpoint::load(&ck, &mut Gan::new(&gan_cfg)).unwrap_err().to_string();
    assert!(err.contains("model.kind = \"lapgan\""), "{err}");
    assert!(err.contains("model.kind = \"gan-cls\""), "{err}");
    let _ = [a, b].map(std::fs::remove_dir_all);
}

#[test]
fn a_lapgan_config_cannot_name_gan_cls_keys() {
    let dir = scratch("lapgan-keys");
    std::fs::create_dir_all(&dir).unwrap();
    for (key, line) in [
        ("gan_int", "gan_int = 0.5"),
        ("g_ema", "g_ema = 0.999"),
        ("spectral_norm", "spectral_norm = true"),
        ("k_steps", "k_steps = 2"),
        ("shared_fake", "shared_fake = true"),
        ("d_norm", "d_norm = \"none\""),
    ] {
        // In the [model] table of kind "lapgan", and at the top level of a LAPGAN config.
        for text in [
            format!("[model]\nkind = \"lapgan\"\n{line}\n"),
            format!("preset = \"lapgan\"\n{line}\n"),
        ] {
            let path = dir.join("c.toml");
            std::fs::write(&path, &text).unwrap();
            let err = Config::load(&path, None).unwrap_err().to_string();
            assert!(
                err.contains(key) && err.contains("c.toml") && err.contains("kind = \"lapgan\""),
                "{text}: {err}"
            );
            assert!(!err.contains('\n'));
        }
    }
    let path = dir.join("ok.toml");
    std::fs::write(&path, "[model]\nkind = \"lapgan\"\n").unwrap();
    let cfg = Config::load(&path, None).unwrap();
    assert_eq!(cfg.model.kind(), ModelKind::Lapgan);
    assert!(
        cfg.to_toml().ends_with("[model]\nkind = \"lapgan\"\n"),
        "{}",
        cfg.to_toml()
    );
    // The default preset's GAN-CLS settings do not follow the model into LAPGAN.
    cfg.validate().unwrap();
    // A flag names itself and the fix.
    let mut lap = Preset::Lapgan.config();
    let err = lap.model.gan_cls_mut("--spectral-norm").unwrap_err();
    assert!(
        err.contains("--spectral-norm") && err.contains("kind = \"lapgan\"") && err.contains("gan-cls"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn mode_seeking_acts_on_the_coarsest_level_and_is_logged_there() {
    let cfg = Config {
        mode_seeking: 1.0,
        ..small(1)
    };
    let m = load_mnist(&cfg.data_dir, cfg.output_activation.range()).unwrap();
    let run = |cfg: &Config| {
        let mut data = Dataset::new(m.test.clone(), cfg.batch_size, cfg.seed).unwrap();
        let mut lapgan = Lapgan::build(Cpu::default(), cfg);
        let stats = lapgan.train_step(&mut data, 0);
        (stats, lapgan.g)
    };
    let (on, g_on) = run(&cfg);
    let (off, g_off) = run(&small(1));
    let coarse = on.levels[0];
    assert!(
        coarse.mode_seeking > 0.0 && coarse.mode_seeking_ratio > 0.0,
        "{coarse:?}"
    );
    assert_eq!(
        (off.levels[0].mode_seeking, off.levels[0].mode_seeking_ratio),
        (0.0, 0.0)
    );
    // Only level 7's G feels it: the finer levels train exactly as without it.
    assert_ne!(g_on.level7.fc1.weight.as_vec(), g_off.level7.fc1.weight.as_vec());
    assert_eq!(g_on.level28.conv1.weight.as_vec(), g_off.level28.conv1.weight.as_vec());
    let names: Vec<String> = on.scalars(&cfg).into_iter().map(|(t, _)| t).collect();
    assert!(names.contains(&tags::level_mode_seeking(7)) && names.contains(&tags::level_mode_seeking_ratio(7)));
    assert!(!off.scalars(&small(1)).iter().any(|(t, _)| t.contains("mode_seeking")));
}

/// LAPGAN through the composite ops (what a GPU runs) against the CPU's fast kernels:
/// four steps of every level, each depending on the weights the previous ones updated.
#[test]
fn lapgan_steps_through_the_composite_path_match_the_fast_path() {
    let cfg = small(4);
    let m = load_mnist(&cfg.data_dir, cfg.output_activation.range()).unwrap();
    let steps = |kernels: Kernels| {
        let cfg = Config { kernels, ..cfg.clone() };
        let mut data = Dataset::new(m.test.clone(), cfg.batch_size, cfg.seed).unwrap();
        let mut lapgan = Lapgan::build(Cpu::default(), &cfg);
        (0..4).map(|s| lapgan.train_step(&mut data, s)).collect::<Vec<_>>()
    };
    let (fast, composite) = (steps(Kernels::Fast), steps(Kernels::Composite));
    for (step, (f, c)) in fast.iter().zip(&composite).enumerate() {
        for ((tag, a), (_, b)) in f.record().into_iter().zip(c.record()) {
            assert!(
                (a - b).abs() <= 1e-3 * b.abs().max(1.0),
                "step {step} {tag}: fast {a} vs composite {b}"
            );
        }
    }
}
