//! `make bench`: milliseconds per GAN-CLS training step (batch 32, random images, the
//! same work as `../shared/bench/gan_torch.py`) as a median, where the time goes phase by
//! phase, how many cores were busy, and G's forward+backward alone.
//! Usage: `cargo bench --bench step -- [batch] [steps] [warmup] [preset] [kernels] [shared] [cuda]`
//! (preset: `article`, the reference's network, by default; kernels: `auto`, `fast` or
//! `composite`; `shared`: the preset with `shared_fake = true`, G run once per step;
//! `cuda`: on the GPU, in a build with `--features cuda`, its phases timed in a second
//! pass that waits for the device at every phase boundary).

use cgan::config::{Config, NoiseKind, OutputActivation, Preset};
use cgan::data::{Dataset, Split, PIXELS};
use cgan::device::{DeviceKind, Kernels, ModelDevice};
use cgan::models::gan_cls::Gan;
use cgan::models::phases::Phase;
use cgan::models::{one_hot, sample_noise};
use cgan::ops::batch_norm::Mode;
use clap::ValueEnum;
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// CPU seconds this process has used (user + system), from `/proc/self/stat`; 0 where
/// that file does not exist.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name, counting
    // from the state at 0, in clock ticks (100 per second on Linux).
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let preset = std::env::args()
        .skip(1)
        .find_map(|a| Preset::from_str(&a, false).ok())
        .unwrap_or(Preset::Article);
    let n = args.first().copied().unwrap_or(32);
    let steps = args.get(1).copied().unwrap_or(50);
    let warm = args.get(2).copied().unwrap_or(5);
    let mut rng = StdRng::seed_from_u64(0);
    let split = Split {
        pixels: (0..n * 4 * PIXELS).map(|_| rng.gen()).collect(),
        labels: (0..n * 4).map(|_| rng.gen_range(0..10)).collect(),
        range: (-1.0, 1.0),
    };
    let kernels = std::env::args()
        .skip(1)
        .find_map(|a| Kernels::from_str(&a, false).ok())
        .unwrap_or_default();
    let shared_fake = std::env::args().skip(1).any(|a| a == "shared");
    let mut cfg = Config {
        batch_size: n,
        kernels,
        ..preset.config()
    };
    if let cgan::config::ModelConfig::GanCls(m) = &mut cfg.model {
        m.shared_fake = shared_fake;
    }
    let data = Dataset::new(split, n, 0).expect("bench batch fits its data");
    let label = format!("{}{}", preset.name(), if shared_fake { " shared_fake" } else { "" });
    if std::env::args().skip(1).any(|a| a == "cuda") {
        #[cfg(feature = "cuda")]
        {
            let dev = cgan::device::cuda::open(0).unwrap_or_else(|e| panic!("{e}"));
            return bench(Gan::on(dev, &cfg), data, &label, (n, steps, warm), &mut rng);
        }
        #[cfg(not(feature = "cuda"))]
        panic!("`cuda` needs a build with --features cuda");
    }
    bench(Gan::new(&cfg), data, &label, (n, steps, warm), &mut rng);
}

/// Times `gan`'s step and G's forward+backward and prints them; `(n, steps, warm)`: batch,
/// timed steps, warm-up steps.
fn bench<D: ModelDevice>(
    mut gan: Gan<D>,
    mut data: Dataset,
    label: &str,
    (n, steps, warm): (usize, usize, usize),
    rng: &mut StdRng,
) {
    let mut times = Vec::new();
    let (mut wall, mut cpu) = (Instant::now(), cpu_seconds());
    for step in 0..(warm + steps) as u64 {
        if step == warm as u64 {
            gan.phase_times.reset();
            (wall, cpu) = (Instant::now(), cpu_seconds());
        }
        let t = Instant::now();
        std::hint::black_box(gan.train_step(&mut data, step));
        if step >= warm as u64 {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    gan.dev.synchronize();
    let cores_busy = (cpu_seconds() - cpu) / wall.elapsed().as_secs_f64();
    let fastest_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let step_ms = median(times);
    if D::KIND != DeviceKind::Cpu {
        // The host only launches work: time the phases again, waiting at each boundary.
        gan.phase_times.synchronised = true;
        gan.phase_times.reset();
        for step in 0..steps as u64 {
            std::hint::black_box(gan.train_step(&mut data, (warm + steps) as u64 + step));
        }
    }
    let phases: Vec<String> = Phase::ALL
        .iter()
        .map(|&p| {
            format!(
                "{}={:.1}",
                p.name(),
                gan.phase_times.get(p).as_secs_f64() * 1e3 / steps as f64
            )
        })
        .collect();

    let dev = gan.dev.clone();
    let mut times = Vec::new();
    for i in 0..warm + steps {
        let z = sample_noise(&dev, n, NoiseKind::Uniform, rng);
        let c = one_hot(&dev, &(0..n).map(|_| rng.gen_range(0..10)).collect::<Vec<u8>>());
        let t = Instant::now();
        let img = gan.g.forward(
            z.traced(gan.g.alloc_grads()),
            c,
            Mode::Train,
            OutputActivation::Tanh,
            gan.kernels,
        );
        std::hint::black_box(img.square().mean().backward());
        dev.synchronize();
        if i >= warm {
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "cgan preset={label} device={} batch={n} steps={steps} median_ms={step_ms:.2} min_ms={fastest_ms:.2} g_fwd_bwd_median_ms={:.2} threads={} cores_busy={cores_busy:.2}",
        D::KIND.name(),
        median(times),
        rayon::current_num_threads()
    );
    println!("  phases_mean_ms {}", phases.join(" "));
}
