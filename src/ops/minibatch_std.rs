//! The minibatch-standard-deviation feature (Karras et al. 2018, ProGAN): the standard
//! deviation of every feature over the batch, averaged into one number and broadcast as
//! one extra `h x w` map per sample. A collapsed batch (all samples alike) shows a small
//! value, so D can see collapse that no single sample shows.

use super::{put_grad, take_grad, to_vec, with_grad, OpsDevice};
use dfdx::prelude::*;

/// Added to the variance before the square root (StyleGAN's value): keeps the gradient
/// finite when every sample is the same.
pub const EPS: f32 = 1e-8;

/// `x (n, c, h, w)` -> `(n, 1, h, w)`, every entry `mean_j sqrt(var_i x_ij + EPS)` over the
/// features j = (c, h, w) with the biased variance over the batch i. Pass a retaped copy
/// of the tensor that goes on; the tapes merge where the map is concatenated.
pub fn minibatch_std<D: OpsDevice, T: Tape<f32, D>>(
    x: Tensor<(usize, usize, usize, usize), f32, D, T>,
) -> Tensor<(usize, usize, usize, usize), f32, D, T> {
    let (n, c, h, w) = *x.shape();
    let features = c * h * w;
    let xv = to_vec(&x);
    let mut mean = vec![0.0f64; features];
    for sample in xv.chunks_exact(features) {
        mean.iter_mut().zip(sample).for_each(|(m, v)| *m += *v as f64);
    }
    mean.iter_mut().for_each(|m| *m /= n as f64);
    let mut var = vec![0.0f64; features];
    for sample in xv.chunks_exact(features) {
        for ((s, m), v) in var.iter_mut().zip(&mean).zip(sample) {
            *s += (*v as f64 - m).powi(2);
        }
    }
    let std: Vec<f64> = var.iter().map(|s| (s / n as f64 + EPS as f64).sqrt()).collect();
    let value = (std.iter().sum::<f64>() / features as f64) as f32;
    let (x, mut tape) = x.split_tape();
    let y = x.device().tensor_from_vec(vec![value; n * h * w], (n, 1, h, w));
    if T::OWNS_TAPE {
        let y_key = y.clone();
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_key)?;
            // Every output entry is the same number, so only the sum of their gradients
            // matters; the mean's own gradient cancels (the deviations sum to zero).
            let total: f64 = gy.iter().map(|g| *g as f64).sum();
            with_grad(grads, &x, |gx| {
                for (gs, xs) in gx.chunks_exact_mut(features).zip(xv.chunks_exact(features)) {
                    for (((g, v), m), s) in gs.iter_mut().zip(xs).zip(&mean).zip(&std) {
                        *g += (total * (*v as f64 - m) / (n as f64 * s * features as f64)) as f32;
                    }
                }
            })?;
            put_grad(grads, &y_key, gy)
        });
    }
    y.put_tape(tape)
}
