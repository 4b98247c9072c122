//! The article's conditional GAN: generator G(z, c) and matching-aware discriminator
//! D(x, c). Shapes are the contract (see DESIGN.md); the public API is NHWC
//! `(n, 28, 28, 1)` like the article's TensorFlow code, NCHW inside (identical memory for
//! one channel, so the conversion is a free reshape).

use crate::layers::{Conv2D, ConvTranspose2D};
use crate::ops::batch_norm::{batch_norm2d, Mode};
use crate::ops::{Img, OpsDevice};
use dfdx::nn::modules::{BatchNorm2D, Linear};
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;
use serde::{Deserialize, Serialize};

/// Length of the noise vector z.
pub const NOISE_DIM: usize = 100;
/// Number of classes (digits) in the condition vector.
pub const NUM_CLASSES: usize = 10;
/// Image side in pixels.
pub const IMAGE_SIDE: usize = 28;

/// A batch of images, NHWC: `(n, 28, 28, 1)`.
pub type Images<D, T = NoneTape> = Tensor<(usize, Const<IMAGE_SIDE>, Const<IMAGE_SIDE>, Const<1>), f32, D, T>;
/// A batch of noise vectors `(n, 100)`.
pub type Noise<D, T = NoneTape> = Tensor<(usize, Const<NOISE_DIM>), f32, D, T>;
/// A batch of conditions `(n, 10)`: probability vectors over the classes.
pub type Condition<D> = Tensor<(usize, Const<NUM_CLASSES>), f32, D>;
/// D's output `(n, 1)`: logits of "real and matching".
pub type Logits<D, T = NoneTape> = Tensor<(usize, Const<1>), f32, D, T>;

/// G's last activation; the data is scaled to its range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputActivation {
    /// tanh, data in [-1, 1] (DCGAN's advice; the default).
    #[default]
    Tanh,
    /// sigmoid, data in [0, 1] (the article's TensorFlow code).
    Sigmoid,
}

impl OutputActivation {
    /// `(low, high)` of the pixel range this activation produces.
    pub fn range(self) -> (f32, f32) {
        match self {
            OutputActivation::Tanh => (-1.0, 1.0),
            OutputActivation::Sigmoid => (0.0, 1.0),
        }
    }
}

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

impl<D: OpsDevice> Generator<f32, D> {
    /// G(z, c) -> `(n, 28, 28, 1)`. The condition joins z's tape, so the label branch
    /// gets gradients whenever z is traced. `Mode::Train` normalises with batch
    /// statistics (and updates the running ones) even without a tape.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        z: Noise<D, T>,
        c: Condition<D>,
        mode: Mode,
        activation: OutputActivation,
    ) -> Images<D, T> {
        let n = z.shape().0;
        let e = self.label.forward(c.retaped::<T>()).relu();
        let h = (e.realize::<(usize, usize)>(), z.realize::<(usize, usize)>())
            .concat_along(Axis::<1>)
            .realize::<(usize, Const<300>)>();
        let h = self.fc.forward(h).relu().reshape_like(&(n, Const::<8>, 4, 4));
        let h = batch_norm2d(self.up1.forward(h).relu(), &mut self.bn1, mode);
        let h = batch_norm2d(self.up2.forward(h).relu(), &mut self.bn2, mode);
        let h = batch_norm2d(self.up3.forward(h).relu(), &mut self.bn3, mode);
        let h = batch_norm2d(self.up4.forward(h).relu(), &mut self.bn4, mode);
        let h = self.out.forward(h);
        let h = match activation {
            OutputActivation::Tanh => h.tanh(),
            OutputActivation::Sigmoid => h.sigmoid(),
        };
        h.reshape_like(&(n, Const, Const, Const))
    }
}

