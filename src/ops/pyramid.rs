//! The two resamplings of a Laplacian pyramid (LAPGAN, Denton et al. 2015, as the article
//! describes it), defined once for every level: `downsample` halves each side by the mean
//! of each 2 x 2 block, `upsample` doubles it by repeating each pixel over a 2 x 2 block.
//! Level k keeps the band-pass residual `h = x - upsample(downsample(x))`, so
//! `x = upsample(coarse) + h` exactly. Public dfdx ops only: they run, and differentiate,
//! on any device.

use dfdx::prelude::*;

/// A batch of images `(n, channels, height, width)` with run-time sides.
pub type Planes<D, T = NoneTape> = Tensor<(usize, usize, usize, usize), f32, D, T>;

/// `(n, c, 2h, 2w)` -> `(n, c, h, w)`: the mean of each 2 x 2 block.
///
/// # Panics
/// If a side is odd: the pyramid's sides (28, 14, 7) are fixed, so this is a programming
/// error, never a user's.
pub fn downsample<D: Device<f32>, T: Tape<f32, D>>(x: Planes<D, T>) -> Planes<D, T> {
    let (n, c, h2, w2) = *x.shape();
    assert!(h2 % 2 == 0 && w2 % 2 == 0, "downsample: {h2}x{w2} has an odd side");
    let (h, w) = (h2 / 2, w2 / 2);
    x.reshape_like(&(n, c, h, 2usize, w, 2usize))
        .sum::<(usize, usize, usize, usize, usize), Axis<5>>()
        .sum::<(usize, usize, usize, usize), Axis<3>>()
        * 0.25
}

/// `(n, c, h, w)` -> `(n, c, 2h, 2w)`: each pixel repeated over a 2 x 2 block.
pub fn upsample<D: Device<f32>, T: Tape<f32, D>>(x: Planes<D, T>) -> Planes<D, T> {
    let (n, c, h, w) = *x.shape();
    x.broadcast_like::<_, Axis<3>>(&(n, c, h, 2usize, w))
        .broadcast_like::<_, Axis<5>>(&(n, c, h, 2usize, w, 2usize))
        .reshape_like(&(n, c, 2 * h, 2 * w))
}
