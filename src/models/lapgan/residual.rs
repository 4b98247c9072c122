//! A finer LAPGAN level at side `s` (`P = s * s` pixels): G_s(l, c, z) makes the band-pass
//! residual h of an image whose coarse part is l = upsample(image at s / 2); D_s(h, l, c)
//! tells real residuals from generated ones. The label and z enter as one extra plane
//! each (a learned linear map to `s x s`), beside l, as in Denton et al.'s conditional
//! levels. `C` channels in the hidden convs.

use crate::data::NUM_CLASSES;
use crate::device::{Kernels, ModelDevice};
use crate::models::{Condition, Logits, Noise, NOISE_DIM};
use crate::nn::layers::Conv2D;
use crate::ops::pyramid::Planes;
use crate::ops::Img;
use dfdx::nn::modules::Linear;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;

/// G_s(l, c, z) -> residual h, `(n, 1, s, s)`, unbounded (a residual of images in
/// [-1, 1] lies in [-2, 2]).
#[derive(Clone, Debug)]
pub struct ResidualG<const P: usize, const C: usize, E: Dtype, D: Storage<E>> {
    /// c -> an `s x s` plane.
    pub label: Linear<NUM_CLASSES, P, E, D>,
    /// z -> an `s x s` plane.
    pub noise: Linear<NOISE_DIM, P, E, D>,
    /// [l, label plane, noise plane] 3 -> C, 3x3 (ReLU).
    pub conv1: Conv2D<3, C, 3, 1, 1, E, D>,
    /// C -> C, 3x3 (ReLU).
    pub conv2: Conv2D<C, C, 3, 1, 1, E, D>,
    /// C -> 1, 3x3: the residual.
    pub out: Conv2D<C, 1, 3, 1, 1, E, D>,
}

/// D_s(h, l, c) -> logit of "a real residual of class c over this coarse image": the mean
/// of a 3x3-conv logit map over D's `s/4 x s/4` grid.
#[derive(Clone, Debug)]
pub struct ResidualD<const P: usize, const C: usize, E: Dtype, D: Storage<E>> {
    /// c -> an `s x s` plane.
    pub label: Linear<NUM_CLASSES, P, E, D>,
    /// [h, l, label plane] 3 -> C, 3x3 stride 2 (LeakyReLU 0.2).
    pub conv1: Conv2D<3, C, 3, 2, 1, E, D>,
    /// C -> C, 3x3 stride 2 (LeakyReLU 0.2).
    pub conv2: Conv2D<C, C, 3, 2, 1, E, D>,
    /// C -> 1, 3x3: the logit map.
    pub out: Conv2D<C, 1, 3, 1, 1, E, D>,
}

impl<const P: usize, const C: usize, E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D>
    for ResidualG<P, C, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ResidualG<P, C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("label", |s| &s.label, |s| &mut s.label),
                Self::module("noise", |s| &s.noise, |s| &mut s.noise),
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("out", |s| &s.out, |s| &mut s.out),
            ),
            |(label, noise, conv1, conv2, out)| ResidualG {
                label,
                noise,
                conv1,
                conv2,
                out,
            },
        )
    }
}

impl<const P: usize, const C: usize, E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D>
    for ResidualD<P, C, E, D>
{
    type To<E2: Dtype, D2: Device<E2>> = ResidualD<P, C, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("label", |s| &s.label, |s| &mut s.label),
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("out", |s| &s.out, |s| &mut s.out),
            ),
            |(label, conv1, conv2, out)| ResidualD {
                label,
                conv1,
                conv2,
                out,
            },
        )
    }
}

/// The side `s` of a level with `P = s * s` pixels.
const fn side(p: usize) -> usize {
    let mut s = 1;
    while s * s < p {
        s += 1;
    }
    s
}

/// `(n, P)` -> `(n, 1, s, s)`.
fn plane<const P: usize, D: ModelDevice, T: Tape<f32, D>>(x: Tensor<(usize, Const<P>), f32, D, T>) -> Planes<D, T> {
    let n = x.shape().0;
    x.reshape_like(&(n, 1usize, side(P), side(P)))
}

/// Three one-channel planes stacked into a 3-channel image.
fn stack<D: ModelDevice, T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
    a: Planes<D, T>,
    b: Planes<D, T>,
    c: Planes<D, T>,
) -> Tensor<Img<3>, f32, D, T> {
    let ab = (a, b).concat_along(Axis::<1>);
    (ab, c).concat_along(Axis::<1>).realize::<Img<3>>()
}

/// Checks a level's input against its side (the model's shapes are fixed, so a mismatch is
/// a programming error, never a user's).
fn check_side<const P: usize, D: ModelDevice, T>(what: &str, x: &Planes<D, T>) {
    let (_, c, h, w) = *x.shape();
    assert!(
        c == 1 && h == side(P) && w == side(P),
        "LAPGAN level {}: {what} is {c}x{h}x{w}, expected 1x{s}x{s}",
        side(P),
        s = side(P)
    );
}

impl<const P: usize, const C: usize, D: ModelDevice> ResidualG<P, C, f32, D> {
    /// `l (n, 1, s, s)`, `c (n, 10)`, `z (n, 100)` -> `h (n, 1, s, s)`. The condition and l
    /// join z's tape.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &self,
        l: Planes<D>,
        c: Condition<D>,
        z: Noise<D, T>,
        k: Kernels,
    ) -> Planes<D, T> {
        check_side::<P, D, _>("l", &l);
        let n = l.shape().0;
        let noise = plane(self.noise.forward(z));
        let label = plane(self.label.forward(c.retaped::<T>()));
        let x = stack(l.retaped::<T>(), label, noise);
        let h = self.conv1.forward(x, k).relu();
        let h = self.conv2.forward(h, k).relu();
        self.out.forward(h, k).reshape_like(&(n, 1usize, side(P), side(P)))
    }
}

impl<const P: usize, const C: usize, D: ModelDevice> ResidualD<P, C, f32, D> {
    /// `h (n, 1, s, s)`, `l (n, 1, s, s)`, `c (n, 10)` -> `(n, 1)`.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &self,
        h: Planes<D, T>,
        l: Planes<D>,
        c: Condition<D>,
        k: Kernels,
    ) -> Logits<D, T> {
        check_side::<P, D, _>("h", &h);
        check_side::<P, D, _>("l", &l);
        let n = h.shape().0;
        let label = plane(self.label.forward(c.retaped::<T>()));
        let x = stack(h, l.retaped::<T>(), label);
        let x = D::leaky_relu(k, self.conv1.forward(x, k), super::SLOPE);
        let x = D::leaky_relu(k, self.conv2.forward(x, k), super::SLOPE);
        let map = self.out.forward(x, k);
        let cells = map.shape().2 * map.shape().3;
        map.reshape_like(&(n, Const::<1>, cells))
            .mean::<(usize, Const<1>), Axis<2>>()
    }
}
