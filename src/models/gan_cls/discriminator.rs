//! The matching-aware discriminator D(x, c) -> logit of "real image with the right label",
//! in the variants the presets choose from. One network shape (the article's): three
//! strided convs, the label as one 4 x 4 map at the 4 x 4 stage, a fourth conv and a dense
//! logit. What varies, each a config key:
//! - `d_norm`: BatchNorm after the first two convs (the article) or none;
//! - `d_activation`: ReLU (the article) or LeakyReLU 0.2 (DCGAN's advice for D, Reed et
//!   al.'s GAN-CLS code);
//! - `minibatch_std`: a minibatch-standard-deviation map beside the label map;
//! - `spectral_norm`: every weight divided by its largest singular value;
//! - `projection`: the label also enters as an inner product with D's last features
//!   (Miyato & Koyama 2018), beside the label map.
//!
//! Norm, minibatch-std and projection change which tensors exist, so they pick one of
//! eight concrete networks ([`Net`]); activation and spectral norm are run-time settings.

use crate::config::{Activation, DNorm, GanClsConfig};
use crate::data::{IMAGE_SIDE, NUM_CLASSES};
use crate::device::{Kernels, ModelDevice};
use crate::models::{Condition, Logits};
use crate::nn::layers::Conv2D;
use crate::nn::params::{self, Param};
use crate::ops::batch_norm::Mode;
use crate::ops::spectral_norm::PowerIteration;
use crate::ops::{Images, Img};
use dfdx::nn::modules::{BatchNorm2D, Linear, UnbiasedLinear};
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand_distr::uniform::SampleUniform;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// LeakyReLU's slope for negative inputs (DCGAN, Reed et al.).
pub const LEAKY_SLOPE: f32 = 0.2;

impl Activation {
    fn apply<S: Shape, D: ModelDevice, T: Tape<f32, D>>(
        self,
        x: Tensor<S, f32, D, T>,
        k: Kernels,
    ) -> Tensor<S, f32, D, T> {
        match self {
            Activation::Relu => x.relu(),
            Activation::LeakyRelu => D::leaky_relu(k, x, LEAKY_SLOPE),
        }
    }
}

/// Everything that decides D's tensors and its forward pass. A setting missing from a
/// manifest takes its default (the article's), which is what it was before it existed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DiscriminatorSpec {
    /// Normalisation after conv1 and conv2.
    pub norm: DNorm,
    /// Activation after every conv.
    pub activation: Activation,
    /// A minibatch-standard-deviation map beside the label map at the 4 x 4 stage.
    pub minibatch_std: bool,
    /// Spectral normalisation of every weight (convs and dense layers).
    pub spectral_norm: bool,
    /// Projection conditioning: logit += <embed(c), features>.
    pub projection: bool,
}

impl DiscriminatorSpec {
    /// What D is made of in a GAN-CLS model with settings `m`.
    pub fn of(m: &GanClsConfig) -> Self {
        Self {
            norm: m.d_norm,
            activation: m.d_activation,
            minibatch_std: m.minibatch_std,
            spectral_norm: m.spectral_norm,
            projection: m.projection,
        }
    }
}

/// No normalisation: a layer without tensors. (dfdx's `()` cannot stand in: building a
/// module visits it as "nothing to build" and fails.)
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoNorm;

impl<E: Dtype, D: Device<E>> TensorCollection<E, D> for NoNorm {
    type To<E2: Dtype, D2: Device<E2>> = NoNorm;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields((), |()| NoNorm)
    }
}

/// A normalisation layer over `C` channels, or [`NoNorm`].
pub trait Norm<const C: usize, D: ModelDevice> {
    /// Normalises `x` (or returns it unchanged).
    fn norm<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<Img<C>, f32, D, T>,
        mode: Mode,
        k: Kernels,
    ) -> Tensor<Img<C>, f32, D, T>;
}

