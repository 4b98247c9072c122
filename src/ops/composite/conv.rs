//! `conv2d` and `conv_transpose2d` from public tensor ops, same semantics as the fast
//! [`crate::ops::conv`] (PyTorch's weight layouts, zero padding, output padding at the
//! bottom and right).
//!
//! Inside, activations are laid out `(features, n)`: the batch is the fast axis, so one
//! gather index (independent of the batch size) moves whole rows.

use super::{cached_index, with_zero_row, IndexKey};
use crate::ops::conv::{conv_out_size, conv_transpose_out_size};
use crate::ops::Img;
use dfdx::prelude::*;

/// `(n, C, h, w)` -> `(C h w, n)`.
fn features_by_batch<const C: usize, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Img<C>, f32, D, T>,
) -> Tensor<(usize, usize), f32, D, T> {
    let (n, _, h, w) = *x.shape();
    x.reshape_like(&(n, C * h * w)).permute::<_, Axes2<1, 0>>()
}

/// `(O, P n)` laid out (channel, position, sample) -> `(n, O, oh, ow)`.
fn batch_first<const O: usize, D: Device<f32>, T: Tape<f32, D>>(
    y: Tensor<(usize, usize), f32, D, T>,
    n: usize,
    oh: usize,
    ow: usize,
) -> Tensor<Img<O>, f32, D, T> {
    y.reshape_like(&(O, oh * ow, n))
        .permute::<_, Axes3<2, 0, 1>>()
        .reshape_like(&(n, Const::<O>, oh, ow))
}

/// `bias (O)` added to every column of `y (O, cols)`.
fn plus_bias<const O: usize, D: Device<f32>, T: Tape<f32, D>>(
    y: Tensor<(usize, usize), f32, D, T>,
    bias: &Tensor<Rank1<O>, f32, D>,
) -> Tensor<(usize, usize), f32, D, T> {
    let cols = y.shape().1;
    let b = bias
        .clone()
        .retaped::<T>()
        .reshape_like(&(O,))
        .broadcast_like::<_, Axis<1>>(&(O, cols));
    y + b
}

/// The im2col index of a conv: row `(i, ky, kx) * P + p` of the gathered matrix is input
/// feature `i h w + iy w + ix` of window position `p`, or the zero slot `I h w`.
fn im2col_index(channels: usize, h: usize, w: usize, k: usize, stride: usize, pad: usize) -> Vec<usize> {
    let (oh, ow) = (conv_out_size(h, k, stride, pad), conv_out_size(w, k, stride, pad));
    let zero = channels * h * w;
    let mut idx = Vec::with_capacity(channels * k * k * oh * ow);
    for i in 0..channels {
        for ky in 0..k {
            for kx in 0..k {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let (iy, ix) = (
                            (oy * stride + ky) as isize - pad as isize,
                            (ox * stride + kx) as isize - pad as isize,
                        );
                        let inside = (0..h as isize).contains(&iy) && (0..w as isize).contains(&ix);
                        idx.push(if inside {
                            i * h * w + iy as usize * w + ix as usize
                        } else {
                            zero
                        });
                    }
                }
            }
        }
    }
    idx
}

/// 2-D convolution: `x (n, I, h, w)`, `weight (O, I, K, K)`, `bias (O)` -> `(n, O, h', w')`:
/// gather the windows (im2col), one matmul, add the bias.
pub fn conv2d<const I: usize, const O: usize, const K: usize, D: Device<f32> + Synchronize, T: Tape<f32, D>>(
    x: Tensor<Img<I>, f32, D, T>,
    weight: &Tensor<Rank4<O, I, K, K>, f32, D>,
    bias: &Tensor<Rank1<O>, f32, D>,
    stride: usize,
    pad: usize,
) -> Tensor<Img<O>, f32, D, T> {
    let (n, _, h, w) = *x.shape();
    let (oh, ow) = (conv_out_size(h, K, stride, pad), conv_out_size(w, K, stride, pad));
    let key = IndexKey {
        op: "im2col",
        geometry: [I, h, w, K, stride, pad, 0],
    };
    let idx = cached_index(x.device(), key, || im2col_index(I, h, w, K, stride, pad));
    let cols = with_zero_row(features_by_batch(x))
        .gather(idx)
        .reshape_like(&(I * K * K, oh * ow * n));
    let wm = weight.clone().retaped::<T>().reshape_like(&(O, I * K * K));
    batch_first(plus_bias(wm.matmul(cols), bias), n, oh, ow)
}

