//! The Laplacian pyramid's resamplings: exact values, the 28 -> 14 -> 7 shapes, exact
//! reconstruction from the coarse image and the band-pass residual, and gradients.

use cgan::ops::pyramid::{downsample, upsample};
use dfdx::prelude::*;
use rand::{rngs::StdRng, Rng, SeedableRng};

fn planes(
    dev: &Cpu,
    v: Vec<f32>,
    shape: (usize, usize, usize, usize),
) -> Tensor<(usize, usize, usize, usize), f32, Cpu> {
    dev.tensor_from_vec(v, shape)
}

#[test]
fn downsample_is_the_mean_of_each_block_and_upsample_repeats_each_pixel() {
    let dev = Cpu::default();
    #[rustfmt::skip]
    let x = planes(&dev, vec![
        1.0, 3.0, 0.0, 4.0,
        5.0, 7.0, 8.0, 0.0,
        2.0, 2.0, 1.0, 1.0,
        2.0, 6.0, 1.0, 5.0,
    ], (1, 1, 4, 4));
    assert_eq!(downsample(x).as_vec(), vec![4.0, 3.0, 3.0, 2.0]);
    let y = planes(&dev, vec![1.0, 2.0, 3.0, 4.0], (1, 1, 2, 2));
    #[rustfmt::skip]
    let want = vec![
        1.0, 1.0, 2.0, 2.0,
        1.0, 1.0, 2.0, 2.0,
        3.0, 3.0, 4.0, 4.0,
        3.0, 3.0, 4.0, 4.0,
    ];
    assert_eq!(upsample(y).as_vec(), want);
}

#[test]
fn the_pyramid_of_a_batch_goes_28_14_7_and_rebuilds_exactly() {
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(0);
    let (n, c) = (3, 2);
    let xv: Vec<f32> = (0..n * c * 28 * 28).map(|_| rng.gen_range(-1.0..1.0)).collect();
    let x = planes(&dev, xv.clone(), (n, c, 28, 28));
    let l1 = downsample(x.clone());
    let l2 = downsample(l1.clone());
    assert_eq!(l1.shape().concrete(), [n, c, 14, 14]);
    assert_eq!(l2.shape().concrete(), [n, c, 7, 7]);
    // Band-pass residuals, then the image rebuilt coarse to fine.
    let h1 = x.clone() - upsample(l1.clone());
    let h2 = l1.clone() - upsample(l2.clone());
    let rebuilt = upsample(upsample(l2) + h2) + h1.clone();
    let err = rebuilt
        .as_vec()
        .iter()
        .zip(&xv)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(err < 1e-6, "rebuilt with error {err}");
    // The residual carries no coarse content: its own 2 x 2 means are zero.
    assert!(downsample(h1).as_vec().iter().all(|v| v.abs() < 1e-6));
    // Each sample and channel stays its own.
    let first = planes(&dev, xv[..28 * 28].to_vec(), (1, 1, 28, 28));
    assert_eq!(downsample(first).as_vec(), l1.as_vec()[..14 * 14].to_vec());
}

#[test]
fn gradients_are_each_others_adjoints() {
    // sum(downsample(x) * r) has gradient upsample(r) / 4; sum(upsample(y) * s) has
    // gradient 4 downsample(s) (the two maps are adjoint up to the factor 4).
    let dev = Cpu::default();
    let mut rng = StdRng::seed_from_u64(1);
    let mut random = |len: usize| -> Vec<f32> { (0..len).map(|_| rng.gen_range(-1.0..1.0)).collect() };
    let x = planes(&dev, random(2 * 14 * 14), (2, 1, 14, 14));
    let r = planes(&dev, random(2 * 7 * 7), (2, 1, 7, 7));
    let g = (downsample(x.clone().leaky_traced()) * r.clone()).sum().backward();
    let want: Vec<f32> = upsample(r).as_vec().iter().map(|v| v / 4.0).collect();
    assert_eq!(g.get(&x).as_vec(), want);
    let y = planes(&dev, random(2 * 7 * 7), (2, 1, 7, 7));
    let s = planes(&dev, random(2 * 14 * 14), (2, 1, 14, 14));
    let g = (upsample(y.clone().leaky_traced()) * s.clone()).sum().backward();
    let want: Vec<f32> = downsample(s).as_vec().iter().map(|v| v * 4.0).collect();
    let got = g.get(&y).as_vec();
    let err = got.iter().zip(&want).map(|(a, b)| (a - b).abs()).fold(0.0f32, f32::max);
    assert!(err < 1e-6, "upsample's gradient off by {err}");
}

#[test]
#[should_panic(expected = "odd side")]
fn seven_cannot_be_halved() {
    let dev = Cpu::default();
    downsample(planes(&dev, vec![0.0; 49], (1, 1, 7, 7)));
}
