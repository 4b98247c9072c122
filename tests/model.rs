//! The article's tests, in Rust, for every preset and D variant: shapes of G and D first,
//! then that every parameter learns and that optimisation steps run and change the
//! weights.

mod common;

use common::{gan_cls, labels};

use cgan::config::{Activation, Config, DNorm, NoiseKind, OutputActivation, Preset};
use cgan::data::{Dataset, Split, PIXELS};
use cgan::device::Kernels;
use cgan::models::gan_cls::{Discriminator, DiscriminatorSpec, Gan, Generator};
use cgan::models::phases::Phase;
use cgan::models::{one_hot, sample_noise};
use cgan::nn::params;
use cgan::ops::batch_norm::Mode;
use dfdx::losses::binary_cross_entropy_with_logits_loss as bce;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use rstest::rstest;
use std::time::Duration;

/// D of `preset` (seeded).
fn discriminator(preset: Preset) -> Discriminator {
    disc(DiscriminatorSpec::of(
        preset.config().model.gan_cls().expect("a GAN-CLS preset"),
    ))
}

fn disc(spec: DiscriminatorSpec) -> Discriminator {
    Discriminator::new(&Cpu::seed_from_u64(0), spec, &mut StdRng::seed_from_u64(9))
}

/// Every combination of D's settings.
fn all_specs() -> Vec<DiscriminatorSpec> {
    let mut out = Vec::new();
    for norm in [DNorm::Batch, DNorm::None] {
        for activation in [Activation::Relu, Activation::LeakyRelu] {
            for minibatch_std in [false, true] {
                for spectral_norm in [false, true] {
                    for projection in [false, true] {
                        out.push(DiscriminatorSpec {
                            norm,
                            activation,
                            minibatch_std,
                            spectral_norm,
                            projection,
                        });
                    }
                }
            }
        }
    }
    out
}

fn random_images(dev: &Cpu, rng: &mut StdRng, n: usize) -> Tensor<(usize, Const<28>, Const<28>, Const<1>), f32, Cpu> {
    dev.tensor_from_vec(
        (0..n * PIXELS).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        (n, Const, Const, Const),
    )
}

#[rstest]
fn test_generate_image_with_condition(#[values(1, 7, 32)] n: usize) {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = Generator::<f32, Cpu>::build(&dev);
    let z = sample_noise(&dev, n, NoiseKind::Uniform, &mut rng);
    let c = one_hot(&dev, &labels(&mut rng, n));
    for mode in [Mode::Train, Mode::Eval] {
        let img = g.forward(z.clone(), c.clone(), mode, OutputActivation::Tanh, Kernels::Auto);
        assert_eq!(img.shape().concrete(), [n, 28, 28, 1]);
        assert!(
            img.as_vec().iter().all(|v| (-1.0..=1.0).contains(v)),
            "tanh output in [-1, 1]"
        );
    }
    let img = g.forward(z, c, Mode::Eval, OutputActivation::Sigmoid, Kernels::Auto);
    assert!(
        img.as_vec().iter().all(|v| (0.0..=1.0).contains(v)),
        "sigmoid output in [0, 1]"
    );
}

#[rstest]
fn test_discriminate_real_with_right_condition(
    #[values(1, 7, 32)] n: usize,
    #[values(Preset::Article, Preset::ModeSeeking)] preset: Preset,
) {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(2);
    let mut d = discriminator(preset);
    let logits = d.forward(
        random_images(&dev, &mut rng, n),
        one_hot(&dev, &labels(&mut rng, n)),
        Mode::Train,
        Kernels::Auto,
    );
    assert_eq!(logits.shape().concrete(), [n, 1]);
    assert!(logits.as_vec().iter().all(|v| v.is_finite()));
}

#[rstest]
fn test_discriminate_real_with_wrong_condition(
    #[values(1, 7, 32)] n: usize,
    #[values(Preset::Article, Preset::ModeSeeking)] preset: Preset,
) {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(3);
    let mut d = discriminator(preset);
    let right = labels(&mut rng, n);
    let wrong: Vec<u8> = right.iter().map(|l| (l + rng.gen_range(1..10)) % 10).collect();
    let images = random_images(&dev, &mut rng, n);
    let with_right = d.forward(images.clone(), one_hot(&dev, &right), Mode::Eval, Kernels::Auto);
    let with_wrong = d.forward(images, one_hot(&dev, &wrong), Mode::Eval, Kernels::Auto);
    assert_eq!(with_wrong.shape().concrete(), [n, 1]);
    // Matching-aware: the label reaches the logit.
    assert_ne!(with_right.as_vec(), with_wrong.as_vec());
}

#[rstest]
fn test_discriminate_generated_with_condition(
    #[values(1, 7, 32)] n: usize,
    #[values(Preset::Article, Preset::ModeSeeking)] preset: Preset,
) {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(4);
    let mut g = Generator::<f32, Cpu>::build(&dev);
    let mut d = discriminator(preset);
    let c = one_hot(&dev, &labels(&mut rng, n));
    let fake = g.forward(
        sample_noise(&dev, n, NoiseKind::Uniform, &mut rng),
        c.clone(),
        Mode::Train,
        OutputActivation::Tanh,
        Kernels::Auto,
    );
    assert_eq!(
        d.forward(fake, c, Mode::Train, Kernels::Auto).shape().concrete(),
        [n, 1]
    );
}

