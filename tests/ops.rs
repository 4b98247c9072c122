//! The project's conv and batch-norm ops against naive f64 reference loops: exact small
//! cases by hand, forward values, and gradients by finite differences.

mod common;

use common::{random, rel_err, to64};

use cgan::ops::batch_norm::{batch_norm2d, relu_batch_norm2d, Mode};
use cgan::ops::conv::{conv2d, conv_transpose2d, ConvKernels};
use cgan::ops::Img;
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::*;
use rand::{rngs::StdRng, SeedableRng};
use rstest::rstest;

const TOL: f64 = 1e-4;

#[derive(Clone, Copy, Debug)]
struct Geom {
    n: usize,
    cin: usize,
    cout: usize,
    h: usize,
    w: usize,
    k: usize,
    s: usize,
    p: usize,
    op: usize,
}

impl Geom {
    fn conv_out(&self) -> (usize, usize) {
        (
            (self.h + 2 * self.p - self.k) / self.s + 1,
            (self.w + 2 * self.p - self.k) / self.s + 1,
        )
    }
    fn convt_out(&self) -> (usize, usize) {
        (
            (self.h - 1) * self.s + self.k + self.op - 2 * self.p,
            (self.w - 1) * self.s + self.k + self.op - 2 * self.p,
        )
    }
}

/// y[n][o][i][j] = b[o] + sum x[n][c][i s + ki - p][j s + kj - p] w[o][c][ki][kj]
fn naive_conv(g: &Geom, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.conv_out();
    let mut y = vec![0.0; g.n * g.cout * oh * ow];
    for n in 0..g.n {
        for o in 0..g.cout {
            for i in 0..oh {
                for j in 0..ow {
                    let mut acc = b[o];
                    for c in 0..g.cin {
                        for ki in 0..g.k {
                            for kj in 0..g.k {
                                let (ii, jj) = (
                                    (i * g.s + ki) as isize - g.p as isize,
                                    (j * g.s + kj) as isize - g.p as isize,
                                );
                                if ii >= 0 && jj >= 0 && (ii as usize) < g.h && (jj as usize) < g.w {
                                    acc += x[((n * g.cin + c) * g.h + ii as usize) * g.w + jj as usize]
                                        * w[((o * g.cin + c) * g.k + ki) * g.k + kj];
                                }
                            }
                        }
                    }
                    y[((n * g.cout + o) * oh + i) * ow + j] = acc;
                }
            }
        }
    }
    y
}

