//! LAPGAN's coarsest level: a class-conditional GAN on 7 x 7 images. At 49 pixels a pair
//! of small fully connected nets is enough (Denton et al. used fully connected nets for
//! their coarsest CIFAR-10 level too).

use super::COARSE_SIDE;
use crate::config::OutputActivation;
use crate::data::NUM_CLASSES;
use crate::device::{Kernels, ModelDevice};
use crate::models::{Condition, Logits, Noise, NOISE_DIM};
use crate::ops::pyramid::Planes;
use dfdx::nn::modules::Linear;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;

const PIXELS: usize = COARSE_SIDE * COARSE_SIDE;
const HIDDEN: usize = 256;

/// G_7(z, c) -> a 7 x 7 image in the output activation's range.
#[derive(Clone, Debug)]
pub struct CoarseG<E: Dtype, D: Storage<E>> {
    /// [z, c] 110 -> 256 (ReLU).
    pub fc1: Linear<{ NOISE_DIM + NUM_CLASSES }, HIDDEN, E, D>,
    /// 256 -> 256 (ReLU).
    pub fc2: Linear<HIDDEN, HIDDEN, E, D>,
    /// 256 -> 49 pixels, then the output activation.
    pub out: Linear<HIDDEN, PIXELS, E, D>,
}

/// D_7(x, c) -> logit of "a real 7 x 7 image of class c".
#[derive(Clone, Debug)]
pub struct CoarseD<E: Dtype, D: Storage<E>> {
    /// [x, c] 59 -> 256 (LeakyReLU 0.2).
    pub fc1: Linear<{ PIXELS + NUM_CLASSES }, HIDDEN, E, D>,
    /// 256 -> 256 (LeakyReLU 0.2).
    pub fc2: Linear<HIDDEN, HIDDEN, E, D>,
    /// 256 -> 1.
    pub out: Linear<HIDDEN, 1, E, D>,
}

macro_rules! three_linear {
    ($net:ident) => {
        impl<E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D> for $net<E, D> {
            type To<E2: Dtype, D2: Device<E2>> = $net<E2, D2>;

            fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
                visitor: &mut V,
            ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    (
                        Self::module("fc1", |s| &s.fc1, |s| &mut s.fc1),
                        Self::module("fc2", |s| &s.fc2, |s| &mut s.fc2),
                        Self::module("out", |s| &s.out, |s| &mut s.out),
                    ),
                    |(fc1, fc2, out)| $net { fc1, fc2, out },
                )
            }
        }
    };
}
three_linear!(CoarseG);
three_linear!(CoarseD);

/// `[a, b]` along the feature axis.
fn join<
    const A: usize,
    const B: usize,
    const AB: usize,
    D: ModelDevice,
    T: Tape<f32, D> + Merge<T> + std::fmt::Debug,
>(
    a: Tensor<(usize, Const<A>), f32, D, T>,
    b: Tensor<(usize, Const<B>), f32, D, T>,
) -> Tensor<(usize, Const<AB>), f32, D, T> {
    (a.realize::<(usize, usize)>(), b.realize::<(usize, usize)>())
        .concat_along(Axis::<1>)
        .realize::<(usize, Const<AB>)>()
}

impl<D: ModelDevice> CoarseG<f32, D> {
    /// `(n, 100)`, `(n, 10)` -> `(n, 1, 7, 7)`. The condition joins z's tape.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &self,
        z: Noise<D, T>,
        c: Condition<D>,
        activation: OutputActivation,
    ) -> Planes<D, T> {
        let n = z.shape().0;
        let h = join::<NOISE_DIM, NUM_CLASSES, { NOISE_DIM + NUM_CLASSES }, _, _>(z, c.retaped::<T>());
        let h = self.fc2.forward(self.fc1.forward(h).relu()).relu();
        let h = self.out.forward(h);
        let h = match activation {
            OutputActivation::Tanh => h.tanh(),
            OutputActivation::Sigmoid => h.sigmoid(),
        };
        h.reshape_like(&(n, 1usize, COARSE_SIDE, COARSE_SIDE))
    }
}

impl<D: ModelDevice> CoarseD<f32, D> {
    /// `(n, 1, 7, 7)`, `(n, 10)` -> `(n, 1)`.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &self,
        x: Planes<D, T>,
        c: Condition<D>,
        k: Kernels,
    ) -> Logits<D, T> {
        let n = x.shape().0;
        let x = x.reshape_like(&(n, Const::<PIXELS>));
        let h = join::<PIXELS, NUM_CLASSES, { PIXELS + NUM_CLASSES }, _, _>(x, c.retaped::<T>());
        let h = D::leaky_relu(k, self.fc1.forward(h), super::SLOPE);
        let h = D::leaky_relu(k, self.fc2.forward(h), super::SLOPE);
        self.out.forward(h)
    }
}
