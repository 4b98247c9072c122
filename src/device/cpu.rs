//! The CPU: the fused host kernels of [`crate::ops`] with direct convolutions (the
//! default, `kernels = "auto"` or `"direct"`; `"fast"` runs their convolutions through
//! im2col and gemm instead), or the composite ops (`kernels = "composite"`), which run
//! what a GPU runs.

use super::{DeviceKind, Kernels, ModelDevice};
use crate::ops::batch_norm::Mode;
use crate::ops::conv::ConvKernels;
use crate::ops::mode_seeking;
use crate::ops::spectral_norm::{PowerIteration, WithWeight};
use crate::ops::{self, composite, Images, Img, OpsDevice};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::*;

/// Whether `kernels` asks this device for the composite ops.
fn composite(kernels: Kernels) -> bool {
    kernels == Kernels::Composite
}

/// The convolution kernels `kernels` asks for (the fused ops' choice): direct unless
/// `fast` asks for im2col + gemm (docs/speed.md measures both).
fn conv_kernels(kernels: Kernels) -> ConvKernels {
    if kernels == Kernels::Fast {
        ConvKernels::Gemm
    } else {
        ConvKernels::direct()
    }
}

impl ModelDevice for Cpu {
    const KIND: DeviceKind = DeviceKind::Cpu;

    fn conv2d<const I: usize, const O: usize, const K: usize, T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<Img<I>, f32, Self, T>,
        weight: &Tensor<Rank4<O, I, K, K>, f32, Self>,
        bias: &Tensor<Rank1<O>, f32, Self>,
        stride: usize,
        pad: usize,
    ) -> Tensor<Img<O>, f32, Self, T> {
        if composite(kernels) {
            composite::conv::conv2d(x, weight, bias, stride, pad)
        } else {
            ops::conv::conv2d(conv_kernels(kernels), x, weight, bias, stride, pad)
        }
    }

    fn conv_transpose2d<const I: usize, const O: usize, const K: usize, T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<Img<I>, f32, Self, T>,
        weight: &Tensor<Rank4<I, O, K, K>, f32, Self>,
        bias: &Tensor<Rank1<O>, f32, Self>,
        stride: usize,
        pad: usize,
        output_pad: usize,
    ) -> Tensor<Img<O>, f32, Self, T> {
        if composite(kernels) {
            composite::conv::conv_transpose2d(x, weight, bias, stride, pad, output_pad)
        } else {
            ops::conv::conv_transpose2d(conv_kernels(kernels), x, weight, bias, stride, pad, output_pad)
        }
    }

    fn batch_norm2d<const C: usize, T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<Img<C>, f32, Self, T>,
        bn: &mut BatchNorm2D<C, f32, Self>,
        mode: Mode,
    ) -> Tensor<Img<C>, f32, Self, T> {
        if composite(kernels) {
            composite::batch_norm::batch_norm2d(x, bn, mode)
        } else {
            ops::batch_norm::batch_norm2d(x, bn, mode)
        }
    }

    fn relu_batch_norm2d<const C: usize, T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<Img<C>, f32, Self, T>,
        bn: &mut BatchNorm2D<C, f32, Self>,
        mode: Mode,
    ) -> Tensor<Img<C>, f32, Self, T> {
        if composite(kernels) {
            composite::batch_norm::batch_norm2d(x.relu(), bn, mode)
        } else {
            ops::batch_norm::relu_batch_norm2d(x, bn, mode)
        }
    }

    fn leaky_relu<S: Shape, T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<S, f32, Self, T>,
        slope: f32,
    ) -> Tensor<S, f32, Self, T> {
        if composite(kernels) {
            composite::regularisers::leaky_relu(x, slope)
        } else {
            ops::leaky_relu::leaky_relu(x, slope)
        }
    }

    fn minibatch_std<T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<(usize, usize, usize, usize), f32, Self, T>,
    ) -> Tensor<(usize, usize, usize, usize), f32, Self, T> {
        if composite(kernels) {
            composite::regularisers::minibatch_std(x)
        } else {
            ops::minibatch_std::minibatch_std(x)
        }
    }

    fn spectral_normalize<XS: Shape, S: Shape, T: Tape<f32, Self>>(
        kernels: Kernels,
        x: Tensor<XS, f32, Self, T>,
        w: &Tensor<S, f32, Self>,
        it: &PowerIteration,
    ) -> WithWeight<XS, S, Self, T> {
        if composite(kernels) {
            composite::regularisers::spectral_normalize(x, w, it)
        } else {
            ops::spectral_norm::spectral_normalize(x, w, it)
        }
    }

    fn mode_seeking<T: Tape<f32, Self>>(
        kernels: Kernels,
        images: Images<Self, T>,
        z_distance: f32,
        weight: f32,
        cap: f32,
    ) -> (Tensor<(), f32, Self, T>, f32) {
        if composite(kernels) {
            composite::regularisers::mode_seeking(images, z_distance, weight, cap)
        } else {
            mode_seeking::mode_seeking(images, z_distance, weight, cap)
        }
    }

    fn with_host_grad<S: Shape, R>(
        grads: &mut Gradients<f32, Self>,
        t: &Tensor<S, f32, Self>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, Self::Err> {
        // The CPU's gradient buffers are host memory: no copy.
        Ok(f(Self::grad_vec(grads.get_or_alloc_mut(t)?)))
    }
}
