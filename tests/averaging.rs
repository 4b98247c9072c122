//! The moving average of G's weights (`g_ema`): the arithmetic, that it leaves training
//! alone, that sampling uses it, and that checkpoints carry it to resume and generation.

use cgan::config::{Config, Preset};
use cgan::data::{Dataset, Split, PIXELS};
use cgan::models::gan_cls::Gan;
use cgan::models::gan_cls::Generator;
use cgan::nn::params;
use cgan::run::checkpoint;
use cgan::tools::generate::{generate, Layout};
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn data(seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let split = Split {
        pixels: (0..64 * PIXELS).map(|_| rng.gen()).collect(),
        labels: (0..64).map(|_| rng.gen_range(0..10)).collect(),
        range: (-1.0, 1.0),
    };
    Dataset::new(split, 8, 1).unwrap()
}

fn cfg(g_ema: f64) -> Config {
    let mut cfg = Config {
        batch_size: 8,
        ..Preset::ModeSeeking.config()
    };
    if let cgan::config::ModelConfig::GanCls(m) = &mut cfg.model {
        m.g_ema = g_ema;
    }
    cfg
}

/// The host's blend (the CPU's) and the in-place one a GPU runs.
#[rstest::rstest]
#[case::on_the_host(params::blend::<Generator<f32, Cpu>, Cpu>)]
#[case::on_the_device(params::blend_on_device::<Generator<f32, Cpu>, Cpu>)]
fn blend_is_an_exponential_moving_average_of_every_tensor(
    #[case] blend: fn(&mut Generator<f32, Cpu>, &Generator<f32, Cpu>, f32),
) {
    let dev = Cpu::seed_from_u64(0);
    let mut target = Generator::<f32, Cpu>::build(&dev);
    let source = Generator::<f32, Cpu>::build(&dev);
    let (t0, s0) = (params::params(&target), params::params(&source));
    blend(&mut target, &source, 0.75);
    for ((t, s), after) in t0.iter().zip(&s0).zip(params::params(&target)) {
        for ((a, b), c) in t.values.iter().zip(&s.values).zip(&after.values) {
            assert!((0.75 * a + 0.25 * b - c).abs() < 1e-6, "{}", t.name);
        }
    }
    assert_eq!(s0, params::params(&source), "the source is left alone");
}

#[test]
fn the_decay_warms_up_to_the_configured_value_and_never_passes_it() {
    assert!(
        (params::ema_decay(0.999, 0) - 0.1).abs() < 1e-12,
        "first update mostly takes G"
    );
    let decays: Vec<f64> = (0..20_000).map(|t| params::ema_decay(0.999, t)).collect();
    assert!(decays.windows(2).all(|w| w[0] <= w[1]), "non-decreasing");
    assert!((params::ema_decay(0.999, 2000) - 2001.0 / 2010.0).abs() < 1e-12);
    assert_eq!(params::ema_decay(0.999, 19_999), 0.999);
    assert_eq!(params::ema_decay(0.5, 100), 0.5);
}

#[test]
fn the_average_follows_g_without_changing_training_and_is_what_samples() {
    let (mut plain, mut averaged) = (Gan::new(&cfg(0.0)), Gan::new(&cfg(0.9)));
    let (mut da, mut db) = (data(3), data(3));
    assert!(plain.g_ema.is_none());
    assert_eq!(
        params::params(averaged.g_ema.as_ref().unwrap()),
        params::params(&averaged.g),
        "starts as G"
    );
    for step in 0..3 {
        assert_eq!(plain.train_step(&mut da, step), averaged.train_step(&mut db, step));
    }
    assert_eq!(
        params::params(&plain.g),
        params::params(&averaged.g),
        "training is unchanged"
    );
    let ema = params::params(averaged.g_ema.as_ref().unwrap());
    assert_ne!(ema, params::params(&averaged.g), "the average lags G");
    assert_eq!(params::params(averaged.sampler()), ema, "sampling uses the average");
    assert_eq!(params::params(plain.sampler()), params::params(&plain.g));
}

