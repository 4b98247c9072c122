//! The ops and terms the presets add, against f64 references: values, and gradients by
//! central finite differences (like the conv ops): spectral normalisation, the
//! minibatch-standard-deviation map, and the mode-seeking term.

mod common;

use common::{random, rel_err, to64};

use cgan::ops::leaky_relu::leaky_relu;
use cgan::ops::minibatch_std::{minibatch_std, EPS};
use cgan::ops::mode_seeking::{mode_seeking, pair_distance, MS_EPS};
use cgan::ops::spectral_norm::{spectral_normalize, PowerIteration};
use dfdx::prelude::*;
use nalgebra::DMatrix;
use rand::{rngs::StdRng, Rng, SeedableRng};

const TOL: f64 = 1e-4;

/// Central differences of `f` at `x`, step `h`.
fn numeric_grad(f: &dyn Fn(&[f64]) -> f64, x: &[f64], h: f64) -> Vec<f64> {
    (0..x.len())
        .map(|k| {
            let (mut a, mut b) = (x.to_vec(), x.to_vec());
            a[k] += h;
            b[k] -= h;
            (f(&a) - f(&b)) / (2.0 * h)
        })
        .collect()
}

fn largest_singular_value(w: &[f32], rows: usize) -> f64 {
    let m = DMatrix::from_row_iterator(rows, w.len() / rows, w.iter().map(|v| *v as f64));
    m.singular_values().max()
}

#[test]
fn power_iteration_finds_the_largest_singular_value() {
    let mut rng = StdRng::seed_from_u64(1);
    // D's conv2 (32 x 16*3*3) and its dense logit (1 x 512).
    for (rows, cols) in [(32, 144), (1, 512), (16, 10)] {
        let w = random(&mut rng, rows * cols);
        let want = largest_singular_value(&w, rows);
        let mut it = PowerIteration::new(&w, rows, &mut rng);
        for _ in 0..200 {
            it.step(&w);
        }
        let got = it.sigma(&w) as f64;
        assert!(
            (got - want).abs() / want < 1e-3,
            "{rows}x{cols}: sigma {got}, SVD {want}"
        );
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm(&it.u) - 1.0).abs() < 1e-5 && (norm(&it.v) - 1.0).abs() < 1e-5);
    }
}

#[test]
fn spectral_normalisation_divides_by_sigma_and_its_gradient_matches_finite_differences() {
    const O: usize = 6;
    const I: usize = 4;
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(2);
    let wv = random(&mut rng, O * I);
    let w: Tensor<Rank2<O, I>, f32, Cpu> = dev.tensor_from_vec(wv.clone(), (Const, Const));
    let it = PowerIteration::new(&wv, O, &mut rng);
    let sigma = it.sigma(&wv) as f64;

    // The layer's input carries the tape; the normalised weight's gradient reaches w.
    let x: Tensor<Rank1<I>, f32, Cpu> = dev.tensor_from_vec(random(&mut rng, I), (Const,));
    let (x_t, w_sn) = spectral_normalize(x.clone().leaky_traced(), &w, &it);
    let want: Vec<f64> = to64(&wv).iter().map(|v| v / sigma).collect();
    assert!(rel_err(&w_sn.as_vec(), &want) <= TOL);
    // After enough iterations sigma is the spectral norm, so the result has norm ~1.
    let s = largest_singular_value(&w_sn.as_vec(), O);
    assert!((s - 1.0).abs() < 1e-2, "spectral norm of W / sigma: {s}");

    // loss = r . (W / sigma) x, as a layer would use it.
    let r = random(&mut rng, O);
    let y = x_t.matmul(w_sn.permute());
    let loss = (y * dev.tensor_from_vec(r.clone(), (Const::<O>,))).sum();
    let grads = loss.backward();
    let (u, v) = (to64(&it.u), to64(&it.v));
    let (r64, x64) = (to64(&r), to64(&x.as_vec()));
    // u and v are constants of the gradient (PyTorch's convention).
    let f = |w: &[f64]| {
        let sigma: f64 = (0..O)
            .map(|i| u[i] * (0..I).map(|j| w[i * I + j] * v[j]).sum::<f64>())
            .sum();
        (0..O)
            .map(|i| r64[i] * (0..I).map(|j| w[i * I + j] * x64[j]).sum::<f64>() / sigma)
            .sum::<f64>()
    };
    let e = rel_err(&grads.get(&w).as_vec(), &numeric_grad(&f, &to64(&wv), 1e-5));
    assert!(e <= TOL, "spectral norm gradient: relative error {e}");
}

