//! The article's generator G(z, c) -> image. Every preset uses it: the presets differ in
//! D and in the losses (see `config`).

use crate::config::OutputActivation;
use crate::data::NUM_CLASSES;
use crate::device::{Kernels, ModelDevice};
use crate::models::checkpoint::GeneratorManifest;
use crate::models::sample::Sampler;
use crate::models::{Condition, Noise, NOISE_DIM};
use crate::nn::layers::ConvTranspose2D;
use crate::ops::batch_norm::Mode;
use crate::ops::Images;
use dfdx::nn::modules::{BatchNorm2D, Linear};
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;

/// Generator G(z, c) -> image: the article's network.
///
/// Deviation: the article's TensorFlow `conv2d_transpose(..., padding='same')` for 4 -> 8
/// is expressed PyTorch-style as padding 2 + output padding 1 (same shapes; the extra
/// row and column sit at the bottom and right).
#[derive(Clone, Debug)]
pub struct Generator<E: Dtype, D: Storage<E>> {
    /// c -> 200 (ReLU).
    pub label: Linear<NUM_CLASSES, 200, E, D>,
    /// [c', z] 300 -> 128 (ReLU), reshaped to 8 x 4 x 4.
    pub fc: Linear<300, 128, E, D>,
    /// 8 -> 128, 5x5 stride 2: 4 -> 8.
    pub up1: ConvTranspose2D<8, 128, 5, 2, 2, 1, E, D>,
    /// BatchNorm after up1's ReLU.
    pub bn1: BatchNorm2D<128, E, D>,
    /// 128 -> 64, 5x5 stride 2: 8 -> 19.
    pub up2: ConvTranspose2D<128, 64, 5, 2, 0, 0, E, D>,
    /// BatchNorm after up2's ReLU.
    pub bn2: BatchNorm2D<64, E, D>,
    /// 64 -> 32, 5x5: 19 -> 23.
    pub up3: ConvTranspose2D<64, 32, 5, 1, 0, 0, E, D>,
    /// BatchNorm after up3's ReLU.
    pub bn3: BatchNorm2D<32, E, D>,
    /// 32 -> 16, 5x5: 23 -> 27.
    pub up4: ConvTranspose2D<32, 16, 5, 1, 0, 0, E, D>,
    /// BatchNorm after up4's ReLU.
    pub bn4: BatchNorm2D<16, E, D>,
    /// 16 -> 1, 2x2: 27 -> 28, then the output activation.
    pub out: ConvTranspose2D<16, 1, 2, 1, 0, 0, E, D>,
}

impl<E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D> for Generator<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = Generator<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                (
                    Self::module("label", |s| &s.label, |s| &mut s.label),
                    Self::module("fc", |s| &s.fc, |s| &mut s.fc),
                    Self::module("up1", |s| &s.up1, |s| &mut s.up1),
                    Self::module("bn1", |s| &s.bn1, |s| &mut s.bn1),
                    Self::module("up2", |s| &s.up2, |s| &mut s.up2),
                    Self::module("bn2", |s| &s.bn2, |s| &mut s.bn2),
                ),
                (
                    Self::module("up3", |s| &s.up3, |s| &mut s.up3),
                    Self::module("bn3", |s| &s.bn3, |s| &mut s.bn3),
                    Self::module("up4", |s| &s.up4, |s| &mut s.up4),
                    Self::module("bn4", |s| &s.bn4, |s| &mut s.bn4),
                    Self::module("out", |s| &s.out, |s| &mut s.out),
                ),
            ),
            |((label, fc, up1, bn1, up2, bn2), (up3, bn3, up4, bn4, out))| Generator {
                label,
                fc,
                up1,
                bn1,
                up2,
                bn2,
                up3,
                bn3,
                up4,
                bn4,
                out,
            },
        )
    }
}

impl<D: ModelDevice> Generator<f32, D> {
    /// G(z, c) -> `(n, 28, 28, 1)`. The condition joins z's tape, so the label branch
    /// gets gradients whenever z is traced. `Mode::Train` normalises with batch
    /// statistics (and updates the running ones) even without a tape. `kernels` picks
    /// the device's implementation of the ops.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        z: Noise<D, T>,
        c: Condition<D>,
        mode: Mode,
        activation: OutputActivation,
        kernels: Kernels,
    ) -> Images<D, T> {
        let k = kernels;
        let n = z.shape().0;
        let e = self.label.forward(c.retaped::<T>()).relu();
        let h = (e.realize::<(usize, usize)>(), z.realize::<(usize, usize)>())
            .concat_along(Axis::<1>)
            .realize::<(usize, Const<300>)>();
        let h = self.fc.forward(h).relu().reshape_like(&(n, Const::<8>, 4, 4));
        let h = D::relu_batch_norm2d(k, self.up1.forward(h, k), &mut self.bn1, mode);
        let h = D::relu_batch_norm2d(k, self.up2.forward(h, k), &mut self.bn2, mode);
        let h = D::relu_batch_norm2d(k, self.up3.forward(h, k), &mut self.bn3, mode);
        let h = D::relu_batch_norm2d(k, self.up4.forward(h, k), &mut self.bn4, mode);
        let h = self.out.forward(h, k);
        let h = match activation {
            OutputActivation::Tanh => h.tanh(),
            OutputActivation::Sigmoid => h.sigmoid(),
        };
        h.reshape_like(&(n, Const, Const, Const))
    }
}

/// The article's G samples one chunk in one forward pass, BatchNorm on running statistics.
impl<D: ModelDevice> Sampler for Generator<f32, D> {
    fn draw_chunk(&mut self, how: &GeneratorManifest, z: &[f32], c: &[f32]) -> Vec<f32> {
        let dev = self.fc.weight.device().clone();
        let m = z.len() / NOISE_DIM;
        let zc: Noise<D> = dev.tensor_from_vec(z.to_vec(), (m, Const));
        let cc: Condition<D> = dev.tensor_from_vec(c.to_vec(), (m, Const));
        self.forward(zc, cc, Mode::Eval, how.output_activation, Kernels::Auto)
            .as_vec()
    }

    fn weights(&self) -> Vec<crate::nn::params::Param> {
        crate::nn::params::params(self)
    }
}
