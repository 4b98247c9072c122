//! Where the model runs: the devices a run can choose (`device` in the config) and the
//! ops each one uses. The model, the training step, checkpoints, eval and generate are
//! generic over [`ModelDevice`]; a device gets the composite ops
//! ([`crate::ops::composite`]) unless it has faster ones: the CPU has its fused host
//! kernels, picked by `kernels` in the config.

pub mod cpu;
#[cfg(feature = "cuda")]
pub mod cuda;

use crate::ops::batch_norm::Mode;
use crate::ops::spectral_norm::{PowerIteration, WithWeight};
use crate::ops::Img;
use crate::ops::{composite, Images};
use dfdx::nn::modules::BatchNorm2D;
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};

/// The device a run trains on (`device` in the config, `--device` on the command line).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceKind {
    /// The CPU (the default).
    #[default]
    Cpu,
    /// The first NVIDIA GPU, through dfdx's CUDA device (a build with `--features cuda`).
    Cuda,
}

impl DeviceKind {
    /// The name the config and `--device` use.
    pub fn name(self) -> &'static str {
        match self {
            DeviceKind::Cpu => "cpu",
            DeviceKind::Cuda => "cuda",
        }
    }
}

/// Which implementation of the model's ops runs (`kernels` in the config).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Kernels {
    /// The fastest the device has: the fused host kernels with direct convolutions on the
    /// CPU, the composite ops elsewhere (the default).
    #[default]
    Auto,
    /// The fused host kernels with im2col + gemm convolutions (CPU only; the default
    /// before the direct ones).
    Fast,
    /// The fused host kernels with direct convolutions (src/ops/direct.rs; CPU only; what
    /// `auto` picks there).
    Direct,
    /// The composite ops: public dfdx tensor ops only, the same on every device. On the
    /// CPU this runs exactly what a GPU runs, for checking it.
    Composite,
}

impl Kernels {
    /// The config's name for this choice.
    pub fn name(self) -> &'static str {
        match self {
            Kernels::Auto => "auto",
            Kernels::Fast => "fast",
            Kernels::Direct => "direct",
            Kernels::Composite => "composite",
        }
    }
}

/// A device the model runs on: every op the networks and losses use, with the composite
/// versions as defaults. `kernels` picks among a device's implementations; a device with
/// only the composite ones ignores it.
pub trait ModelDevice: Device<f32> + TensorToArray<(), f32, Array = f32> + Synchronize {
    /// The config's name for this device.
    const KIND: DeviceKind;

    /// See [`crate::ops::conv::conv2d`].
    fn conv2d<const I: usize, const O: usize, const K: usize, T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<Img<I>, f32, Self, T>,
        weight: &Tensor<Rank4<O, I, K, K>, f32, Self>,
        bias: &Tensor<Rank1<O>, f32, Self>,
        stride: usize,
        pad: usize,
    ) -> Tensor<Img<O>, f32, Self, T> {
        composite::conv::conv2d(x, weight, bias, stride, pad)
    }

    /// See [`crate::ops::conv::conv_transpose2d`].
    #[allow(clippy::too_many_arguments)]
    fn conv_transpose2d<const I: usize, const O: usize, const K: usize, T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<Img<I>, f32, Self, T>,
        weight: &Tensor<Rank4<I, O, K, K>, f32, Self>,
        bias: &Tensor<Rank1<O>, f32, Self>,
        stride: usize,
        pad: usize,
        output_pad: usize,
    ) -> Tensor<Img<O>, f32, Self, T> {
        composite::conv::conv_transpose2d(x, weight, bias, stride, pad, output_pad)
    }

    /// See [`crate::ops::batch_norm::batch_norm2d`].
    fn batch_norm2d<const C: usize, T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<Img<C>, f32, Self, T>,
        bn: &mut BatchNorm2D<C, f32, Self>,
        mode: Mode,
    ) -> Tensor<Img<C>, f32, Self, T> {
        composite::batch_norm::batch_norm2d(x, bn, mode)
    }

    /// See [`crate::ops::batch_norm::relu_batch_norm2d`].
    fn relu_batch_norm2d<const C: usize, T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<Img<C>, f32, Self, T>,
        bn: &mut BatchNorm2D<C, f32, Self>,
        mode: Mode,
    ) -> Tensor<Img<C>, f32, Self, T> {
        composite::batch_norm::batch_norm2d(x.relu(), bn, mode)
    }

    /// See [`crate::ops::leaky_relu::leaky_relu`].
    fn leaky_relu<S: Shape, T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<S, f32, Self, T>,
        slope: f32,
    ) -> Tensor<S, f32, Self, T> {
        composite::regularisers::leaky_relu(x, slope)
    }

    /// See [`crate::ops::minibatch_std::minibatch_std`].
    fn minibatch_std<T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<(usize, usize, usize, usize), f32, Self, T>,
    ) -> Tensor<(usize, usize, usize, usize), f32, Self, T> {
        composite::regularisers::minibatch_std(x)
    }

    /// See [`crate::ops::spectral_norm::spectral_normalize`].
    fn spectral_normalize<XS: Shape, S: Shape, T: Tape<f32, Self>>(
        _kernels: Kernels,
        x: Tensor<XS, f32, Self, T>,
        w: &Tensor<S, f32, Self>,
        it: &PowerIteration,
    ) -> WithWeight<XS, S, Self, T> {
        composite::regularisers::spectral_normalize(x, w, it)
    }

    /// See [`crate::ops::mode_seeking::mode_seeking`].
    fn mode_seeking<T: Tape<f32, Self>>(
        _kernels: Kernels,
        images: Images<Self, T>,
        z_distance: f32,
        weight: f32,
        cap: f32,
    ) -> (Tensor<(), f32, Self, T>, f32) {
        composite::regularisers::mode_seeking(images, z_distance, weight, cap)
    }

    /// Runs `f` on the host values of `t`'s gradient in `grads` (allocated, zeroed, if
    /// missing): a copy on devices whose memory the host cannot read.
    fn with_host_grad<S: Shape, R>(
        grads: &mut Gradients<f32, Self>,
        t: &Tensor<S, f32, Self>,
        f: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, Self::Err> {
        grads.try_alloc_for(t)?;
        Ok(f(&grads.get(t).as_vec()))
    }
}

/// The error of a device that cannot be used, with what to do about it.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct DeviceError(pub String);

/// Rejects `kernels` a device does not have.
pub fn check_kernels(device: DeviceKind, kernels: Kernels) -> Result<(), DeviceError> {
    if matches!(kernels, Kernels::Fast | Kernels::Direct) && device != DeviceKind::Cpu {
        return Err(DeviceError(format!(
            "kernels = \"{}\" exists on the CPU only; with device = \"{}\" use \"auto\" or \"composite\"",
            kernels.name(),
            device.name()
        )));
    }
    Ok(())
}

/// Says whether a CUDA device can be opened by this build.
pub fn cuda_available() -> Result<(), DeviceError> {
    #[cfg(feature = "cuda")]
    {
        cuda::open(0).map(|_| ())
    }
    #[cfg(not(feature = "cuda"))]
    {
        Err(DeviceError(NO_CUDA.into()))
    }
}

/// What a build without the `cuda` feature says to `--device cuda`.
pub const NO_CUDA: &str = "device = \"cuda\" needs a CUDA build of cgan: `cargo build --release --features cuda` \
     with the CUDA toolkit (nvcc, cuda.h) installed; see docs/gpu.md";
