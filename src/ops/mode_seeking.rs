//! The loss terms besides D's binary cross-entropies: the mode-seeking regulariser.

use crate::data::PIXELS;
use crate::ops::{put_grad, take_grad, to_vec, with_grad, Images};
use dfdx::prelude::*;

/// Added to the ratio in the mode-seeking term's denominator. MSGAN's code uses 1e-5,
/// which lets the term reach 1e5 (and its gradient 1e10) on a generator that has already
/// collapsed (ratio ~0); 0.1 bounds them by 10 and 100 times the weight while changing
/// the pull little at healthy ratios (~0.5).
pub const MS_EPS: f32 = 0.1;

/// The mode-seeking term of MSGAN (Mao et al. 2019) on a batch whose second half repeats
/// the first half's conditions with other noise: `weight / (min(ratio, cap) + MS_EPS)` with
/// `ratio = mean |x[i] - x[i + n/2]| / z_distance`, `z_distance` the mean |z1 - z2| of the
/// pairs' noise. Above `cap` the term is flat (DSGAN's bound, Yang et al. 2019): G is not
/// paid for more diversity than real digits have (their ratio is ~0.42 with uniform z),
/// which it would otherwise buy with noise. Returns the term (on `images`' tape) and the
/// ratio.
///
/// One op with its own backward, which adds into the images' gradient: dfdx 0.13's
/// `slice` backward assigns instead, and a contiguous reshape keeps the tensor's id, so a
/// slice-based version silently erased D's gradient to G.
pub fn mode_seeking<T: Tape<f32, Cpu>>(
    images: Images<Cpu, T>,
    z_distance: f32,
    weight: f32,
    cap: f32,
) -> (Tensor<(), f32, Cpu, T>, f32) {
    let n = images.shape().0;
    let half = (n / 2) * PIXELS;
    let xv = to_vec(&images);
    let (a, b) = xv.split_at(half);
    let count = half.max(1) as f64;
    let z = z_distance.max(1e-12) as f64;
    let ratio = a.iter().zip(b).map(|(p, q)| (p - q).abs() as f64).sum::<f64>() / count / z;
    let below_cap = ratio < cap as f64;
    let denom = ratio.min(cap as f64) + MS_EPS as f64;
    let term = weight as f64 / denom;
    let (images, mut tape) = images.split_tape();
    let out = images.device().tensor(term as f32);
    if T::OWNS_TAPE {
        let out_key = out.clone();
        tape.add_backward_op(move |grads| {
            let g = take_grad(grads, &out_key)?;
            // d term / d ratio, then d ratio / d x = sign(a - b) / (count z), opposite for b.
            let slope = if below_cap {
                -weight as f64 / (denom * denom)
            } else {
                0.0
            };
            let k = (g[0] as f64 * slope / (count * z)) as f32;
            with_grad(grads, &images, |gx| {
                let (ga, gb) = gx.split_at_mut(half);
                for (((ga, gb), p), q) in ga.iter_mut().zip(gb.iter_mut()).zip(&xv[..half]).zip(&xv[half..]) {
                    let s = if p > q {
                        k
                    } else if p < q {
                        -k
                    } else {
                        0.0
                    };
                    *ga += s;
                    *gb -= s;
                }
            })?;
            put_grad(grads, &out_key, g)
        });
    }
    (out.put_tape(tape), ratio as f32)
}

/// Mean |z[i] - z[i + n/2]| over the pairs of a noise batch (row-major, `dim` per row).
pub fn pair_distance(z: &[f32], dim: usize) -> f32 {
    let n = z.len() / dim;
    let half = n / 2;
    let (a, b) = z.split_at(half * dim);
    let sum: f64 = a.iter().zip(&b[..half * dim]).map(|(x, y)| (x - y).abs() as f64).sum();
    (sum / (half * dim).max(1) as f64) as f32
}
