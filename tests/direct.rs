//! The direct convolution kernels (`cgan::ops::direct`) against naive f64 loops of the
//! three window products, on every instruction set this CPU runs: every convolution
//! shape the models use (G, D, LAPGAN, the judge), odd sizes, stride 3, batch 1. Outputs
//! are accumulated into, so each starts from random values.

mod common;

use cgan::ops::direct::{self, Isa};
use cgan::ops::kernels::{self, Window};
use common::{random, rel_err, to64};
use rand::{rngs::StdRng, SeedableRng};

/// f32 sums of up to a few thousand products of values in [-1, 1].
const TOL: f64 = 2e-6;

/// A convolution's window: input `(channels, h, w)` seen by a `k x k` kernel.
fn conv(channels: usize, (h, w): (usize, usize), k: usize, stride: usize, pad: usize) -> Window {
    Window {
        channels,
        height: h,
        width: w,
        kernel: k,
        stride,
        pad,
        grid_h: (h + 2 * pad - k) / stride + 1,
        grid_w: (w + 2 * pad - k) / stride + 1,
    }
}

/// A transposed convolution's window: input `(h, w)` (the grid), `channels` outputs.
fn tconv(channels: usize, (h, w): (usize, usize), k: usize, stride: usize, pad: usize, out_pad: usize) -> Window {
    Window {
        channels,
        height: (h - 1) * stride + k + out_pad - 2 * pad,
        width: (w - 1) * stride + k + out_pad - 2 * pad,
        kernel: k,
        stride,
        pad,
        grid_h: h,
        grid_w: w,
    }
}

/// `(name, batch, grid channels, window)` of every case.
fn cases() -> Vec<(&'static str, usize, usize, Window)> {
    vec![
        ("G up1", 2, 8, tconv(128, (4, 4), 5, 2, 2, 1)),
        ("G up2", 2, 128, tconv(64, (8, 8), 5, 2, 0, 0)),
        ("G up3", 2, 64, tconv(32, (19, 19), 5, 1, 0, 0)),
        ("G up4", 2, 32, tconv(16, (23, 23), 5, 1, 0, 0)),
        ("G out", 2, 16, tconv(1, (27, 27), 2, 1, 0, 0)),
        ("D conv1", 3, 16, conv(1, (28, 28), 3, 2, 1)),
        ("D conv2", 3, 32, conv(16, (14, 14), 3, 2, 1)),
        ("D conv3", 3, 64, conv(32, (7, 7), 3, 2, 1)),
        ("D conv4 (label map)", 3, 128, conv(65, (4, 4), 3, 2, 1)),
        ("D conv4 (minibatch std)", 3, 128, conv(66, (4, 4), 3, 2, 1)),
        ("LAPGAN stride 1", 2, 32, conv(3, (14, 14), 3, 1, 1)),
        ("LAPGAN stride 2", 2, 32, conv(32, (14, 14), 3, 2, 1)),
        ("LAPGAN out", 2, 1, conv(32, (28, 28), 3, 1, 1)),
        ("judge conv1", 1, 32, conv(1, (28, 28), 3, 1, 1)),
        ("batch 1, odd sides", 1, 5, conv(3, (7, 5), 3, 2, 1)),
        ("17 grid channels", 2, 17, conv(19, (9, 6), 4, 1, 2)),
        ("stride 3 transposed", 2, 7, tconv(9, (3, 5), 4, 3, 1, 2)),
        ("unread image rows", 1, 4, conv(2, (8, 8), 3, 2, 0)),
    ]
}

/// Image row/column of tap `t` (along one axis) at grid position `p`, if inside.
fn at(p: usize, t: usize, win: &Window, size: usize) -> Option<usize> {
    (p * win.stride + t).checked_sub(win.pad).filter(|v| *v < size)
}

/// Calls `f(grid index, image index, weight index)` for every product term of one sample.
fn each_term(win: &Window, grid_ch: usize, mut f: impl FnMut(usize, usize, usize)) {
    let (k, cols) = (win.kernel, win.cols());
    for g in 0..grid_ch {
        for c in 0..win.channels {
            for ky in 0..k {
                for kx in 0..k {
                    for gy in 0..win.grid_h {
                        let Some(y) = at(gy, ky, win, win.height) else { continue };
                        for gx in 0..win.grid_w {
                            let Some(x) = at(gx, kx, win, win.width) else { continue };
                            f(
                                g * cols + gy * win.grid_w + gx,
                                (c * win.height + y) * win.width + x,
                                (g * win.channels + c) * k * k + ky * k + kx,
                            );
                        }
                    }
                }
            }
        }
    }
}

struct Case {
    name: &'static str,
    batch: usize,
    grid_ch: usize,
    win: Window,
    image: Vec<f32>,
    grid: Vec<f32>,
    weight: Vec<f32>,
    bias: Vec<f32>,
}

impl Case {
    fn new((name, batch, grid_ch, win): (&'static str, usize, usize, Window), seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        Case {
            name,
            batch,
            grid_ch,
            win,
            image: random(&mut rng, batch * win.image_len()),
            grid: random(&mut rng, batch * grid_ch * win.cols()),
            weight: random(&mut rng, grid_ch * win.rows()),
            bias: random(&mut rng, grid_ch),
        }
    }

    fn grid_from_image(&self, start: &[f32]) -> Vec<f64> {
        let (gl, il) = (self.grid_ch * self.win.cols(), self.win.image_len());
        let mut out = to64(start);
        for n in 0..self.batch {
            for (i, v) in out[n * gl..(n + 1) * gl].iter_mut().enumerate() {
                *v += self.bias[i / self.win.cols()] as f64;
            }
            each_term(&self.win, self.grid_ch, |g, i, w| {
                out[n * gl + g] += self.weight[w] as f64 * self.image[n * il + i] as f64;
            });
        }
        out
    }

