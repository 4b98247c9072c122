//! The machine's measured f32 FMA peak: independent accumulator chains of fused
//! multiply-adds, as wide as the CPU has (AVX-512, else AVX2 + FMA), enough chains to
//! cover the FMA latency on two FMA pipes. Shared by `benches/peak.rs` and
//! `benches/layers.rs` (which reports each layer as a share of it).

use std::time::Instant;

/// Accumulator chains: latency 4 x 2 pipes needs at least 8; 12 leaves headroom.
const CHAINS: usize = 12;

/// FLOP per chain per FMA instruction: `lanes` multiply-adds of 2 FLOP each.
fn flop(lanes: usize, iters: u64) -> f64 {
    (CHAINS * lanes * 2) as f64 * iters as f64
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn fma512(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm512_set1_ps(0.0); CHAINS];
    let a = _mm512_set1_ps(0.999_999);
    let b = _mm512_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm512_fmadd_ps(*v, a, b);
        }
    }
    acc.iter().map(|v| _mm512_reduce_add_ps(*v)).sum()
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn fma256(iters: u64) -> f32 {
    use std::arch::x86_64::*;
    let mut acc = [_mm256_set1_ps(0.0); CHAINS];
    let a = _mm256_set1_ps(0.999_999);
    let b = _mm256_set1_ps(1e-7);
    for _ in 0..iters {
        for v in acc.iter_mut() {
            *v = _mm256_fmadd_ps(*v, a, b);
        }
    }
    let mut out = [0.0f32; 8];
    let mut sum = 0.0;
    for v in acc {
        _mm256_storeu_ps(out.as_mut_ptr(), v);
        sum += out.iter().sum::<f32>();
    }
    sum
}

/// A kernel running `iters` rounds of [`CHAINS`] FMAs, returning a sum to keep it live.
type Kernel = fn(u64) -> f32;

/// The widest FMA this CPU runs: (name, lanes, kernel).
fn widest() -> Option<(&'static str, usize, Kernel)> {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the feature was detected at run time.
            return Some(("avx512", 16, |n| unsafe { fma512(n) }));
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the features were detected at run time.
            return Some(("avx2+fma", 8, |n| unsafe { fma256(n) }));
        }
    }
    None
}

/// GFLOP/s of `threads` threads each running `kernel` (best of `reps`).
fn gflops(kernel: Kernel, lanes: usize, threads: usize, reps: usize) -> f64 {
    let iters = 20_000_000u64;
    (0..reps)
        .map(|_| {
            let start = Instant::now();
            let sink: f32 = std::thread::scope(|s| {
                let hs: Vec<_> = (0..threads).map(|_| s.spawn(move || kernel(iters))).collect();
                hs.into_iter().map(|h| h.join().unwrap_or(0.0)).sum()
            });
            let secs = start.elapsed().as_secs_f64();
            std::hint::black_box(sink);
            flop(lanes, iters) * threads as f64 / secs / 1e9
        })
        .fold(0.0, f64::max)
}

/// The measured peak: (instruction set, GFLOP/s of one core, GFLOP/s of every core,
/// cores), or `None` without AVX2/AVX-512 FMA.
pub fn peak() -> Option<(&'static str, f64, f64, usize)> {
    let (name, lanes, kernel) = widest()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    Some((
        name,
        gflops(kernel, lanes, 1, 5),
        gflops(kernel, lanes, cores, 5),
        cores,
    ))
}
