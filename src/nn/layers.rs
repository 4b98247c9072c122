//! Convolution layers over the project's own ops: weights, bias, PyTorch's default
//! initialisation, and the `TensorCollection` impl dfdx needs to build, save, load and
//! optimise them.

use crate::device::{Kernels, ModelDevice};
use crate::ops::Img;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection, TensorOptions};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;

/// PyTorch's default init for conv weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
fn fill_fan_in<S: Shape, E: Dtype + Float + SampleUniform, D: Device<E>>(
    t: &mut Tensor<S, E, D>,
    fan_in: usize,
) -> Result<(), D::Err> {
    let b = E::from_f64(1.0 / (fan_in as f64).sqrt()).unwrap_or_else(E::one);
    t.try_fill_with_distr(rand_distr::Uniform::new(-b, b))
}

/// `I -> O` channels, `K x K` kernel, stride `S`, zero padding `P`.
#[derive(Clone, Debug)]
pub struct Conv2D<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// `(O, I, K, K)`.
    pub weight: Tensor<Rank4<O, I, K, K>, E, D>,
    /// `(O)`.
    pub bias: Tensor<Rank1<O>, E, D>,
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, E, D> TensorCollection<E, D>
    for Conv2D<I, O, K, S, P, E, D>
where
    E: Dtype + Float + SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = Conv2D<I, O, K, S, P, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| fill_fan_in(t, I * K * K)),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| fill_fan_in(t, I * K * K)),
                ),
            ),
            |(weight, bias)| Conv2D { weight, bias },
        )
    }
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, D: ModelDevice>
    Conv2D<I, O, K, S, P, f32, D>
{
    /// `(n, I, h, w) -> (n, O, h', w')` with the device's `kernels`.
    pub fn forward<T: Tape<f32, D>>(
        &self,
        x: Tensor<Img<I>, f32, D, T>,
        kernels: Kernels,
    ) -> Tensor<Img<O>, f32, D, T> {
        D::conv2d(kernels, x, &self.weight, &self.bias, S, P)
    }
}

/// Transposed conv `I -> O` channels, `K x K` kernel, stride `S`, padding `P`, output
/// padding `OP` (PyTorch's `ConvTranspose2d`).
#[derive(Clone, Debug)]
pub struct ConvTranspose2D<
    const I: usize,
    const O: usize,
    const K: usize,
    const S: usize,
    const P: usize,
    const OP: usize,
    E: Dtype,
    D: Storage<E>,
> {
    /// `(I, O, K, K)`.
    pub weight: Tensor<Rank4<I, O, K, K>, E, D>,
    /// `(O)`.
    pub bias: Tensor<Rank1<O>, E, D>,
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, const OP: usize, E, D>
    TensorCollection<E, D> for ConvTranspose2D<I, O, K, S, P, OP, E, D>
where
    E: Dtype + Float + SampleUniform,
    D: Device<E>,
{
    type To<E2: Dtype, D2: Device<E2>> = ConvTranspose2D<I, O, K, S, P, OP, E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        // PyTorch takes fan_in from the weight's second axis: O * K * K.
        visitor.visit_fields(
            (
                Self::tensor(
                    "weight",
                    |s| &s.weight,
                    |s| &mut s.weight,
                    TensorOptions::reset_with(|t| fill_fan_in(t, O * K * K)),
                ),
                Self::tensor(
                    "bias",
                    |s| &s.bias,
                    |s| &mut s.bias,
                    TensorOptions::reset_with(|t| fill_fan_in(t, O * K * K)),
                ),
            ),
            |(weight, bias)| ConvTranspose2D { weight, bias },
        )
    }
}

impl<
        const I: usize,
        const O: usize,
        const K: usize,
        const S: usize,
        const P: usize,
        const OP: usize,
        D: ModelDevice,
    > ConvTranspose2D<I, O, K, S, P, OP, f32, D>
{
    /// `(n, I, h, w) -> (n, O, (h - 1) S - 2 P + K + OP, ...)` with the device's `kernels`.
    pub fn forward<T: Tape<f32, D>>(
        &self,
        x: Tensor<Img<I>, f32, D, T>,
        kernels: Kernels,
    ) -> Tensor<Img<O>, f32, D, T> {
        D::conv_transpose2d(kernels, x, &self.weight, &self.bias, S, P, OP)
    }
}
