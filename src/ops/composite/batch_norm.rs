//! 2-D batch normalisation from public tensor ops, same semantics as the fused
//! [`crate::ops::batch_norm`]: batch statistics (biased variance) and a running-statistics
//! update in [`Mode::Train`], running statistics in [`Mode::Eval`].
//!
//! Statistics are summed one axis at a time (width, height, batch), and broadcast back
//! the same way so the backward sums are staged too. One f32 sum over a whole channel
//! (up to n x 729 values) rounds ~10x worse than the fused kernel, and the gradients of the
//! layers before a BatchNorm are small differences of large sums: G's end-to-end gradients
//! then moved by 3e-4 relative.

use crate::ops::batch_norm::Mode;
use crate::ops::Img;
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::*;

/// The mean of each channel of `x (n, C, h, w)`.
fn channel_mean<const C: usize, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Img<C>, f32, D, T>,
) -> Tensor<Rank1<C>, f32, D, T> {
    let (n, _, h, w) = *x.shape();
    x.sum::<(usize, Const<C>, usize), Axis<3>>()
        .sum::<(usize, Const<C>), Axis<2>>()
        .sum::<Rank1<C>, Axis<0>>()
        / (n * h * w) as f32
}

/// One value per channel, broadcast to `shape`.
fn per_channel<const C: usize, D: Device<f32>, T: Tape<f32, D>>(
    v: Tensor<Rank1<C>, f32, D, T>,
    shape: Img<C>,
) -> Tensor<Img<C>, f32, D, T> {
    let (n, _, h, _) = shape;
    v.broadcast_like::<_, Axis<0>>(&(n, Const::<C>))
        .broadcast_like::<_, Axis<2>>(&(n, Const::<C>, h))
        .broadcast_like::<_, Axis<3>>(&shape)
}

/// `y = scale * (x - mean) / sqrt(var + eps) + bias` per channel of `x (n, C, h, w)`.
pub fn batch_norm2d<const C: usize, D: Device<f32>, T: Tape<f32, D>>(
    x: Tensor<Img<C>, f32, D, T>,
    bn: &mut BatchNorm2D<C, f32, D>,
    mode: Mode,
) -> Tensor<Img<C>, f32, D, T> {
    let shape = *x.shape();
    let (n, _, h, w) = shape;
    let eps = bn.epsilon as f32;
    let (centered, inv_std) = match mode {
        Mode::Train => {
            let mean = channel_mean(x.retaped::<T>());
            let mean_value = mean.retaped::<NoneTape>();
            let centered = x - per_channel(mean, shape);
            let var = channel_mean(centered.retaped::<T>().square());
            let count = n * h * w;
            let m = bn.momentum as f32;
            let unbias = count as f32 / (count.max(2) - 1) as f32;
            bn.running_mean = bn.running_mean.clone() * (1.0 - m) + mean_value * m;
            bn.running_var = bn.running_var.clone() * (1.0 - m) + var.retaped::<NoneTape>() * (m * unbias);
            (centered, (var + eps).sqrt().recip())
        }
        // Running statistics are constants: no gradient reaches them.
        Mode::Eval => (
            x - per_channel(bn.running_mean.clone(), shape),
            (bn.running_var.clone() + eps).sqrt().recip().retaped::<T>(),
        ),
    };
    let scale = bn.scale.clone().retaped::<T>() * inv_std;
    centered * per_channel(scale, shape) + per_channel(bn.bias.clone().retaped::<T>(), shape)
}