#[test]
fn parameter_counts_match_the_article_network_and_its_variants() {
    let dev = Cpu::default();
    assert_eq!(params::trainable_count(&Generator::<f32, Cpu>::build(&dev)), 335_913);
    assert_eq!(discriminator(Preset::Article).trainable_count(), 99_089);
    // Without BatchNorm: 2 x (16 + 32) scales and biases fewer.
    assert_eq!(discriminator(Preset::ModeSeeking).trainable_count(), 99_089 - 96);
    // The minibatch-std map is one more input channel of conv4: 128 x 3 x 3 weights.
    let mbstd = DiscriminatorSpec {
        minibatch_std: true,
        ..DiscriminatorSpec::default()
    };
    assert_eq!(disc(mbstd).trainable_count(), 99_089 + 1152);
    // Spectral norm and the activation add no trainable tensor.
    let sn = DiscriminatorSpec {
        spectral_norm: true,
        activation: Activation::LeakyRelu,
        ..DiscriminatorSpec::default()
    };
    assert_eq!(disc(sn).trainable_count(), 99_089);
    // Projection: a 10 x 512 class embedding.
    let proj = DiscriminatorSpec {
        projection: true,
        ..DiscriminatorSpec::default()
    };
    assert_eq!(disc(proj).trainable_count(), 99_089 + 5120);
}

#[test]
fn every_d_variant_keeps_the_shape_contract_and_its_settings_change_the_output() {
    let dev = Cpu::seed_from_u64(0);
    let mut rng = StdRng::seed_from_u64(12);
    let n = 6;
    let images = random_images(&dev, &mut rng, n);
    let c = one_hot(&dev, &labels(&mut rng, n));
    let mut outputs: Vec<Vec<f32>> = Vec::new();
    for spec in all_specs() {
        let mut d = disc(spec);
        assert_eq!(d.spec(), spec);
        let logits = d.forward(images.clone(), c.clone(), Mode::Train, Kernels::Auto);
        assert_eq!(logits.shape().concrete(), [n, 1], "{spec:?}");
        let v = logits.as_vec();
        assert!(v.iter().all(|x| x.is_finite()), "{spec:?}");
        assert!(
            !outputs.contains(&v),
            "{spec:?} gives the same logits as another variant"
        );
        outputs.push(v);
    }
}

fn assert_all_nonzero(what: &str, grads: Vec<params::Param>) {
    assert!(!grads.is_empty());
    for p in grads {
        assert!(
            p.values.iter().all(|v| v.is_finite()),
            "{what} {}: non-finite gradient",
            p.name
        );
        assert!(
            p.values.iter().any(|v| *v != 0.0),
            "{what} {}: gradient is all zero",
            p.name
        );
    }
}

#[rstest]
fn every_parameter_of_g_and_d_gets_a_gradient(#[values(0, 1, 2, 3, 4, 5, 6, 7)] part: usize) {
    // The 32 D variants in 8 parts of 4, so they run in parallel.
    for spec in all_specs().into_iter().skip(4 * part).take(4) {
        every_parameter_gets_a_gradient(spec);
    }
}

fn every_parameter_gets_a_gradient(spec: DiscriminatorSpec) {
    let dev = Cpu::seed_from_u64(5);
    let mut rng = StdRng::seed_from_u64(5);
    let n = 8;
    let mut g = Generator::<f32, Cpu>::build(&dev);
    let mut d = disc(spec);
    let c = one_hot(&dev, &labels(&mut rng, n));
    let z = sample_noise(&dev, n, NoiseKind::Uniform, &mut rng);

    // G's loss: fool D. The label branch must learn too.
    let fake = g.forward(
        z.clone().traced(g.alloc_grads()),
        c.clone(),
        Mode::Train,
        OutputActivation::Tanh,
        Kernels::Auto,
    );
    let grads = bce(
        d.forward(fake, c.clone(), Mode::Train, Kernels::Auto),
        dev.ones_like(&(n, Const)),
    )
    .backward();
    assert_all_nonzero(&format!("G with D {spec:?}"), params::grads(&g, &grads));

    // D's loss on real images with their labels.
    let real = random_images(&dev, &mut rng, n);
    let grads = bce(
        d.forward(real.traced(d.alloc_grads()), c, Mode::Train, Kernels::Auto),
        dev.ones_like(&(n, Const)),
    )
    .backward();
    assert_all_nonzero(&format!("D {spec:?}"), d.grads(&grads));
}

fn random_split(n: usize, seed: u64) -> Split {
    let mut rng = StdRng::seed_from_u64(seed);
    Split {
        pixels: (0..n * PIXELS).map(|_| rng.gen()).collect(),
        labels: (0..n).map(|_| rng.gen_range(0..10)).collect(),
        range: (-1.0, 1.0),
    }
}