impl<const C: usize, D: ModelDevice> Norm<C, D> for BatchNorm2D<C, f32, D> {
    fn norm<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<Img<C>, f32, D, T>,
        mode: Mode,
        k: Kernels,
    ) -> Tensor<Img<C>, f32, D, T> {
        D::batch_norm2d(k, x, self, mode)
    }
}

impl<const C: usize, D: ModelDevice> Norm<C, D> for NoNorm {
    fn norm<T: Tape<f32, D>>(
        &mut self,
        x: Tensor<Img<C>, f32, D, T>,
        _: Mode,
        _: Kernels,
    ) -> Tensor<Img<C>, f32, D, T> {
        x
    }
}

/// Features D's logit is computed from: conv4's 128 x 2 x 2.
pub const FEATURES: usize = 512;

/// No projection term: a layer without tensors.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NoProjection;

impl<E: Dtype, D: Device<E>> TensorCollection<E, D> for NoProjection {
    type To<E2: Dtype, D2: Device<E2>> = NoProjection;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields((), |()| NoProjection)
    }
}

/// How the logit is made from the features: the dense layer `out`, plus a projection
/// term or not.
pub trait Head<D: ModelDevice> {
    /// The logit of `features` for conditions `c` (`out` and this head's weights already
    /// spectrally normalised where that is on).
    fn logit<T: Tape<f32, D> + Merge<T>>(
        &self,
        features: Tensor<(usize, Const<FEATURES>), f32, D, T>,
        out: Linear<FEATURES, 1, f32, D>,
        c: Condition<D>,
        sn: &Spectral,
        k: Kernels,
    ) -> Logits<D, T>;
}

impl<D: ModelDevice> Head<D> for NoProjection {
    fn logit<T: Tape<f32, D> + Merge<T>>(
        &self,
        features: Tensor<(usize, Const<FEATURES>), f32, D, T>,
        out: Linear<FEATURES, 1, f32, D>,
        _: Condition<D>,
        _: &Spectral,
        _: Kernels,
    ) -> Logits<D, T> {
        out.forward(features)
    }
}

/// The class embedding of projection conditioning.
pub type Projection<D = Cpu> = UnbiasedLinear<NUM_CLASSES, FEATURES, f32, D>;

impl<D: ModelDevice> Head<D> for Projection<D> {
    fn logit<T: Tape<f32, D> + Merge<T>>(
        &self,
        features: Tensor<(usize, Const<FEATURES>), f32, D, T>,
        out: Linear<FEATURES, 1, f32, D>,
        c: Condition<D>,
        sn: &Spectral,
        k: Kernels,
    ) -> Logits<D, T> {
        let n = features.shape().0;
        let (c, embed) = sn.layer(c.retaped::<T>(), self, "proj.weight", k);
        let inner = (embed.forward(c) * features.retaped::<T>())
            .sum::<(usize,), _>()
            .reshape_like(&(n, Const::<1>));
        out.forward(features) + inner
    }
}

/// Channels of conv3's output: the image's features at D's 4 x 4 stage.
const FEATURE_CHANNELS: usize = 64;

/// Channels at D's 4 x 4 stage: conv3's 64 plus the label map.
pub const STAGE_CHANNELS: usize = FEATURE_CHANNELS + 1;

/// The network: `N1`/`N2` the normalisation after conv1/conv2 (`BatchNorm2D` or [`NoNorm`]),
/// `C4` conv4's input channels: 65 (conv3's 64 + the label map) or 66 (+ the
/// minibatch-standard-deviation map), `P` the projection embedding or [`NoProjection`].
#[derive(Clone, Debug)]
pub struct Disc<N1, N2, P, const C4: usize, E: Dtype, D: Storage<E>> {
    /// 1 -> 16, 3x3 stride 2: 28 -> 14.
    pub conv1: Conv2D<1, 16, 3, 2, 1, E, D>,
    /// After conv1's activation.
    pub bn1: N1,
    /// 16 -> 32, 3x3 stride 2: 14 -> 7.
    pub conv2: Conv2D<16, 32, 3, 2, 1, E, D>,
    /// After conv2's activation.
    pub bn2: N2,
    /// 32 -> 64, 3x3 stride 2: 7 -> 4.
    pub conv3: Conv2D<32, FEATURE_CHANNELS, 3, 2, 1, E, D>,
    /// c -> 16, reshaped to one 4 x 4 channel and stacked on conv3's 64.
    pub label: Linear<NUM_CLASSES, 16, E, D>,
    /// C4 -> 128, 3x3 stride 2: 4 -> 2, flattened to 512.
    pub conv4: Conv2D<C4, 128, 3, 2, 1, E, D>,
    /// 512 -> 1 logit.
    pub out: Linear<FEATURES, 1, E, D>,
    /// c -> 512, dotted with the features (projection conditioning), or nothing.
    pub proj: P,
}