    fn image_from_grid(&self, start: &[f32]) -> Vec<f64> {
        let (gl, il) = (self.grid_ch * self.win.cols(), self.win.image_len());
        let mut out = to64(start);
        for n in 0..self.batch {
            each_term(&self.win, self.grid_ch, |g, i, w| {
                out[n * il + i] += self.weight[w] as f64 * self.grid[n * gl + g] as f64;
            });
        }
        out
    }

    fn weight_grad(&self, start: &[f32]) -> Vec<f64> {
        let (gl, il) = (self.grid_ch * self.win.cols(), self.win.image_len());
        let mut out = to64(start);
        for n in 0..self.batch {
            each_term(&self.win, self.grid_ch, |g, i, w| {
                out[w] += self.grid[n * gl + g] as f64 * self.image[n * il + i] as f64;
            });
        }
        out
    }
}

fn check(what: &str, case: &Case, isa: Isa, got: &[f32], want: &[f64]) {
    check_within(TOL, what, case, isa, got, want);
}

fn check_within(tol: f64, what: &str, case: &Case, isa: Isa, got: &[f32], want: &[f64]) {
    let e = rel_err(got, want);
    assert!(e <= tol, "{what} of {} on {isa:?}: relative error {e:.2e}", case.name);
}

#[test]
fn direct_kernels_match_f64_loops_on_every_model_shape_and_instruction_set() {
    let isas = Isa::supported();
    assert_eq!(isas.last(), Some(&Isa::Portable), "the portable kernels always run");
    for (i, spec) in cases().into_iter().enumerate() {
        let case = Case::new(spec, i as u64);
        let mut rng = StdRng::seed_from_u64(100 + i as u64);
        let grid0 = random(&mut rng, case.grid.len());
        let image0 = random(&mut rng, case.image.len());
        let weight0 = random(&mut rng, case.weight.len());
        let want = (
            case.grid_from_image(&grid0),
            case.image_from_grid(&image0),
            case.weight_grad(&weight0),
        );
        for &isa in isas {
            let mut grid = grid0.clone();
            direct::grid_from_image(
                isa,
                &case.win,
                &case.image,
                &case.weight,
                Some(&case.bias),
                case.grid_ch,
                &mut grid,
            );
            check("grid_from_image", &case, isa, &grid, &want.0);
            let mut image = image0.clone();
            direct::image_from_grid(isa, &case.win, &case.grid, &case.weight, case.grid_ch, &mut image);
            check("image_from_grid", &case, isa, &image, &want.1);
            let mut weight = weight0.clone();
            direct::weight_grad(isa, &case.win, &case.image, &case.grid, case.grid_ch, &mut weight);
            check("weight_grad", &case, isa, &weight, &want.2);
        }
    }
}

#[test]
fn direct_kernels_agree_with_the_gemm_kernels() {
    // Both sides are f32 sums, each within TOL of the exact value.
    let check = |what: &str, case: &Case, isa: Isa, got: &[f32], want: &[f64]| {
        check_within(2.0 * TOL, what, case, isa, got, want)
    };
    let isa = Isa::best();
    for (i, spec) in cases().into_iter().enumerate() {
        let case = Case::new(spec, 50 + i as u64);
        let (gl, il) = (
            case.batch * case.grid_ch * case.win.cols(),
            case.batch * case.win.image_len(),
        );
        let (mut a, mut b) = (vec![0.0; gl], vec![0.0; gl]);
        direct::grid_from_image(isa, &case.win, &case.image, &case.weight, None, case.grid_ch, &mut a);
        kernels::grid_from_image(&case.win, &case.image, &case.weight, None, case.grid_ch, &mut b);
        check("grid_from_image vs gemm", &case, isa, &a, &to64(&b));
        let (mut a, mut b) = (vec![0.0; il], vec![0.0; il]);
        direct::image_from_grid(isa, &case.win, &case.grid, &case.weight, case.grid_ch, &mut a);
        kernels::image_from_grid(&case.win, &case.grid, &case.weight, case.grid_ch, &mut b);
        check("image_from_grid vs gemm", &case, isa, &a, &to64(&b));
        let (mut a, mut b) = (vec![0.0; case.weight.len()], vec![0.0; case.weight.len()]);
        direct::weight_grad(isa, &case.win, &case.image, &case.grid, case.grid_ch, &mut a);
        kernels::weight_grad(&case.win, &case.image, &case.grid, case.grid_ch, &mut b);
        check("weight_grad vs gemm", &case, isa, &a, &to64(&b));
    }
}

#[test]
fn direct_kernels_give_the_same_bits_on_any_thread_count() {
    let case = Case::new(cases()[2], 9);
    let run = |threads: usize| {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(threads).build().unwrap();
        pool.install(|| {
            let isa = Isa::best();
            let mut grid = vec![0.0; case.grid.len()];
            direct::grid_from_image(isa, &case.win, &case.image, &case.weight, None, case.grid_ch, &mut grid);
            let mut image = vec![0.0; case.image.len()];
            direct::image_from_grid(isa, &case.win, &case.grid, &case.weight, case.grid_ch, &mut image);
            let mut weight = vec![0.0; case.weight.len()];
            direct::weight_grad(isa, &case.win, &case.image, &case.grid, case.grid_ch, &mut weight);
            (grid, image, weight)
        })
    };
    let one = run(1);
    for threads in [2, 3, 5] {
        assert!(run(threads) == one, "{threads} threads changed the bits");
    }
}