#[test]
fn checkpoints_carry_the_average_to_resume_and_to_generation() {
    let dir = std::env::temp_dir().join(format!("cgan-ema-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut gan = Gan::new(&cfg(0.9));
    let mut d = data(4);
    for step in 0..2 {
        gan.train_step(&mut d, step);
    }
    let ck = dir.join("ck");
    checkpoint::save_dir(&ck, &gan, 2).unwrap();
    assert!(ck.join(cgan::models::checkpoint::G_EMA_FILE).is_file());

    let mut back = Gan::new(&cfg(0.9));
    checkpoint::load(&ck, &mut back).unwrap();
    assert_eq!(
        params::params(back.g_ema.as_ref().unwrap()),
        params::params(gan.g_ema.as_ref().unwrap())
    );
    let (mut g, how) = cgan::models::registry::load_generator(&ck).unwrap();
    assert!(how.averaged);
    assert_eq!(g.weights(), params::params(gan.g_ema.as_ref().unwrap()));
    let mut sampler = gan.g_ema.clone().unwrap();
    assert_eq!(
        generate(g.as_mut(), &how, Layout::All, 1, 0).to_png(),
        generate(&mut sampler, &how, Layout::All, 1, 0).to_png()
    );

    // Without the average in the config, the checkpoint is another setting: refused.
    let err = checkpoint::load(&ck, &mut Gan::new(&cfg(0.0))).unwrap_err().to_string();
    assert!(err.contains("averaged"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_hinge_loss_gives_d_hinge_terms_and_trains() {
    use cgan::config::AdversarialLoss;
    use cgan::device::Kernels;
    use cgan::models::one_hot;
    use cgan::ops::batch_norm::Mode;
    use dfdx::prelude::*;
    let mut cfg = cfg(0.999);
    if let cgan::config::ModelConfig::GanCls(m) = &mut cfg.model {
        m.adversarial_loss = AdversarialLoss::Hinge;
    }
    // Two models from one seed: `untouched` keeps D's initial weights, which the first D
    // step's terms were computed with.
    let (mut gan, mut untouched) = (Gan::new(&cfg), Gan::new(&cfg));
    let mut d = data(5);
    let first = gan.train_step(&mut d, 0);
    let b = gan.last_batch().clone();
    let dev = Cpu::default();
    let real = dev.tensor_from_vec(b.images.clone(), (b.labels.len(), Const, Const, Const));
    let conds = (one_hot(&dev, &b.labels), one_hot(&dev, &b.wrong_labels));
    let (rr, rw) = untouched.d.forward_pair(real, conds, Mode::Train, Kernels::Auto);
    let mean = |v: Vec<f32>| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let want_rr = mean(rr.as_vec().iter().map(|l| (1.0 - l).max(0.0)).collect());
    let want_rw = mean(rw.as_vec().iter().map(|l| (1.0 + l).max(0.0)).collect());
    assert!(
        (first.d_real_right as f64 - want_rr).abs() < 1e-5,
        "{} vs {want_rr}",
        first.d_real_right
    );
    assert!(
        (first.d_real_wrong as f64 - want_rw).abs() < 1e-5,
        "{} vs {want_rw}",
        first.d_real_wrong
    );
    // The preset's d_loss (reed) still weighs the three terms.
    let reed = first.d_real_right + (first.d_real_wrong + first.d_fake) / 2.0;
    assert!((first.loss_d - reed).abs() < 1e-5);
    // At initialisation the logits are near 0: every hinge term is near 1 (BCE's: ln 2).
    assert!((first.d_fake - 1.0).abs() < 0.2, "{}", first.d_fake);
    for step in 1..20 {
        let s = gan.train_step(&mut d, step);
        assert!(s.loss_d.is_finite() && s.loss_g.is_finite() && s.loss_d >= 0.0, "{s:?}");
    }
}