#[test]
fn leaky_relu_matches_reference_and_finite_differences() {
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(4);
    // Larger than one parallel chunk, so the split is covered.
    let len = 3 * 16_384 + 5;
    let xv = random(&mut rng, len);
    let x = dev.tensor_from_vec(xv.clone(), (len,));
    let slope = 0.2;
    let naive = |x: &[f64]| -> Vec<f64> { x.iter().map(|v| if *v > 0.0 { *v } else { slope * v }).collect() };
    let y = leaky_relu(x.clone().leaky_traced(), slope as f32);
    let yv = y.retaped::<NoneTape>().as_vec();
    assert!(rel_err(&yv, &naive(&to64(&xv))) <= TOL);
    // The gradient adds to one already there (x used twice).
    let r = random(&mut rng, len);
    let loss = (leaky_relu(x.clone().leaky_traced(), slope as f32) + x.clone().leaky_traced())
        * dev.tensor_from_vec(r.clone(), (len,));
    let grads = loss.sum().backward();
    let f = |x: &[f64]| {
        naive(x)
            .iter()
            .zip(x)
            .zip(&r)
            .map(|((y, x), r)| (y + x) * *r as f64)
            .sum::<f64>()
    };
    // Away from the kink, where central differences are exact for a piecewise-linear map.
    let picked: Vec<usize> = (0..len).step_by(97).filter(|&k| xv[k].abs() > 1e-3).collect();
    let x64 = to64(&xv);
    let central = |k: usize| {
        let (mut a, mut b) = (x64.clone(), x64.clone());
        a[k] += 1e-5;
        b[k] -= 1e-5;
        (f(&a) - f(&b)) / 2e-5
    };
    let got = grads.get(&x).as_vec();
    let (g, w): (Vec<f32>, Vec<f64>) = picked.iter().map(|&k| (got[k], central(k))).unzip();
    assert!(rel_err(&g, &w) <= TOL, "leaky relu gradient");
}

fn naive_minibatch_std(x: &[f64], n: usize) -> f64 {
    let f = x.len() / n;
    (0..f)
        .map(|j| {
            let m = (0..n).map(|i| x[i * f + j]).sum::<f64>() / n as f64;
            let var = (0..n).map(|i| (x[i * f + j] - m).powi(2)).sum::<f64>() / n as f64;
            (var + EPS as f64).sqrt()
        })
        .sum::<f64>()
        / f as f64
}

#[test]
fn minibatch_std_matches_reference_and_finite_differences() {
    let (n, c, h, w) = (5, 3, 4, 4);
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(3);
    let xv = random(&mut rng, n * c * h * w);
    let x = dev.tensor_from_vec(xv.clone(), (n, c, h, w));
    let y = minibatch_std(x.clone().leaky_traced());
    assert_eq!(y.shape().concrete(), [n, 1, h, w]);
    let want = naive_minibatch_std(&to64(&xv), n);
    let yv = y.retaped::<NoneTape>().as_vec();
    assert!(rel_err(&yv, &vec![want; yv.len()]) <= TOL);

    let r = random(&mut rng, n * h * w);
    let grads = (y * dev.tensor_from_vec(r.clone(), (n, 1, h, w))).sum().backward();
    let total: f64 = to64(&r).iter().sum();
    let f = |x: &[f64]| naive_minibatch_std(x, n) * total;
    let e = rel_err(&grads.get(&x).as_vec(), &numeric_grad(&f, &to64(&xv), 1e-5));
    assert!(e <= TOL, "minibatch std gradient: relative error {e}");

    // A collapsed batch (every sample the same) shows ~0; a spread one does not.
    let same: Vec<f32> = xv[..c * h * w].repeat(n);
    let collapsed = minibatch_std(dev.tensor_from_vec(same, (n, c, h, w))).as_vec()[0];
    assert!(
        collapsed < 1e-3 && yv[0] > 0.3,
        "collapsed {collapsed}, spread {}",
        yv[0]
    );
}

