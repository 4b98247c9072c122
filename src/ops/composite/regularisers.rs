//! D's and G's extra ops from public tensor ops, same semantics as the fast ones:
//! LeakyReLU ([`crate::ops::leaky_relu`]), the minibatch-standard-deviation map
//! ([`crate::ops::minibatch_std`]), spectral normalisation
//! ([`crate::ops::spectral_norm`]) and the mode-seeking term ([`crate::ops::mode_seeking`]).

use crate::data::PIXELS;
use crate::ops::minibatch_std::EPS;
use crate::ops::mode_seeking::MS_EPS;
use crate::ops::spectral_norm::{PowerIteration, WithWeight};
use crate::ops::Images;
use dfdx::prelude::*;

/// `max(x, 0) + slope * min(x, 0)`.
pub fn leaky_relu<S: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<S, f32, D, T>,
    slope: f32,
) -> Tensor<S, f32, D, T> {
    x.prelu(slope)
}

/// `x (n, c, h, w)` -> `(n, 1, h, w)`, every entry the mean over features of the batch
/// standard deviation (biased variance, plus [`EPS`]).
pub fn minibatch_std<D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<(usize, usize, usize, usize), f32, D, T>,
) -> Tensor<(usize, usize, usize, usize), f32, D, T> {
    let (n, c, h, w) = *x.shape();
    let mean = x.retaped::<T>().mean::<(usize, usize, usize), Axis<0>>();
    let centered = x - mean.broadcast_like::<_, Axis<0>>(&(n, c, h, w));
    let std = (centered.square().mean::<(usize, usize, usize), Axis<0>>() + EPS).sqrt();
    std.mean::<(), _>().broadcast_like(&(n, 1, h, w))
}

/// `w / sigma(w)` with `sigma = u^T W v` (u, v constants), its gradient carried by `x`'s
/// tape, which is returned with the normalised weight to use in `w`'s place.
pub fn spectral_normalize<XS: Shape, S: Shape, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<XS, f32, D, T>,
    w: &Tensor<S, f32, D>,
    it: &PowerIteration,
) -> WithWeight<XS, S, D, T> {
    let dev = w.device().clone();
    let (rows, cols) = (it.u.len(), it.v.len());
    let u = dev.tensor_from_vec(it.u.clone(), (rows, 1usize));
    let v = dev.tensor_from_vec(it.v.clone(), (cols, 1usize));
    let wm = w.clone().retaped::<T>().reshape_like(&(rows, cols));
    let sigma = (wm.retaped::<T>().matmul(v) * u).sum::<(), _>();
    let w_sn = (wm / sigma.broadcast_like(&(rows, cols))).reshape_like(w.shape());
    let (w_sn, w_tape) = w_sn.split_tape();
    let (x, x_tape) = x.split_tape();
    (x.put_tape(x_tape.merge(w_tape)), w_sn)
}

/// MSGAN's term `weight / (min(ratio, cap) + MS_EPS)` on a batch whose second half repeats
/// the first half's conditions, with its ratio (see [`crate::ops::mode_seeking::mode_seeking`]).
pub fn mode_seeking<D: Device<f32>, T: Tape<f32, D>>(
    images: Images<D, T>,
    z_distance: f32,
    weight: f32,
    cap: f32,
) -> (Tensor<(), f32, D, T>, f32) {
    let n = images.shape().0;
    mode_seeking_rows(images.reshape_like(&(n, PIXELS)), z_distance, weight, cap)
}

/// [`mode_seeking`] on images of any size, one per row of `flat` (LAPGAN's 7 x 7 level).
/// The halves are gathered, not sliced: dfdx 0.13's slice backward overwrites gradients.
pub fn mode_seeking_rows<D: Device<f32>, T: Tape<f32, D>>(
    flat: Tensor<(usize, usize), f32, D, T>,
    z_distance: f32,
    weight: f32,
    cap: f32,
) -> (Tensor<(), f32, D, T>, f32) {
    let (n, pixels) = *flat.shape();
    let half = n / 2;
    let dev = flat.device().clone();
    let first = dev.tensor_from_vec((0..half).collect(), (half,));
    let second = dev.tensor_from_vec((half..2 * half).collect(), (half,));
    let a = flat.retaped::<T>().gather(first);
    let b = flat.gather(second);
    let count = (half * pixels).max(1) as f32;
    let ratio = (a - b).abs().sum::<(), _>() / (count * z_distance.max(1e-12));
    let value = ratio.as_vec()[0];
    if value < cap {
        ((ratio + MS_EPS).recip() * weight, value)
    } else {
        // Flat above the cap: the term's value with no gradient.
        (ratio * 0.0 + weight / (cap + MS_EPS), value)
    }
}