/// y[n][o][i s + ki - p][j s + kj - p] += x[n][c][i][j] w[c][o][ki][kj], plus b[o].
fn naive_convt(g: &Geom, x: &[f64], w: &[f64], b: &[f64]) -> Vec<f64> {
    let (oh, ow) = g.convt_out();
    let mut y = vec![0.0; g.n * g.cout * oh * ow];
    for n in 0..g.n {
        for o in 0..g.cout {
            for v in &mut y[(n * g.cout + o) * oh * ow..][..oh * ow] {
                *v = b[o];
            }
        }
        for c in 0..g.cin {
            for i in 0..g.h {
                for j in 0..g.w {
                    let xv = x[((n * g.cin + c) * g.h + i) * g.w + j];
                    for o in 0..g.cout {
                        for ki in 0..g.k {
                            for kj in 0..g.k {
                                let (ii, jj) = (
                                    (i * g.s + ki) as isize - g.p as isize,
                                    (j * g.s + kj) as isize - g.p as isize,
                                );
                                if ii >= 0 && jj >= 0 && (ii as usize) < oh && (jj as usize) < ow {
                                    y[((n * g.cout + o) * oh + ii as usize) * ow + jj as usize] +=
                                        xv * w[((c * g.cout + o) * g.k + ki) * g.k + kj];
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    y
}

/// Gradient of `sum(r * f(args))` with respect to `args[which]`. `f` is linear in each
/// argument, so a unit forward difference in f64 is exact up to rounding.
fn linear_grad(f: &dyn Fn(&[Vec<f64>]) -> Vec<f64>, args: &[Vec<f64>], which: usize, r: &[f64]) -> Vec<f64> {
    let loss = |a: &[Vec<f64>]| f(a).iter().zip(r).map(|(y, r)| y * r).sum::<f64>();
    let base = loss(args);
    (0..args[which].len())
        .map(|k| {
            let mut a = args.to_vec();
            a[which][k] += 1.0;
            loss(&a) - base
        })
        .collect()
}

type WeightGrad = Box<dyn Fn(&Gradients<f32, Cpu>) -> Vec<f32>>;

struct OpResult {
    y: Vec<f32>,
    dx: Vec<f32>,
    dw: Vec<f32>,
    db: Vec<f32>,
    r: Vec<f32>,
}

fn run_conv<const I: usize, const O: usize, const K: usize>(
    how: ConvKernels,
    g: &Geom,
    transposed: bool,
    seed: u64,
) -> (OpResult, [Vec<f32>; 3]) {
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(seed);
    let xv = random(&mut rng, g.n * I * g.h * g.w);
    let wv = random(&mut rng, O * I * K * K);
    let bv = random(&mut rng, O);
    let x = dev.tensor_from_vec(xv.clone(), (g.n, Const::<I>, g.h, g.w));
    let b = dev.tensor_from_vec(bv.clone(), (Const::<O>,));
    let grads = Gradients::leaky();
    let (y, weight_grad): (Tensor<Img<O>, f32, Cpu, OwnedTape<f32, Cpu>>, WeightGrad) = if transposed {
        let w = dev.tensor_from_vec(wv.clone(), (Const::<I>, Const::<O>, Const::<K>, Const::<K>));
        let y = conv_transpose2d(how, x.clone().traced(grads), &w, &b, g.s, g.p, g.op);
        (y, Box::new(move |gr| gr.get(&w).as_vec()))
    } else {
        let w = dev.tensor_from_vec(wv.clone(), (Const::<O>, Const::<I>, Const::<K>, Const::<K>));
        let y = conv2d(how, x.clone().traced(grads), &w, &b, g.s, g.p);
        (y, Box::new(move |gr| gr.get(&w).as_vec()))
    };
    let yv = y.retaped::<NoneTape>().as_vec();
    let r = random(&mut rng, yv.len());
    let rt = dev.tensor_from_vec(r.clone(), *y.shape());
    let gr = (y * rt).sum().backward();
    let dw = weight_grad(&gr);
    assert_eq!(dw.len(), O * I * K * K);
    (
        OpResult {
            y: yv,
            dx: gr.get(&x).as_vec(),
            dw,
            db: gr.get(&b).as_vec(),
            r,
        },
        [xv, wv, bv],
    )
}

fn check_conv<const I: usize, const O: usize, const K: usize>(g: Geom, transposed: bool) {
    let g = Geom {
        cin: I,
        cout: O,
        k: K,
        ..g
    };
    for how in [ConvKernels::Gemm, ConvKernels::direct()] {
        check_conv_with::<I, O, K>(how, g, transposed);
    }
}

fn check_conv_with<const I: usize, const O: usize, const K: usize>(how: ConvKernels, g: Geom, transposed: bool) {
    let (res, [x, w, b]) = run_conv::<I, O, K>(how, &g, transposed, 7);
    let f = move |a: &[Vec<f64>]| {
        if transposed {
            naive_convt(&g, &a[0], &a[1], &a[2])
        } else {
            naive_conv(&g, &a[0], &a[1], &a[2])
        }
    };
    let args = [to64(&x), to64(&w), to64(&b)];
    let (out_h, out_w) = if transposed { g.convt_out() } else { g.conv_out() };
    assert_eq!(res.y.len(), g.n * O * out_h * out_w, "output shape for {g:?}");
    assert!(
        rel_err(&res.y, &f(&args)) <= TOL,
        "forward {g:?} {how:?}: {}",
        rel_err(&res.y, &f(&args))
    );
    let r = to64(&res.r);
    for (name, which, got) in [("input", 0, &res.dx), ("weight", 1, &res.dw), ("bias", 2, &res.db)] {
        let want = linear_grad(&f, &args, which, &r);
        let e = rel_err(got, &want);
        assert!(
            e <= TOL,
            "{name} gradient {g:?} transposed={transposed} {how:?}: relative error {e}"
        );
    }
}

fn geom(n: usize, h: usize, w: usize, s: usize, p: usize, op: usize) -> Geom {
    Geom {
        n,
        cin: 0,
        cout: 0,
        h,
        w,
        k: 0,
        s,
        p,
        op,
    }
}

#[rstest]
#[case::d_first_layer(geom(2, 28, 28, 2, 1, 0))]
#[case::odd_side_stride2(geom(3, 7, 7, 2, 1, 0))]
#[case::no_padding(geom(1, 6, 5, 1, 0, 0))]
#[case::grouped_small_grid(geom(5, 4, 4, 2, 1, 0))]
fn conv2d_matches_reference_3x3(#[case] g: Geom) {
    check_conv::<2, 3, 3>(g, false);
}

#[rstest]
#[case::stride1(geom(4, 5, 6, 1, 0, 0))]
#[case::stride3(geom(2, 8, 9, 3, 2, 0))]
fn conv2d_matches_reference_other_kernels(#[case] g: Geom) {
    check_conv::<3, 2, 1>(g, false);
    check_conv::<1, 4, 5>(g, false);
}

#[rstest]
#[case::g_same_4_to_8(geom(2, 4, 4, 2, 2, 1))]
#[case::g_8_to_19(geom(3, 8, 8, 2, 0, 0))]
#[case::g_stride1(geom(2, 6, 5, 1, 0, 0))]
#[case::padded_stride1(geom(1, 5, 5, 1, 1, 0))]
fn conv_transpose2d_matches_reference_5x5(#[case] g: Geom) {
    check_conv::<3, 2, 5>(g, true);
}

#[rstest]
#[case::g_last_27_to_28(geom(2, 27, 27, 1, 0, 0))]
#[case::stride2_outpad(geom(5, 3, 4, 2, 0, 1))]
fn conv_transpose2d_matches_reference_2x2(#[case] g: Geom) {
    check_conv::<2, 1, 2>(g, true);
}

#[test]
fn conv2d_exact_small_case_by_hand() {
    // A 3x3 image 1..9 and a 2x2 kernel [[1, 0], [0, -1]] with bias 10: each output is
    // top-left minus bottom-right of its window, i.e. -4, plus 10.
    let dev: Cpu = Default::default();
    let x = dev.tensor_from_vec((1..=9).map(|v| v as f32).collect(), (1, Const::<1>, 3, 3));
    let w = dev.tensor([[[[1.0, 0.0], [0.0, -1.0]]]]);
    let b = dev.tensor([10.0]);
    for how in [ConvKernels::Gemm, ConvKernels::direct()] {
        assert_eq!(conv2d(how, x.clone(), &w, &b, 1, 0).as_vec(), vec![6.0; 4], "{how:?}");
    }
}

#[test]
fn conv_transpose2d_exact_small_case_by_hand() {
    // Stride 2 with a 2x2 kernel of ones: each input value fills its own 2x2 block.
    let dev: Cpu = Default::default();
    let x = dev.tensor_from_vec(vec![1.0, 2.0, 3.0, 4.0], (1, Const::<1>, 2, 2));
    let w = dev.tensor([[[[1.0, 1.0], [1.0, 1.0]]]]);
    let b = dev.tensor([0.5]);
    for how in [ConvKernels::Gemm, ConvKernels::direct()] {
        let y = conv_transpose2d(how, x.clone(), &w, &b, 2, 0, 0);
        assert_eq!(*y.shape(), (1, Const::<1>, 4, 4));
        #[rustfmt::skip]
    let want = vec![
        1.5, 1.5, 2.5, 2.5,
        1.5, 1.5, 2.5, 2.5,
        3.5, 3.5, 4.5, 4.5,
        3.5, 3.5, 4.5, 4.5,
    ];
        assert_eq!(y.as_vec(), want, "{how:?}");
    }
}

/// Reference batch norm in f64 with the given statistics source.
fn naive_bn(
    x: &[f64],
    n: usize,
    c: usize,
    plane: usize,
    scale: &[f64],
    bias: &[f64],
    stats: Option<(&[f64], &[f64])>,
) -> Vec<f64> {
    let mut y = vec![0.0; x.len()];
    for ch in 0..c {
        let idx: Vec<usize> = (0..n)
            .flat_map(|i| (i * c + ch) * plane..(i * c + ch + 1) * plane)
            .collect();
        let (mu, var) = match stats {
            Some((m, v)) => (m[ch], v[ch]),
            None => {
                let mu = idx.iter().map(|&j| x[j]).sum::<f64>() / idx.len() as f64;
                (
                    mu,
                    idx.iter().map(|&j| (x[j] - mu).powi(2)).sum::<f64>() / idx.len() as f64,
                )
            }
        };
        for &j in &idx {
            y[j] = scale[ch] * (x[j] - mu) / (var + 1e-5).sqrt() + bias[ch];
        }
    }
    y
}

#[rstest]
#[case::train(Mode::Train)]
#[case::eval(Mode::Eval)]
fn batch_norm_matches_reference_and_finite_differences(#[case] mode: Mode) {
    const C: usize = 3;
    let (n, h, w) = (4, 3, 5);
    let plane = h * w;
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(3);
    let xv: Vec<f32> = random(&mut rng, n * C * plane).iter().map(|v| v * 3.0 + 1.0).collect();
    let mut bn: BatchNorm2D<C, f32, Cpu> = dev.build_module::<dfdx::nn::builders::BatchNorm2D<C>, f32>();
    bn.scale.copy_from(&random(&mut rng, C));
    bn.bias.copy_from(&random(&mut rng, C));
    let rm: Vec<f32> = random(&mut rng, C);
    let rv: Vec<f32> = random(&mut rng, C).iter().map(|v| v.abs() + 0.5).collect();
    bn.running_mean.copy_from(&rm);
    bn.running_var.copy_from(&rv);
    let (sc, bi) = (to64(&bn.scale.as_vec()), to64(&bn.bias.as_vec()));
    let stats = (to64(&rm), to64(&rv));
    let f = |x: &[f64], sc: &[f64], bi: &[f64]| match mode {
        Mode::Train => naive_bn(x, n, C, plane, sc, bi, None),
        Mode::Eval => naive_bn(x, n, C, plane, sc, bi, Some((&stats.0, &stats.1))),
    };

    let x = dev.tensor_from_vec(xv.clone(), (n, Const::<C>, h, w));
    let y = batch_norm2d(x.clone().traced(Gradients::leaky()), &mut bn, mode);
    let yv = y.retaped::<NoneTape>().as_vec();
    assert!(rel_err(&yv, &f(&to64(&xv), &sc, &bi)) <= TOL);

    let r = random(&mut rng, yv.len());
    let gr = (y * dev.tensor_from_vec(r.clone(), (n, Const::<C>, h, w)))
        .sum()
        .backward();
    let r = to64(&r);
    let loss = |x: &[f64], sc: &[f64], bi: &[f64]| f(x, sc, bi).iter().zip(&r).map(|(a, b)| a * b).sum::<f64>();
    let eps = 1e-4;
    let central = |v: &[f64], k: usize, l: &dyn Fn(&[f64]) -> f64| {
        let (mut a, mut b) = (v.to_vec(), v.to_vec());
        a[k] += eps;
        b[k] -= eps;
        (l(&a) - l(&b)) / (2.0 * eps)
    };
    let x64 = to64(&xv);
    let dx: Vec<f64> = (0..x64.len())
        .map(|k| central(&x64, k, &|x| loss(x, &sc, &bi)))
        .collect();
    let dsc: Vec<f64> = (0..C).map(|k| central(&sc, k, &|s| loss(&x64, s, &bi))).collect();
    let dbi: Vec<f64> = (0..C).map(|k| central(&bi, k, &|b| loss(&x64, &sc, b))).collect();
    for (name, got, want) in [
        ("input", gr.get(&x).as_vec(), dx),
        ("scale", gr.get(&bn.scale).as_vec(), dsc),
        ("bias", gr.get(&bn.bias).as_vec(), dbi),
    ] {
        let e = rel_err(&got, &want);
        assert!(e <= TOL, "batch norm {mode:?} {name} gradient: relative error {e}");
    }

    // Train mode moves the running statistics 10% towards the batch's (unbiased variance).
    let (new_m, new_v) = (bn.running_mean.as_vec(), bn.running_var.as_vec());
    for ch in 0..C {
        let vals: Vec<f64> = (0..n)
            .flat_map(|i| x64[(i * C + ch) * plane..(i * C + ch + 1) * plane].to_vec())
            .collect();
        let mu = vals.iter().sum::<f64>() / vals.len() as f64;
        let var = vals.iter().map(|v| (v - mu).powi(2)).sum::<f64>() / (vals.len() - 1) as f64;
        let (want_m, want_v) = match mode {
            Mode::Train => (0.9 * rm[ch] as f64 + 0.1 * mu, 0.9 * rv[ch] as f64 + 0.1 * var),
            Mode::Eval => (rm[ch] as f64, rv[ch] as f64),
        };
        assert!((new_m[ch] as f64 - want_m).abs() < 1e-5, "running mean {ch}");
        assert!((new_v[ch] as f64 - want_v).abs() < 1e-5, "running var {ch}");
    }
}

/// G's fused `relu_batch_norm2d` is exactly `batch_norm2d(x.relu())`: the same outputs,
/// running statistics and gradients (input, scale, bias) bit for bit, in both modes, on
/// inputs with about half their values negative (so the ReLU's mask matters).
#[rstest]
#[case::train(Mode::Train)]
#[case::eval(Mode::Eval)]
fn relu_batch_norm_is_batch_norm_of_relu(#[case] mode: Mode) {
    const C: usize = 4;
    let (n, h, w) = (3, 5, 6);
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(11);
    let xv = random(&mut rng, n * C * h * w);
    assert!(
        xv.iter().filter(|v| **v < 0.0).count() > xv.len() / 3,
        "the input must have negatives"
    );
    let mut bn: BatchNorm2D<C, f32, Cpu> = dev.build_module::<dfdx::nn::builders::BatchNorm2D<C>, f32>();
    bn.scale.copy_from(&random(&mut rng, C));
    bn.bias.copy_from(&random(&mut rng, C));
    bn.running_var
        .copy_from(&random(&mut rng, C).iter().map(|v| v.abs() + 0.5).collect::<Vec<_>>());
    let mut bn_fused = bn.clone();
    let r = dev.tensor_from_vec(random(&mut rng, xv.len()), (n, Const::<C>, h, w));
    let x = dev.tensor_from_vec(xv, (n, Const::<C>, h, w));

    let y = batch_norm2d(x.clone().traced(Gradients::leaky()).relu(), &mut bn, mode);
    let y_fused = relu_batch_norm2d(x.clone().traced(Gradients::leaky()), &mut bn_fused, mode);
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<u32>>();
    assert_eq!(
        bits(y_fused.retaped::<NoneTape>().as_vec()),
        bits(y.retaped::<NoneTape>().as_vec()),
        "outputs"
    );
    for (name, a, b) in [
        ("running mean", &bn_fused.running_mean, &bn.running_mean),
        ("running var", &bn_fused.running_var, &bn.running_var),
    ] {
        assert_eq!(bits(a.as_vec()), bits(b.as_vec()), "{name}");
    }
    let g = (y * r.clone()).sum().backward();
    let g_fused = (y_fused * r).sum().backward();
    assert_eq!(
        bits(g_fused.get(&x).as_vec()),
        bits(g.get(&x).as_vec()),
        "input gradient"
    );
    assert_eq!(
        bits(g_fused.get(&bn_fused.scale).as_vec()),
        bits(g.get(&bn.scale).as_vec()),
        "scale gradient"
    );
    assert_eq!(
        bits(g_fused.get(&bn_fused.bias).as_vec()),
        bits(g.get(&bn.bias).as_vec()),
        "bias gradient"
    );
    assert!(
        g_fused.get(&x).as_vec().iter().filter(|v| **v == 0.0).count() > 0,
        "masked inputs get no gradient"
    );
}

#[test]
fn the_allocator_keeps_freed_memory_instead_of_returning_it_to_the_kernel() {
    // Any allocation configures it; a step's buffers then reuse freed pages instead of
    // faulting in fresh (and zeroed) huge pages.
    drop(std::hint::black_box(vec![1u8; 1 << 20]));
    assert_eq!(cgan::support::allocator::purge_delay(), -1);
}