#[rstest]
fn optimisation_steps_run_and_change_the_weights(#[values(Preset::Article, Preset::ModeSeeking)] preset: Preset) {
    let cfg = gan_cls(
        Config {
            batch_size: 8,
            ..preset.config()
        },
        |m| (m.spectral_norm, m.minibatch_std, m.projection) = (true, true, true),
    );
    let mut data = Dataset::new(random_split(64, 6), cfg.batch_size, cfg.seed).unwrap();
    let mut gan = Gan::new(&cfg);
    let (g0, d0) = (params::params(&gan.g), gan.d.params());
    let sn0 = gan.d.spectral.clone();
    assert_eq!(sn0.0.len(), 7, "conv1-4, label, out and proj are normalised");
    for step in 0..3 {
        let s = gan.train_step(&mut data, step);
        for v in [s.loss_g, s.loss_d, s.d_real_right, s.d_real_wrong, s.d_fake] {
            assert!(v.is_finite() && v > 0.0, "step {step}: loss {v}");
        }
        for p in [s.p_real_right, s.p_real_wrong, s.p_fake] {
            assert!((0.0..=1.0).contains(&p), "probability {p}");
        }
        if cfg.mode_seeking > 0.0 {
            assert!(s.mode_seeking > 0.0 && s.mode_seeking_ratio > 0.0, "{s:?}");
        } else {
            assert_eq!((s.mode_seeking, s.mode_seeking_ratio), (0.0, 0.0));
        }
    }
    assert_ne!(sn0, gan.d.spectral, "each D step runs a power iteration");
    // `make bench`'s breakdown: every phase of the three steps was timed.
    for phase in Phase::ALL {
        assert!(gan.phase_times.get(phase) > Duration::ZERO, "{phase:?} never timed");
    }
    gan.phase_times.reset();
    assert_eq!(gan.phase_times.get(Phase::GForward), Duration::ZERO);
    for (before, after) in [(g0, params::params(&gan.g)), (d0, gan.d.params())] {
        for (b, a) in before.iter().zip(&after) {
            if b.trainable {
                assert!(b.values != a.values, "{} did not change", b.name);
            }
        }
    }
}

#[test]
fn discriminator_learns_a_fixed_batch() {
    // With G's samples and wrong labels as negatives, D's loss on one repeated batch of
    // random "real" images must fall: the step's gradients point downhill.
    let cfg = Config {
        batch_size: 16,
        lr: 2e-3,
        ..Preset::Article.config()
    };
    let mut data = Dataset::new(random_split(16, 7), cfg.batch_size, cfg.seed).unwrap();
    let mut gan = Gan::new(&cfg);
    let first = gan.train_step(&mut data, 0).loss_d;
    let mut last = first;
    for step in 1..40 {
        last = gan.train_step(&mut data, step).loss_d;
    }
    assert!(last < 0.8 * first, "D loss {first} -> {last}");
}

#[test]
fn forward_pair_is_two_forwards_with_the_image_features_computed_once() {
    let dev = Cpu::seed_from_u64(3);
    let mut rng = StdRng::seed_from_u64(3);
    let n = 8;
    let real = random_images(&dev, &mut rng, n);
    let (right, wrong) = (one_hot(&dev, &labels(&mut rng, n)), one_hot(&dev, &labels(&mut rng, n)));
    for spec in all_specs() {
        let (mut paired, mut single) = (disc(spec), disc(spec));
        let (a, b) = paired.forward_pair(
            real.clone().traced(paired.alloc_grads()),
            (right.clone(), wrong.clone()),
            Mode::Train,
            Kernels::Auto,
        );
        let a1 = single.forward(
            real.clone().traced(single.alloc_grads()),
            right.clone(),
            Mode::Train,
            Kernels::Auto,
        );
        let b1 = single.forward(
            real.retaped::<OwnedTape<f32, Cpu>>(),
            wrong.clone(),
            Mode::Train,
            Kernels::Auto,
        );
        assert_eq!(a.as_vec(), a1.as_vec(), "{spec:?}: the right labels' logits");
        assert_eq!(b.as_vec(), b1.as_vec(), "{spec:?}: the wrong labels' logits");
        assert_ne!(a.as_vec(), b.as_vec(), "{spec:?}: the labels matter");
        let ones = dev.ones_like(&(n, Const));
        let g_pair = (bce(a, ones.clone()) + bce(b, dev.zeros_like(&(n, Const)))).backward();
        let g_single = (bce(a1, ones) + bce(b1, dev.zeros_like(&(n, Const)))).backward();
        // The trunk's gradient is the sum of the two heads' in another order: equal to
        // rounding.
        for (p, q) in paired.grads(&g_pair).iter().zip(single.grads(&g_single)) {
            assert_eq!(p.name, q.name);
            let scale = q.values.iter().fold(1e-3f32, |m, v| m.max(v.abs()));
            for (x, y) in p.values.iter().zip(&q.values) {
                assert!((x - y).abs() <= 1e-4 * scale, "{spec:?} {}: {x} vs {y}", p.name);
            }
        }
    }
}