impl<N1, N2, P, const C4: usize, E, D> TensorCollection<E, D> for Disc<N1, N2, P, C4, E, D>
where
    E: Dtype + Float + SampleUniform,
    D: Device<E>,
    N1: TensorCollection<E, D>,
    N2: TensorCollection<E, D>,
    P: TensorCollection<E, D>,
{
    type To<E2: Dtype, D2: Device<E2>> = Disc<N1::To<E2, D2>, N2::To<E2, D2>, P::To<E2, D2>, C4, E2, D2>;

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
                    Self::module("proj", |s| &s.proj, |s| &mut s.proj),
                ),
            ),
            |((conv1, bn1, conv2, bn2), (conv3, label, conv4, out, proj))| Disc {
                conv1,
                bn1,
                conv2,
                bn2,
                conv3,
                label,
                conv4,
                out,
                proj,
            },
        )
    }
}

/// A layer whose weight spectral normalisation can replace.
trait Weighted<D: ModelDevice>: Clone {
    type W: Shape;
    fn weight(&self) -> &Tensor<Self::W, f32, D>;
    fn with_weight(&self, w: Tensor<Self::W, f32, D>) -> Self;
}

impl<const I: usize, const O: usize, const K: usize, const S: usize, const P: usize, D: ModelDevice> Weighted<D>
    for Conv2D<I, O, K, S, P, f32, D>
{
    type W = Rank4<O, I, K, K>;
    fn weight(&self) -> &Tensor<Self::W, f32, D> {
        &self.weight
    }
    fn with_weight(&self, weight: Tensor<Self::W, f32, D>) -> Self {
        Conv2D {
            weight,
            bias: self.bias.clone(),
        }
    }
}

impl<const I: usize, const O: usize, D: ModelDevice> Weighted<D> for UnbiasedLinear<I, O, f32, D> {
    type W = Rank2<O, I>;
    fn weight(&self) -> &Tensor<Self::W, f32, D> {
        &self.weight
    }
    fn with_weight(&self, weight: Tensor<Self::W, f32, D>) -> Self {
        UnbiasedLinear { weight }
    }
}

impl<const I: usize, const O: usize, D: ModelDevice> Weighted<D> for Linear<I, O, f32, D> {
    type W = Rank2<O, I>;
    fn weight(&self) -> &Tensor<Self::W, f32, D> {
        &self.weight
    }
    fn with_weight(&self, weight: Tensor<Self::W, f32, D>) -> Self {
        Linear {
            weight,
            bias: self.bias.clone(),
        }
    }
}

/// Power-iteration state of every weight, by parameter name (empty: spectral norm off).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Spectral(pub Vec<(String, PowerIteration)>);

impl Spectral {
    /// The layer to use on `x`: `layer` itself, or a copy with its weight normalised (the
    /// gradient reaching the original weight through `x`'s tape).
    fn layer<X: Shape, D: ModelDevice, L: Weighted<D>, T: Tape<f32, D>>(
        &self,
        x: Tensor<X, f32, D, T>,
        layer: &L,
        name: &str,
        k: Kernels,
    ) -> (Tensor<X, f32, D, T>, L) {
        match self.0.iter().find(|(n, _)| n == name) {
            None => (x, layer.clone()),
            Some((_, it)) => {
                let (x, w) = D::spectral_normalize(k, x, layer.weight(), it);
                (x, layer.with_weight(w))
            }
        }
    }
}

