//! The article's shape tests and a training step on the *test device*: the CPU through
//! the composite ops (what a GPU runs) by default, or the GPU with
//! `CGAN_TEST_DEVICE=cuda cargo test --release --features cuda --test device`
//! (`scripts/gpu-check.sh`). Every device's result is compared with the CPU's fast path.

mod common;

use common::labels;

use cgan::config::{Activation, Config, DNorm, NoiseKind, OutputActivation, Preset};
use cgan::data::{Dataset, Split, PIXELS};
use cgan::device::{Kernels, ModelDevice};
use cgan::models::gan_cls::{Discriminator, DiscriminatorSpec, Gan, Generator};
use cgan::models::{one_hot, sample_noise};
use cgan::nn::params;
use cgan::ops::batch_norm::Mode;
use cgan::run::checkpoint;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

/// The kernels the test device runs: the composite ops (on a GPU the only ones).
const K: Kernels = Kernels::Composite;

/// Runs `$f(device)` on the device `CGAN_TEST_DEVICE` names (`cpu` when unset).
macro_rules! on_test_device {
    ($f:ident) => {
        match std::env::var("CGAN_TEST_DEVICE").as_deref().unwrap_or("cpu") {
            "cpu" => $f(Cpu::default()),
            #[cfg(feature = "cuda")]
            "cuda" => $f(cgan::device::cuda::open(0).expect("CGAN_TEST_DEVICE=cuda: a GPU")),
            other => panic!("CGAN_TEST_DEVICE={other}: use cpu, or cuda in a build with --features cuda"),
        }
    };
}

fn g_shapes<D: ModelDevice>(dev: D) {
    let mut rng = StdRng::seed_from_u64(1);
    let mut g = Generator::<f32, Cpu>::build(&Cpu::seed_from_u64(0)).to_device(&dev);
    for n in [1, 7, 32] {
        let z = sample_noise(&dev, n, NoiseKind::Uniform, &mut rng);
        let c = one_hot(&dev, &labels(&mut rng, n));
        for mode in [Mode::Train, Mode::Eval] {
            let img = g.forward(z.clone(), c.clone(), mode, OutputActivation::Tanh, K);
            assert_eq!(img.shape().concrete(), [n, 28, 28, 1]);
            assert!(img.as_vec().iter().all(|v| (-1.0..=1.0).contains(v)), "tanh range");
        }
    }
}

#[test]
fn test_generate_image_with_condition_on_the_test_device() {
    on_test_device!(g_shapes)
}

fn d_shapes<D: ModelDevice>(dev: D) {
    let mut rng = StdRng::seed_from_u64(2);
    for norm in [DNorm::Batch, DNorm::None] {
        for activation in [Activation::Relu, Activation::LeakyRelu] {
            for bits in 0..8u8 {
                let spec = DiscriminatorSpec {
                    norm,
                    activation,
                    minibatch_std: bits & 1 != 0,
                    spectral_norm: bits & 2 != 0,
                    projection: bits & 4 != 0,
                };
                let mut d = Discriminator::new(&dev, spec, &mut rng);
                for n in [1, 7] {
                    let x = dev.tensor_from_vec(
                        (0..n * PIXELS).map(|_| rng.gen_range(-1.0..1.0)).collect(),
                        (n, Const::<28>, Const::<28>, Const::<1>),
                    );
                    let logits = d.forward(x, one_hot(&dev, &labels(&mut rng, n)), Mode::Train, K);
                    assert_eq!(logits.shape().concrete(), [n, 1], "{spec:?}");
                    assert!(logits.as_vec().iter().all(|v| v.is_finite()), "{spec:?}");
                }
            }
        }
    }
}

#[test]
fn test_discriminate_with_condition_on_the_test_device_for_every_variant() {
    on_test_device!(d_shapes)
}

fn small(preset: Preset) -> (Config, Split) {
    let n = 8;
    let split = common::random_split(n);
    let cfg = Config {
        batch_size: n,
        kernels: K,
        ..preset.config()
    };
    (cfg, split)
}

/// Two steps of each preset on the device and on the CPU's fast path: the same losses;
/// then the device's checkpoint loads onto the CPU with every weight identical.
fn steps_match_the_cpu<D: ModelDevice>(dev: D) {
    for preset in Preset::gan_cls() {
        let (cfg, split) = small(preset);
        let mut on_device = Gan::on(dev.clone(), &cfg);
        let mut on_cpu = Gan::new(&Config {
            kernels: Kernels::Fast,
            ..cfg.clone()
        });
        let mut data = Dataset::new(split.clone(), cfg.batch_size, 0).expect("batch fits");
        let mut data_cpu = Dataset::new(split, cfg.batch_size, 0).expect("batch fits");
        for step in 0..2 {
            let (a, b) = (
                on_device.train_step(&mut data, step),
                on_cpu.train_step(&mut data_cpu, step),
            );
            for (name, x, y) in [
                ("loss_d", a.loss_d, b.loss_d),
                ("loss_g", a.loss_g, b.loss_g),
                ("p_fake", a.p_fake, b.p_fake),
            ] {
                assert!(
                    (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                    "{} step {step} {name}: device {x} vs cpu {y}",
                    preset.name()
                );
            }
        }
        let dir = std::env::temp_dir().join(format!("cgan-device-{}-{}", std::process::id(), preset.name()));
        checkpoint::save_dir(&dir, &on_device, 2).expect("save from the device");
        checkpoint::load(&dir, &mut on_cpu).expect("load onto the CPU");
        let _ = std::fs::remove_dir_all(&dir);
        let flat = |ps: Vec<params::Param>| ps.into_iter().flat_map(|p| p.values).collect::<Vec<f32>>();
        assert_eq!(flat(params::params(&on_cpu.g)), flat(params::params(&on_device.g)), "G");
        assert_eq!(flat(on_cpu.d.params()), flat(on_device.d.params()), "D");
        assert_eq!(on_cpu.opt_g, on_device.opt_g, "G's Adam state");
    }
}

#[test]
fn training_steps_on_the_test_device_match_the_cpu_and_its_checkpoint_loads_on_the_cpu() {
    on_test_device!(steps_match_the_cpu)
}

/// `--device cuda` in a build without CUDA: one line naming the fix, and no run directory.
#[cfg(not(feature = "cuda"))]
#[test]
fn device_cuda_without_a_cuda_build_is_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("cgan-no-cuda-{}", std::process::id()));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_cgan"))
        .args(["train", "--device", "cuda", "--steps", "1", "--run-dir"])
        .arg(&dir)
        .output()
        .expect("cgan runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("--features cuda") && err.contains("CUDA toolkit"), "{err}");
    assert!(!dir.exists(), "no run directory for a device that cannot be used");
}

#[test]
fn fast_kernels_on_a_gpu_are_a_config_error_naming_the_key() {
    let cfg = Config {
        device: cgan::device::DeviceKind::Cuda,
        kernels: Kernels::Fast,
        ..Config::default()
    };
    let err = cfg
        .validate()
        .expect_err("fast kernels exist on the CPU only")
        .to_string();
    assert!(
        err.contains("kernels = \"fast\"") && err.contains("\"composite\""),
        "{err}"
    );
    let cfg = Config {
        device: cgan::device::DeviceKind::Cuda,
        ..Config::default()
    };
    assert!(cfg.validate().is_ok(), "auto kernels are fine on a GPU");
}