/// The col2im index of a transposed conv: for output `(o, y, x)`, `taps` slots each naming
/// a row `(o, ky, kx) * h w + iy w + ix` of `W^T x` that lands there, or the zero slot
/// (`taps` is the most any output gets).
fn col2im_index(
    out_channels: usize,
    h: usize,
    w: usize,
    k: usize,
    stride: usize,
    pad: usize,
    out: (usize, usize),
) -> Vec<usize> {
    let taps_along = |o: usize, size: usize| -> Vec<(usize, usize)> {
        // (kernel tap, input position) pairs with pos * stride + tap - pad = o.
        (0..k)
            .filter_map(|t| {
                let s = o as isize + pad as isize - t as isize;
                (s >= 0 && s % stride as isize == 0 && ((s / stride as isize) as usize) < size)
                    .then(|| (t, (s / stride as isize) as usize))
            })
            .collect()
    };
    let rows: Vec<Vec<(usize, usize)>> = (0..out.0).map(|y| taps_along(y, h)).collect();
    let cols: Vec<Vec<(usize, usize)>> = (0..out.1).map(|x| taps_along(x, w)).collect();
    // At least one slot, so an output no tap reaches (only its bias) still has a row.
    let taps = (rows.iter().map(Vec::len).max().unwrap_or(0) * cols.iter().map(Vec::len).max().unwrap_or(0)).max(1);
    let zero = out_channels * k * k * h * w;
    let mut idx = Vec::with_capacity(out_channels * out.0 * out.1 * taps);
    for o in 0..out_channels {
        for r in &rows {
            for c in &cols {
                let start = idx.len();
                for &(ky, iy) in r {
                    for &(kx, ix) in c {
                        idx.push(((o * k + ky) * k + kx) * h * w + iy * w + ix);
                    }
                }
                idx.resize(start + taps, zero);
            }
        }
    }
    idx
}

/// 2-D transposed convolution: `x (n, I, h, w)`, `weight (I, O, K, K)`, `bias (O)` ->
/// `(n, O, h', w')`. Every contribution `W^T x` is one matmul; each output pixel then
/// gathers and sums the contributions that land on it (col2im). No zeros are inserted,
/// so no multiplication is wasted on them (a quarter of the work at stride 2).
pub fn conv_transpose2d<
    const I: usize,
    const O: usize,
    const K: usize,
    D: Device<f32> + Synchronize,
    T: Tape<f32, D>,
>(
    x: Tensor<Img<I>, f32, D, T>,
    weight: &Tensor<Rank4<I, O, K, K>, f32, D>,
    bias: &Tensor<Rank1<O>, f32, D>,
    stride: usize,
    pad: usize,
    output_pad: usize,
) -> Tensor<Img<O>, f32, D, T> {
    let (n, _, h, w) = *x.shape();
    let out = (
        conv_transpose_out_size(h, K, stride, pad, output_pad),
        conv_transpose_out_size(w, K, stride, pad, output_pad),
    );
    let key = IndexKey {
        op: "col2im",
        geometry: [O, h, w, K, stride, pad, output_pad],
    };
    let idx = cached_index(x.device(), key, || col2im_index(O, h, w, K, stride, pad, out));
    let taps = idx.shape().0 / (O * out.0 * out.1);
    // (I, h w n): channels by (position, sample).
    let xm = x
        .reshape_like(&(n, I, h * w))
        .permute::<_, Axes3<1, 2, 0>>()
        .reshape_like(&(I, h * w * n));
    let wt = weight
        .clone()
        .retaped::<T>()
        .reshape_like(&(I, O * K * K))
        .permute::<_, Axes2<1, 0>>();
    let contributions = wt.matmul(xm).reshape_like(&(O * K * K * h * w, n));
    let y = with_zero_row(contributions)
        .gather(idx)
        .reshape_like(&(O * out.0 * out.1, taps, n))
        .sum::<(usize, usize), Axis<1>>()
        .reshape_like(&(O, out.0 * out.1 * n));
    batch_first(plus_bias(y, bias), n, out.0, out.1)
}