/// D's run-time settings for one forward pass.
#[derive(Clone, Copy)]
struct Settings<'a> {
    mode: Mode,
    act: Activation,
    sn: &'a Spectral,
    k: Kernels,
}

impl<D: ModelDevice, N1: Norm<16, D>, N2: Norm<32, D>, P: Head<D>, const C4: usize> Disc<N1, N2, P, C4, f32, D> {
    fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        x: Images<D, T>,
        c: Condition<D>,
        s: Settings,
    ) -> Logits<D, T> {
        let h = self.trunk(x, s);
        self.head(h, c, s)
    }

    /// conv1 to conv3 with their norms and activations: what D computes from the image alone.
    fn trunk<T: Tape<f32, D>>(&mut self, x: Images<D, T>, s: Settings) -> Tensor<Img<FEATURE_CHANNELS>, f32, D, T> {
        let Settings { mode, act, sn, k } = s;
        let n = x.shape().0;
        let h = x.reshape_like(&(n, Const::<1>, IMAGE_SIDE, IMAGE_SIDE));
        let (h, conv1) = sn.layer(h, &self.conv1, "conv1.weight", k);
        let h = self.bn1.norm(act.apply(conv1.forward(h, k), k), mode, k);
        let (h, conv2) = sn.layer(h, &self.conv2, "conv2.weight", k);
        let h = self.bn2.norm(act.apply(conv2.forward(h, k), k), mode, k);
        let (h, conv3) = sn.layer(h, &self.conv3, "conv3.weight", k);
        act.apply(conv3.forward(h, k), k)
    }

    /// The label map beside the trunk's features `h`, conv4 and the logit.
    fn head<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        h: Tensor<Img<FEATURE_CHANNELS>, f32, D, T>,
        c: Condition<D>,
        s: Settings,
    ) -> Logits<D, T> {
        let Settings { act, sn, k, .. } = s;
        let n = h.shape().0;
        let (_, _, gh, gw) = *h.shape();
        // The condition joins x's tape, so the label branch gets gradients whenever x is traced.
        let (cl, label) = sn.layer(c.clone().retaped::<T>(), &self.label, "label.weight", k);
        let l = label.forward(cl).reshape_like(&(n, 1, gh, gw));
        let h = h.realize::<(usize, usize, usize, usize)>();
        let h = if C4 > STAGE_CHANNELS {
            let m = D::minibatch_std(k, h.retaped::<T>());
            ((h, l).concat_along(Axis::<1>), m).concat_along(Axis::<1>)
        } else {
            (h, l).concat_along(Axis::<1>)
        };
        let h: Tensor<Img<C4>, f32, D, T> = h.realize();
        let (h, conv4) = sn.layer(h, &self.conv4, "conv4.weight", k);
        let h = act.apply(conv4.forward(h, k), k);
        let h = h.reshape_like(&(n, Const::<FEATURES>));
        let (h, out) = sn.layer(h, &self.out, "out.weight", k);
        self.proj.logit(h, out, c, sn, k)
    }
}

type Bn<const C: usize, D> = BatchNorm2D<C, f32, D>;

type Proj<D> = Projection<D>;

/// The eight concrete networks: with or without BatchNorm, the minibatch-std map and the
/// projection embedding.
#[derive(Clone, Debug)]
pub enum Net<D: ModelDevice = Cpu> {
    /// The article's D.
    BatchNorm(Disc<Bn<16, D>, Bn<32, D>, NoProjection, 65, f32, D>),
    /// ... with the minibatch-std map.
    BatchNormMinibatchStd(Disc<Bn<16, D>, Bn<32, D>, NoProjection, 66, f32, D>),
    /// ... with projection.
    BatchNormProjection(Disc<Bn<16, D>, Bn<32, D>, Proj<D>, 65, f32, D>),
    /// ... with both.
    BatchNormMinibatchStdProjection(Disc<Bn<16, D>, Bn<32, D>, Proj<D>, 66, f32, D>),
    /// No normalisation layers.
    Plain(Disc<NoNorm, NoNorm, NoProjection, 65, f32, D>),
    /// ... with the minibatch-std map.
    PlainMinibatchStd(Disc<NoNorm, NoNorm, NoProjection, 66, f32, D>),
    /// ... with projection.
    PlainProjection(Disc<NoNorm, NoNorm, Proj<D>, 65, f32, D>),
    /// ... with both.
    PlainMinibatchStdProjection(Disc<NoNorm, NoNorm, Proj<D>, 66, f32, D>),
}