#[test]
fn mode_seeking_term_matches_reference_and_finite_differences() {
    let n = 4;
    let px = 28 * 28;
    let dev: Cpu = Default::default();
    let mut rng = StdRng::seed_from_u64(4);
    // Pairs kept at least 0.1 apart in every pixel: |a - b| is smooth there.
    let first = random(&mut rng, n / 2 * px);
    let second: Vec<f32> = first
        .iter()
        .map(|a| {
            let d = rng.gen_range(0.1..0.5f32);
            if *a > 0.0 {
                a - d
            } else {
                a + d
            }
        })
        .collect();
    let xv = [first, second].concat();
    let z = random(&mut rng, n * 100);
    let zd = pair_distance(&z, 100);
    let want_zd = (0..n / 2 * 100)
        .map(|k| (z[k] - z[k + n / 2 * 100]).abs() as f64)
        .sum::<f64>()
        / 200.0;
    assert!((zd as f64 - want_zd).abs() < 1e-5);

    let weight = 0.7;
    let x = dev.tensor_from_vec(xv.clone(), (n, Const, Const, Const));
    let cap = 10.0;
    let (term, ratio) = mode_seeking(x.clone().leaky_traced(), zd, weight, cap);
    let f = |x: &[f64]| {
        let half = x.len() / 2;
        let r = (0..half).map(|k| (x[k] - x[k + half]).abs()).sum::<f64>() / half as f64 / zd as f64;
        weight as f64 / (r.min(cap as f64) + MS_EPS as f64)
    };
    let x64 = to64(&xv);
    let half = xv.len() / 2;
    let want_ratio = (0..half).map(|k| (x64[k] - x64[k + half]).abs()).sum::<f64>() / half as f64 / zd as f64;
    assert!((ratio as f64 - want_ratio).abs() < 1e-5);
    assert!(rel_err(&[term.array()], &[f(&x64)]) <= TOL);
    let grads = term.backward();
    let e = rel_err(&grads.get(&x).as_vec(), &numeric_grad(&f, &x64, 1e-5));
    assert!(e <= TOL, "mode-seeking gradient: relative error {e}");

    // Its gradient adds to what else reaches the images (D's, in G's step): the term on a
    // retaped copy plus a linear loss on the original gives the sum of both gradients.
    let r = random(&mut rng, xv.len());
    let x2 = x.clone().leaky_traced();
    let (term, _) = mode_seeking(x2.retaped::<OwnedTape<f32, Cpu>>(), zd, weight, cap);
    let linear = (x2 * dev.tensor_from_vec(r.clone(), (n, Const, Const, Const))).sum();
    let both = (linear + term).backward();
    let want: Vec<f64> = numeric_grad(&f, &x64, 1e-5)
        .iter()
        .zip(&r)
        .map(|(g, r)| g + *r as f64)
        .collect();
    let e = rel_err(&both.get(&x).as_vec(), &want);
    assert!(e <= TOL, "mode-seeking gradient added to another: relative error {e}");

    // Above the cap the term is flat: no gradient pays for more diversity.
    let low_cap = (want_ratio * 0.5) as f32;
    let (term, _) = mode_seeking(x.clone().leaky_traced(), zd, weight, low_cap);
    assert!((term.array() - weight / (low_cap + MS_EPS)).abs() < 1e-5);
    let grads = term.backward();
    assert!(grads.get(&x).as_vec().iter().all(|g| *g == 0.0));

    // Bounded: a collapsed batch (identical pairs) costs weight / MS_EPS, not 1e5.
    let same = dev.tensor_from_vec(xv[..half].repeat(2), (n, Const, Const, Const));
    let (term, ratio) = mode_seeking(same.leaky_traced(), zd, weight, cap);
    assert_eq!(ratio, 0.0);
    assert!((term.array() - weight / MS_EPS).abs() < 1e-4);
}
