//! Custom dfdx ops the project owns: dfdx 0.13 has no convolution on stable Rust, and its
//! BatchNorm is ten single-threaded ops with no way to use batch statistics without a tape.
//!
//! Each op copies its inputs out of the tensors, runs a kernel over plain slices
//! ([`kernels`]), builds the output with `tensor_from_vec` and registers a backward closure
//! that writes gradients straight into dfdx's [`Gradients`](dfdx::tensor::Gradients).

pub mod batch_norm;
pub mod composite;
pub mod conv;
pub mod direct;
pub mod kernels;
pub mod leaky_relu;
pub mod minibatch_std;
pub mod mode_seeking;
pub mod pyramid;
pub mod spectral_norm;

use crate::data::IMAGE_SIDE;
use dfdx::prelude::*;

/// A batch of images in NCHW layout with `C` channels and run-time batch and spatial sizes.
pub type Img<const C: usize> = (usize, Const<C>, usize, usize);

/// A batch of images, NHWC: `(n, 28, 28, 1)`: what G makes and D reads.
pub type Images<D, T = NoneTape> = Tensor<(usize, Const<IMAGE_SIDE>, Const<IMAGE_SIDE>, Const<1>), f32, D, T>;

/// A dfdx device whose gradient buffers the project's custom ops can write as plain
/// vectors. Only `Cpu` qualifies: `Cuda`'s buffers are crate-private in dfdx 0.13.
pub trait OpsDevice: Device<f32> {
    /// The gradient buffer of one tensor as a plain vector.
    fn grad_vec(v: &mut <Self as Storage<f32>>::Vec) -> &mut Vec<f32>;
}

impl OpsDevice for Cpu {
    fn grad_vec(v: &mut <Self as Storage<f32>>::Vec) -> &mut Vec<f32> {
        std::ops::DerefMut::deref_mut(v)
    }
}

/// Copies a contiguous tensor's values out (a memcpy of the physical buffer). Every
/// tensor the ops receive is the output of an elementwise op, a reshape, a concat or
/// another custom op, all of which are contiguous.
pub(crate) fn to_vec<S: Shape, D: OpsDevice, T>(t: &Tensor<S, f32, D, T>) -> Vec<f32> {
    let mut v = vec![0.0; t.shape().num_elements()];
    t.copy_into(&mut v);
    v
}

/// Takes the gradient buffer of `t` out of `grads` (zero copy); give it back with [`put_grad`].
/// Backward closures key gradients by tensor clones (an `Arc` each): dfdx's own ghost
/// tensors are crate-private.
pub(crate) fn take_grad<S: Shape, D: OpsDevice>(
    grads: &mut Gradients<f32, D>,
    t: &Tensor<S, f32, D>,
) -> Result<Vec<f32>, D::Err> {
    Ok(std::mem::take(D::grad_vec(grads.get_or_alloc_mut(t)?)))
}

/// Puts a buffer taken with [`take_grad`] back.
pub(crate) fn put_grad<S: Shape, D: OpsDevice>(
    grads: &mut Gradients<f32, D>,
    t: &Tensor<S, f32, D>,
    v: Vec<f32>,
) -> Result<(), D::Err> {
    *D::grad_vec(grads.get_or_alloc_mut(t)?) = v;
    Ok(())
}

/// Runs `f` on the gradient buffer of `t`, allocating a zeroed one if there is none.
pub(crate) fn with_grad<S: Shape, D: OpsDevice>(
    grads: &mut Gradients<f32, D>,
    t: &Tensor<S, f32, D>,
    f: impl FnOnce(&mut [f32]),
) -> Result<(), D::Err> {
    f(D::grad_vec(grads.get_or_alloc_mut(t)?));
    Ok(())
}