/// Runs `$body` with `$d` bound to the concrete network inside `$net`.
macro_rules! each {
    ($net:expr, $d:ident => $body:expr) => {
        match $net {
            Net::BatchNorm($d) => $body,
            Net::BatchNormMinibatchStd($d) => $body,
            Net::BatchNormProjection($d) => $body,
            Net::BatchNormMinibatchStdProjection($d) => $body,
            Net::Plain($d) => $body,
            Net::PlainMinibatchStd($d) => $body,
            Net::PlainProjection($d) => $body,
            Net::PlainMinibatchStdProjection($d) => $body,
        }
    };
}

/// The same network with every tensor copied to `dev`.
macro_rules! moved {
    ($net:expr, $dev:expr) => {
        match $net {
            Net::BatchNorm(d) => Net::BatchNorm(d.to_device($dev)),
            Net::BatchNormMinibatchStd(d) => Net::BatchNormMinibatchStd(d.to_device($dev)),
            Net::BatchNormProjection(d) => Net::BatchNormProjection(d.to_device($dev)),
            Net::BatchNormMinibatchStdProjection(d) => Net::BatchNormMinibatchStdProjection(d.to_device($dev)),
            Net::Plain(d) => Net::Plain(d.to_device($dev)),
            Net::PlainMinibatchStd(d) => Net::PlainMinibatchStd(d.to_device($dev)),
            Net::PlainProjection(d) => Net::PlainProjection(d.to_device($dev)),
            Net::PlainMinibatchStdProjection(d) => Net::PlainMinibatchStdProjection(d.to_device($dev)),
        }
    };
}

/// D: the network its spec asks for, and the spectral-norm state if that is on.
#[derive(Clone, Debug)]
pub struct Discriminator<D: ModelDevice = Cpu> {
    spec: DiscriminatorSpec,
    /// The weights.
    pub net: Net<D>,
    /// Power-iteration vectors (empty unless `spec.spectral_norm`).
    pub spectral: Spectral,
}

impl<D: ModelDevice> Discriminator<D> {
    /// A fresh D for `spec`, weights drawn from `dev`, power-iteration vectors from `rng`.
    pub fn new(dev: &D, spec: DiscriminatorSpec, rng: &mut impl rand::Rng) -> Self {
        let net = match (spec.norm, spec.minibatch_std, spec.projection) {
            (DNorm::Batch, false, false) => Net::BatchNorm(BuildModule::build(dev)),
            (DNorm::Batch, true, false) => Net::BatchNormMinibatchStd(BuildModule::build(dev)),
            (DNorm::Batch, false, true) => Net::BatchNormProjection(BuildModule::build(dev)),
            (DNorm::Batch, true, true) => Net::BatchNormMinibatchStdProjection(BuildModule::build(dev)),
            (DNorm::None, false, false) => Net::Plain(BuildModule::build(dev)),
            (DNorm::None, true, false) => Net::PlainMinibatchStd(BuildModule::build(dev)),
            (DNorm::None, false, true) => Net::PlainProjection(BuildModule::build(dev)),
            (DNorm::None, true, true) => Net::PlainMinibatchStdProjection(BuildModule::build(dev)),
        };
        let mut d = Self {
            spec,
            net,
            spectral: Spectral::default(),
        };
        if spec.spectral_norm {
            d.spectral = Spectral(
                d.weight_matrices()
                    .map(|p| {
                        let it = PowerIteration::new(&p.values, p.shape[0], rng);
                        (p.name, it)
                    })
                    .collect(),
            );
        }
        d
    }

