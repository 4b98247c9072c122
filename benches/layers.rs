//! `cargo bench --bench layers -- [batch] [reps] [name]`: milliseconds (fastest of `reps`: the
//! least disturbed by a shared machine) and GFLOP/s of each
//! convolution of the article's G and D at a batch, forward, input gradient and weight
//! gradient, kernel by kernel
//! (`src/ops/kernels.rs`): where a training step's convolution time goes, and each as a
//! share of the machine's measured FMA peak over the threads the layers run on.

#[path = "support/fma.rs"]
mod fma;

use cgan::ops::direct;
use cgan::ops::kernels::{self, Window};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::time::Instant;

/// One convolution layer: `grid_ch` channels on the grid side, the window on the image side.
struct Layer {
    name: &'static str,
    /// A transposed convolution (image = output) rather than a convolution (image = input).
    transposed: bool,
    grid_ch: usize,
    win: Window,
}

/// A layer with `grid_ch` channels on the grid side (`grid x grid`) and an image side of
/// `image = (channels, side)`, seen through a `(kernel, stride, pad)` window.
fn layer(
    name: &'static str,
    transposed: bool,
    grid_ch: usize,
    image: (usize, usize),
    window: (usize, usize, usize),
    grid: usize,
) -> Layer {
    let (kernel, stride, pad) = window;
    Layer {
        name,
        transposed,
        grid_ch,
        win: Window {
            channels: image.0,
            height: image.1,
            width: image.1,
            kernel,
            stride,
            pad,
            grid_h: grid,
            grid_w: grid,
        },
    }
}

fn fastest_ms(reps: usize, mut f: impl FnMut()) -> f64 {
    f();
    let mut t: Vec<f64> = (0..reps)
        .map(|_| {
            let s = Instant::now();
            f();
            s.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    t.sort_by(f64::total_cmp);
    t[0]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let n = args.first().copied().unwrap_or(32);
    let reps = args.get(1).copied().unwrap_or(10);
    let layers = [
        layer("G up1", true, 8, (128, 8), (5, 2, 2), 4),
        layer("G up2", true, 128, (64, 19), (5, 2, 0), 8),
        layer("G up3", true, 64, (32, 23), (5, 1, 0), 19),
        layer("G up4", true, 32, (16, 27), (5, 1, 0), 23),
        layer("G out", true, 16, (1, 28), (2, 1, 0), 27),
        layer("D c1", false, 16, (1, 28), (3, 2, 1), 14),
        layer("D c2", false, 32, (16, 14), (3, 2, 1), 7),
        layer("D c3", false, 64, (32, 7), (3, 2, 1), 4),
        layer("D c4", false, 128, (65, 4), (3, 2, 1), 2),
    ];
    let mut rng = StdRng::seed_from_u64(0);
    let mut rand = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let (mut totals, isa) = ([0.0f64; 6], direct::Isa::best());
    let threads = rayon::current_num_threads();
    // The peak of as many cores as the layers' threads (the measured all-core peak shared
    // out per core).
    let peak = fma::peak().map(|(_, _, all, cores)| all / cores as f64 * threads.min(cores) as f64);
    if let Some(p) = peak {
        println!("peak of {threads} threads: {p:.1} GFLOP/s (benches/peak.rs)");
    }
    let share = |gflops: f64| peak.map_or(String::from("   -"), |p| format!("{:3.0}%", 100.0 * gflops / p));
    println!("batch {n}, {threads} threads; gemm = im2col/col2im + gemm (src/ops/kernels.rs), direct = src/ops/direct.rs on {isa:?}");
    println!("layer  pass      gemm_ms  GFLOP/s  of peak  direct_ms  GFLOP/s  of peak  direct/gemm");
    // A word that is not a number picks the layers whose name contains it.
    let only: Option<String> = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with('-') && a.parse::<usize>().is_err());
    for l in layers
        .iter()
        .filter(|l| only.as_ref().is_none_or(|o| l.name.contains(o.as_str())))
    {
        let w = &l.win;
        let image = rand(n * w.image_len());
        let grid = rand(n * l.grid_ch * w.cols());
        let weight = rand(l.grid_ch * w.rows());
        let bias = rand(l.grid_ch);
        let gflop = 2.0 * (n * l.grid_ch * w.rows() * w.cols()) as f64 / 1e9;
        let (mut out_img, mut out_grid, mut dw) =
            (vec![0.0; image.len()], vec![0.0; grid.len()], vec![0.0; weight.len()]);
        // Three passes, each by both kernels: forward, the gradient of the layer's input,
        // the weight gradient (for a transposed conv the input is the grid side).
        let times = if l.transposed {
            [
                fastest_ms(reps, || {
                    kernels::image_from_grid(w, &grid, &weight, l.grid_ch, &mut out_img)
                }),
                fastest_ms(reps, || {
                    direct::image_from_grid(isa, w, &grid, &weight, l.grid_ch, &mut out_img)
                }),
                fastest_ms(reps, || {
                    kernels::grid_from_image(w, &image, &weight, None, l.grid_ch, &mut out_grid)
                }),
                fastest_ms(reps, || {
                    direct::grid_from_image(isa, w, &image, &weight, None, l.grid_ch, &mut out_grid)
                }),
            ]
        } else {
            [
                fastest_ms(reps, || {
                    kernels::grid_from_image(w, &image, &weight, Some(&bias), l.grid_ch, &mut out_grid)
                }),
                fastest_ms(reps, || {
                    direct::grid_from_image(isa, w, &image, &weight, Some(&bias), l.grid_ch, &mut out_grid)
                }),
                fastest_ms(reps, || {
                    kernels::image_from_grid(w, &grid, &weight, l.grid_ch, &mut out_img)
                }),
                fastest_ms(reps, || {
                    direct::image_from_grid(isa, w, &grid, &weight, l.grid_ch, &mut out_img)
                }),
            ]
        };
        let dweight = [
            fastest_ms(reps, || kernels::weight_grad(w, &image, &grid, l.grid_ch, &mut dw)),
            fastest_ms(reps, || direct::weight_grad(isa, w, &image, &grid, l.grid_ch, &mut dw)),
        ];
        let times = [times[0], times[1], times[2], times[3], dweight[0], dweight[1]];
        for (t, v) in totals.iter_mut().zip(times) {
            *t += v;
        }
        for (pass, gemm, dir) in [
            ("forward", times[0], times[1]),
            ("d input", times[2], times[3]),
            ("d weight", times[4], times[5]),
        ] {
            let (a, b) = (gflop / gemm * 1e3, gflop / dir * 1e3);
            println!(
                "{:6} {pass:8} {gemm:9.2} {a:8.1} {:>8} {dir:10.2} {b:8.1} {:>8} {:12.2}",
                l.name,
                share(a),
                share(b),
                dir / gemm
            );
        }
    }
    for (pass, t) in ["forward", "d input", "d weight"].iter().zip(totals.chunks(2)) {
        println!(
            "total  {pass:8} {:9.2} {:26} {:10.2} {:26} {:.2}",
            t[0],
            "",
            t[1],
            "",
            t[1] / t[0]
        );
    }
}