/// Matching-aware discriminator D(x, c) -> logit of "real image with the right label".
#[derive(Clone, Debug)]
pub struct Discriminator<E: Dtype, D: Storage<E>> {
    /// 1 -> 16, 3x3 stride 2: 28 -> 14 (ReLU, BatchNorm).
    pub conv1: Conv2D<1, 16, 3, 2, 1, E, D>,
    /// BatchNorm after conv1's ReLU.
    pub bn1: BatchNorm2D<16, E, D>,
    /// 16 -> 32, 3x3 stride 2: 14 -> 7 (ReLU, BatchNorm).
    pub conv2: Conv2D<16, 32, 3, 2, 1, E, D>,
    /// BatchNorm after conv2's ReLU.
    pub bn2: BatchNorm2D<32, E, D>,
    /// 32 -> 64, 3x3 stride 2: 7 -> 4 (ReLU).
    pub conv3: Conv2D<32, 64, 3, 2, 1, E, D>,
    /// c -> 16, reshaped to one 4 x 4 channel and stacked on conv3's 64.
    pub label: Linear<NUM_CLASSES, 16, E, D>,
    /// 65 -> 128, 3x3 stride 2: 4 -> 2 (ReLU), flattened to 512.
    pub conv4: Conv2D<65, 128, 3, 2, 1, E, D>,
    /// 512 -> 1 logit.
    pub out: Linear<512, 1, E, D>,
}

impl<E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D> for Discriminator<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = Discriminator<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                (
                    Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                    Self::module("bn1", |s| &s.bn1, |s| &mut s.bn1),
                    Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                    Self::module("bn2", |s| &s.bn2, |s| &mut s.bn2),
                ),
                (
                    Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                    Self::module("label", |s| &s.label, |s| &mut s.label),
                    Self::module("conv4", |s| &s.conv4, |s| &mut s.conv4),
                    Self::module("out", |s| &s.out, |s| &mut s.out),
                ),
            ),
            |((conv1, bn1, conv2, bn2), (conv3, label, conv4, out))| Discriminator {
                conv1,
                bn1,
                conv2,
                bn2,
                conv3,
                label,
                conv4,
                out,
            },
        )
    }
}

impl<D: OpsDevice> Discriminator<f32, D> {
    /// D(x, c) -> `(n, 1)` logits. The condition joins x's tape, so the label branch
    /// gets gradients whenever x is traced.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        x: Images<D, T>,
        c: Condition<D>,
        mode: Mode,
    ) -> Logits<D, T> {
        let n = x.shape().0;
        let h = x.reshape_like(&(n, Const::<1>, IMAGE_SIDE, IMAGE_SIDE));
        let h = batch_norm2d(self.conv1.forward(h).relu(), &mut self.bn1, mode);
        let h = batch_norm2d(self.conv2.forward(h).relu(), &mut self.bn2, mode);
        let h = self.conv3.forward(h).relu();
        let (_, _, gh, gw) = *h.shape();
        let l = self.label.forward(c.retaped::<T>()).reshape_like(&(n, 1, gh, gw));
        let h: Tensor<Img<65>, f32, D, T> = (h.realize::<(usize, usize, usize, usize)>(), l)
            .concat_along(Axis::<1>)
            .realize();
        let h = self.conv4.forward(h).relu();
        self.out.forward(h.reshape_like(&(n, Const::<512>)))
    }
}

/// One-hot conditions for `labels` (each 0-9).
pub fn one_hot<D: OpsDevice>(dev: &D, labels: &[u8]) -> Condition<D> {
    let mut v = vec![0.0f32; labels.len() * NUM_CLASSES];
    for (row, &l) in v.chunks_exact_mut(NUM_CLASSES).zip(labels) {
        row[l as usize] = 1.0;
    }
    dev.tensor_from_vec(v, (labels.len(), Const))
}

/// The distribution of the noise vector z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// U(-1, 1), the article's choice (the default).
    #[default]
    Uniform,
    /// N(0, 1).
    Normal,
}

/// `n` noise vectors drawn from `kind` with `rng`.
pub fn sample_noise<D: OpsDevice>(dev: &D, n: usize, kind: NoiseKind, rng: &mut impl rand::Rng) -> Noise<D> {
    let v: Vec<f32> = match kind {
        NoiseKind::Uniform => (0..n * NOISE_DIM).map(|_| rng.gen_range(-1.0..1.0)).collect(),
        NoiseKind::Normal => (0..n * NOISE_DIM)
            .map(|_| rng.sample(rand_distr::StandardNormal))
            .collect(),
    };
    dev.tensor_from_vec(v, (n, Const))
}
