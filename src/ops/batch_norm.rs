//! Fused 2-D batch normalisation as one custom dfdx op, forward and backward.
//!
//! dfdx's `BatchNorm2D` holds the parameters (so saving, loading and Adam work as for any
//! dfdx module) but its forward is ten separate ops and picks batch statistics only when
//! the input carries a tape. Here the mode is explicit: the GAN needs batch statistics
//! for G's samples in D's step, where no gradient is wanted.

use super::{put_grad, take_grad, to_vec, with_grad, Img, OpsDevice};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::*;
use rayon::prelude::*;

/// Which statistics normalise the batch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics; running statistics are updated (PyTorch's `train()`).
    Train,
    /// Running statistics, nothing updated (PyTorch's `eval()`).
    Eval,
}

/// Values per parallel task, at least: a plane of G's first layer holds 64 values, and a
/// task per plane cost more in scheduling than in arithmetic.
const MIN_TASK_VALUES: usize = 16 * 1024;

/// Planes per parallel task for planes of `plane` values.
fn planes_per_task(plane: usize) -> usize {
    (MIN_TASK_VALUES / plane.max(1)).max(1)
}

/// The sum of `f(a[i], b[i])` over a plane, in 16 f32 partial sums so the loop vectorises,
/// then the tail: planes are a few hundred values, so f32 is exact enough there, and
/// callers add the planes of a channel in f64.
#[inline(always)]
fn lane_sum(a: &[f32], b: &[f32], f: impl Fn(f32, f32) -> f32) -> f32 {
    let mut acc = [0.0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let tail: f32 = ca.remainder().iter().zip(cb.remainder()).map(|(&x, &y)| f(x, y)).sum();
    for (xa, xb) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += f(xa[l], xb[l]);
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// `f` summed over each plane of `a` (and the same plane of `b`), in parallel over planes,
/// then the planes of each of `channels` channels in f64, in sample order.
fn channel_sums(
    (a, b): (&[f32], &[f32]),
    channels: usize,
    plane: usize,
    f: impl Fn(usize, f32, f32) -> f32 + Sync,
) -> Vec<f64> {
    let sums: Vec<f32> = a
        .par_chunks(plane)
        .zip(b.par_chunks(plane))
        .with_min_len(planes_per_task(plane))
        .enumerate()
        .map(|(k, (pa, pb))| lane_sum(pa, pb, |x, y| f(k % channels, x, y)))
        .collect();
    let mut out = vec![0.0f64; channels];
    for (k, s) in sums.iter().enumerate() {
        out[k % channels] += *s as f64;
    }
    out
}

/// `y = scale * (x - mean) / sqrt(var + eps) + bias` per channel of `x (n, C, h, w)`.
/// In [`Mode::Train`] the statistics are the batch's and the running ones move by
/// `bn.momentum` towards them (variance unbiased), as in PyTorch and dfdx.
pub fn batch_norm2d<const C: usize, D: OpsDevice, T: Tape<f32, D>>(
    x: Tensor<Img<C>, f32, D, T>,
    bn: &mut BatchNorm2D<C, f32, D>,
    mode: Mode,
) -> Tensor<Img<C>, f32, D, T> {
    normalize(x, bn, mode, false)
}

/// [`batch_norm2d`] of `relu(x)` as one op (G's `conv -> ReLU -> BatchNorm`): the ReLU
/// costs no separate pass, buffer or backward op, and is exactly `batch_norm2d(x.relu())`.
pub fn relu_batch_norm2d<const C: usize, D: OpsDevice, T: Tape<f32, D>>(
    x: Tensor<Img<C>, f32, D, T>,
    bn: &mut BatchNorm2D<C, f32, D>,
    mode: Mode,
) -> Tensor<Img<C>, f32, D, T> {
    normalize(x, bn, mode, true)
}

/// Sets negative values of `v` to zero in place (in parallel over planes) and returns
/// which were kept: ReLU's gradient mask.
fn relu_in_place(v: &mut [f32], plane: usize) -> Vec<bool> {
    let mut kept = vec![false; v.len()];
    v.par_chunks_mut(plane)
        .zip(kept.par_chunks_mut(plane))
        .with_min_len(planes_per_task(plane))
        .for_each(|(xs, ks)| {
            for (x, k) in xs.iter_mut().zip(ks.iter_mut()) {
                *k = *x > 0.0;
                *x = if *k { *x } else { 0.0 };
            }
        });
    kept
}

/// The BatchNorm of `x`, or of `relu(x)` when `relu` is set.
fn normalize<const C: usize, D: OpsDevice, T: Tape<f32, D>>(
    x: Tensor<Img<C>, f32, D, T>,
    bn: &mut BatchNorm2D<C, f32, D>,
    mode: Mode,
    relu: bool,
) -> Tensor<Img<C>, f32, D, T> {
    let shape = *x.shape();
    let (n, _, h, w) = shape;
    let plane = h * w;
    let count = n * plane;
    let eps = bn.epsilon as f32;
    let mut xhat = to_vec(&x);
    let kept = relu.then(|| relu_in_place(&mut xhat, plane));
    let (scale, bias) = (to_vec(&bn.scale), to_vec(&bn.bias));
    let (mut running_mean, mut running_var) = (to_vec(&bn.running_mean), to_vec(&bn.running_var));
    // Two passes (mean, then squared deviations) over the (sample, channel) planes in
    // parallel; deterministic, since every sum has a fixed order.
    let stats: Vec<(f32, f32)> = match mode {
        Mode::Train => {
            let total = channel_sums((&xhat, &xhat), C, plane, |_, x, _| x);
            let mu: Vec<f32> = total.iter().map(|t| (t / count as f64) as f32).collect();
            let var = channel_sums((&xhat, &xhat), C, plane, |c, x, _| (x - mu[c]).powi(2));
            mu.iter()
                .zip(&var)
                .map(|(&m, v)| (m, (v / count as f64) as f32))
                .collect()
        }
        Mode::Eval => (0..C).map(|c| (running_mean[c], running_var[c])).collect(),
    };
    if mode == Mode::Train {
        let m = bn.momentum as f32;
        let unbias = count as f32 / (count.max(2) - 1) as f32;
        for (c, (mu, var)) in stats.iter().enumerate() {
            running_mean[c] = (1.0 - m) * running_mean[c] + m * mu;
            running_var[c] = (1.0 - m) * running_var[c] + m * var * unbias;
        }
        bn.running_mean.copy_from(&running_mean);
        bn.running_var.copy_from(&running_var);
    }
    let inv_std: Vec<f32> = stats.iter().map(|(_, var)| 1.0 / (var + eps).sqrt()).collect();
    let mut yv = vec![0.0f32; xhat.len()];
    xhat.par_chunks_mut(plane)
        .zip(yv.par_chunks_mut(plane))
        .with_min_len(planes_per_task(plane))
        .enumerate()
        .for_each(|(k, (xs, ys))| {
            let c = k % C;
            let (mu, is, sc, bi) = (stats[c].0, inv_std[c], scale[c], bias[c]);
            for (x, y) in xs.iter_mut().zip(ys.iter_mut()) {
                *x = (*x - mu) * is;
                *y = sc * *x + bi;
            }
        });
    let (x, mut tape) = x.split_tape();
    let y = x.device().tensor_from_vec(yv, shape);
    if T::OWNS_TAPE {
        let (y_key, s_key, b_key) = (y.clone(), bn.scale.clone(), bn.bias.clone());
        tape.add_backward_op(move |grads| {
            let gy = take_grad(grads, &y_key)?;
            let to_f32 = |v: Vec<f64>| v.into_iter().map(|s| s as f32).collect::<Vec<f32>>();
            let dbias = to_f32(channel_sums((&gy, &gy), C, plane, |_, g, _| g));
            let dscale = to_f32(channel_sums((&gy, &xhat), C, plane, |_, g, x| g * x));
            with_grad(grads, &x, |gx| {
                gx.par_chunks_mut(plane)
                    .with_min_len(planes_per_task(plane))
                    .enumerate()
                    .for_each(|(k, gxs)| {
                        let c = k % C;
                        let kk = scale[c] * inv_std[c];
                        // Batch statistics depend on x: their gradient is the mean terms.
                        let (mb, ms) = match mode {
                            Mode::Train => (dbias[c] / count as f32, dscale[c] / count as f32),
                            Mode::Eval => (0.0, 0.0),
                        };
                        let (gys, xs) = (&gy[k * plane..][..plane], &xhat[k * plane..][..plane]);
                        match &kept {
                            Some(kept) => {
                                for (((g, dy), xh), &keep) in
                                    gxs.iter_mut().zip(gys).zip(xs).zip(&kept[k * plane..][..plane])
                                {
                                    // Computed for every value, then selected: ReLU's mask is
                                    // random, and a branch on it mispredicts half the time.
                                    let v = kk * (dy - mb - xh * ms);
                                    *g += if keep { v } else { 0.0 };
                                }
                            }
                            None => {
                                for ((g, dy), xh) in gxs.iter_mut().zip(gys).zip(xs) {
                                    *g += kk * (dy - mb - xh * ms);
                                }
                            }
                        }
                    });
            })?;
            with_grad(grads, &s_key, |g| g.iter_mut().zip(&dscale).for_each(|(g, d)| *g += d))?;
            with_grad(grads, &b_key, |g| g.iter_mut().zip(&dbias).for_each(|(g, d)| *g += d))?;
            put_grad(grads, &y_key, gy)
        });
    }
    y.put_tape(tape)
}
