//! LAPGAN (Denton et al. 2015, as the article describes it) on 28 x 28 images: a Laplacian
//! pyramid 28 -> 14 -> 7 of class-conditional GANs. The coarsest level ([`coarse`]) makes a
//! 7 x 7 image from (z, c); each finer level ([`residual`]) makes the band-pass residual
//! h = image - upsample(coarser image) from (upsample(coarser image), c, z). Generation runs
//! coarse to fine: I_7 = G_7(z, c), I_14 = l_14 + G_14(l_14, c, z) with l_14 = upsample(I_7),
//! I_28 likewise. Every level reads the same z, so a sample is G(z, c) like the article's G
//! (grids, interpolation and arithmetic on z work unchanged); each level's G was trained on
//! fresh z of its own.

pub mod coarse;
pub mod residual;
pub mod step;

pub use coarse::{CoarseD, CoarseG};
pub use residual::{ResidualD, ResidualG};

use crate::config::OutputActivation;
use crate::data::IMAGE_SIDE;
use crate::device::{Kernels, ModelDevice};
use crate::models::checkpoint::GeneratorManifest;
use crate::models::sample::Sampler;
use crate::models::{Condition, Noise};
use crate::ops::pyramid::{upsample, Planes};
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;

/// Side of the coarsest level.
pub const COARSE_SIDE: usize = 7;
/// The pyramid's sides, coarse to fine (the tags name levels by them).
pub const SIDES: [usize; 3] = [COARSE_SIDE, 2 * COARSE_SIDE, IMAGE_SIDE];
/// LeakyReLU slope in every LAPGAN discriminator (DCGAN's 0.2).
pub(crate) const SLOPE: f32 = 0.2;

/// The 14 x 14 level's G (64 channels).
pub type G14<E, D> = ResidualG<196, 64, E, D>;
/// The 28 x 28 level's G (32 channels: four times the pixels at a quarter of the cost).
pub type G28<E, D> = ResidualG<784, 32, E, D>;
/// The 14 x 14 level's D.
pub type D14<E, D> = ResidualD<196, 64, E, D>;
/// The 28 x 28 level's D.
pub type D28<E, D> = ResidualD<784, 32, E, D>;

/// The generators of every level (one set of weights: `g.safetensors` of a LAPGAN run).
#[derive(Clone, Debug)]
pub struct PyramidG<E: Dtype, D: Storage<E>> {
    /// G_7(z, c).
    pub level7: CoarseG<E, D>,
    /// G_14(l_14, c, z).
    pub level14: G14<E, D>,
    /// G_28(l_28, c, z).
    pub level28: G28<E, D>,
}

/// The discriminators of every level.
#[derive(Clone, Debug)]
pub struct PyramidD<E: Dtype, D: Storage<E>> {
    /// D_7(x, c).
    pub level7: CoarseD<E, D>,
    /// D_14(h_14, l_14, c).
    pub level14: D14<E, D>,
    /// D_28(h_28, l_28, c).
    pub level28: D28<E, D>,
}

macro_rules! three_levels {
    ($net:ident) => {
        impl<E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D> for $net<E, D> {
            type To<E2: Dtype, D2: Device<E2>> = $net<E2, D2>;

            fn iter_tensors<V: ModuleVisitor<Self, E, D>>(
                visitor: &mut V,
            ) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
                visitor.visit_fields(
                    (
                        Self::module("level7", |s| &s.level7, |s| &mut s.level7),
                        Self::module("level14", |s| &s.level14, |s| &mut s.level14),
                        Self::module("level28", |s| &s.level28, |s| &mut s.level28),
                    ),
                    |(level7, level14, level28)| $net {
                        level7,
                        level14,
                        level28,
                    },
                )
            }
        }
    };
}
three_levels!(PyramidG);
three_levels!(PyramidD);

impl<D: ModelDevice> PyramidG<f32, D> {
    /// The image at every level for (z, c), coarse to fine: `(n, 1, 7, 7)`, `(n, 1, 14, 14)`,
    /// `(n, 1, 28, 28)`. The finest is clamped to the output activation's range (a residual
    /// can overshoot it).
    pub fn levels(&self, z: Noise<D>, c: Condition<D>, activation: OutputActivation, k: Kernels) -> [Planes<D>; 3] {
        let i7 = self.level7.forward(z.clone(), c.clone(), activation);
        let l14 = upsample(i7.clone());
        let i14 = l14.clone() + self.level14.forward(l14, c.clone(), z.clone(), k);
        let l28 = upsample(i14.clone());
        let (low, high) = activation.range();
        let i28 = (l28.clone() + self.level28.forward(l28, c, z, k)).clamp(low, high);
        [i7, i14, i28]
    }
}

impl<D: ModelDevice> Sampler for PyramidG<f32, D> {
    fn draw_chunk(&mut self, how: &GeneratorManifest, z: &[f32], c: &[f32]) -> Vec<f32> {
        let dev = self.level7.fc1.weight.device().clone();
        let m = z.len() / crate::models::NOISE_DIM;
        let zc: Noise<D> = dev.tensor_from_vec(z.to_vec(), (m, Const));
        let cc: Condition<D> = dev.tensor_from_vec(c.to_vec(), (m, Const));
        let [_, _, i28] = self.levels(zc, cc, how.output_activation, Kernels::Auto);
        i28.as_vec()
    }

    fn weights(&self) -> Vec<crate::nn::params::Param> {
        crate::nn::params::params(self)
    }
}