    /// The weights spectral normalisation divides (every `*.weight`; BatchNorm's are
    /// `scale`).
    fn weight_matrices(&self) -> impl Iterator<Item = Param> {
        self.params().into_iter().filter(|p| p.name.ends_with(".weight"))
    }

    /// What this D is.
    pub fn spec(&self) -> DiscriminatorSpec {
        self.spec
    }

    /// D(x, c) -> `(n, 1)` logits, the ops from the device's `kernels`.
    pub fn forward<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        x: Images<D, T>,
        c: Condition<D>,
        mode: Mode,
        k: Kernels,
    ) -> Logits<D, T> {
        let s = Settings {
            mode,
            act: self.spec.activation,
            sn: &self.spectral,
            k,
        };
        each!(&mut self.net, d => d.forward(x, c, s))
    }

    /// `(D(x, c_a), D(x, c_b))` with x's features computed once: conv1 to conv3 see only
    /// the image, so D's step runs them once for its real batch with the right and the
    /// wrong labels (their BatchNorm statistics are the same batch's either way).
    pub fn forward_pair<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        x: Images<D, T>,
        (c_a, c_b): (Condition<D>, Condition<D>),
        mode: Mode,
        k: Kernels,
    ) -> (Logits<D, T>, Logits<D, T>) {
        let s = Settings {
            mode,
            act: self.spec.activation,
            sn: &self.spectral,
            k,
        };
        each!(&mut self.net, d => {
            let h = d.trunk(x, s);
            let a = d.head(h.retaped::<T>(), c_a, s);
            (a, d.head(h, c_b, s))
        })
    }

    /// The same D with its weights on `dev`.
    pub fn to_device<D2: ModelDevice>(&self, dev: &D2) -> Discriminator<D2> {
        Discriminator {
            spec: self.spec,
            net: moved!(&self.net, dev),
            spectral: self.spectral.clone(),
        }
    }

    /// One power iteration per weight (spectral norm), once per D update like PyTorch's.
    pub fn power_iteration(&mut self) {
        if self.spectral.0.is_empty() {
            return;
        }
        let weights: Vec<Param> = self.weight_matrices().collect();
        for ((name, it), p) in self.spectral.0.iter_mut().zip(&weights) {
            debug_assert_eq!(name, &p.name);
            it.step(&p.values);
        }
    }

    /// Every tensor of the network with its values, in declaration order.
    pub fn params(&self) -> Vec<Param> {
        each!(&self.net, d => params::params(d))
    }

    /// The gradient of every trainable tensor in `grads` (from [`Self::alloc_grads`]).
    pub fn grads(&self, grads: &Gradients<f32, D>) -> Vec<Param> {
        each!(&self.net, d => params::grads(d, grads))
    }

    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        params::count(&self.params())
    }

    /// Zeroed gradients for every trainable tensor.
    pub fn alloc_grads(&self) -> Gradients<f32, D> {
        each!(&self.net, d => d.alloc_grads())
    }

    /// Zeroes `grads` in place.
    pub fn zero_grads(&self, grads: &mut Gradients<f32, D>) {
        each!(&self.net, d => d.zero_grads(grads))
    }

    /// One Adam update of every trainable tensor.
    pub fn update(&mut self, adam: &mut crate::nn::optim::Adam, grads: &mut Gradients<f32, D>) -> Result<(), D::Err> {
        each!(&mut self.net, d => adam.update(d, grads))
    }

    /// Writes the weights as safetensors.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), String> {
        each!(&self.net, d => d.save_safetensors(path)).map_err(|e| format!("{e:?}"))
    }

    /// Reads the weights from safetensors (every tensor must be there with its shape).
    pub fn load_safetensors(&mut self, path: &Path) -> Result<(), String> {
        each!(&mut self.net, d => d.load_safetensors(path)).map_err(|e| format!("{e:?}"))
    }
}
