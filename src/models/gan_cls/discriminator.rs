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
//! Norm, minibatch-std and projection change which tensors exist: each is a part of the
//! generic network [`Disc`] (a norm or [`NoNorm`], conv4 over 65 or 66 channels, a
//! projection head or [`NoProjection`]), chosen one after the other when D is built and
//! run behind the [`Net`] trait, so a new option is one more choice, not twice the
//! variants. Activation and spectral norm are run-time settings.

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
pub struct Settings<'a> {
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

    /// Logits for two label sets, conv1 to conv3 run once.
    fn pair<T: Tape<f32, D> + Merge<T> + std::fmt::Debug>(
        &mut self,
        x: Images<D, T>,
        (c_a, c_b): (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D, T>, Logits<D, T>) {
        let h = self.trunk(x, s);
        let a = self.head(h.retaped::<T>(), c_a, s);
        (a, self.head(h, c_b, s))
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

/// A tape D's forward runs on: traced (training D or G through D) or not. D's network is a
/// trait object, whose methods cannot be generic, so each tape has its own method.
pub trait DTape<D: ModelDevice>: Tape<f32, D> + Merge<Self> + std::fmt::Debug {
    /// `net`'s logits for `x` on this tape.
    #[doc(hidden)]
    fn forward(net: &mut dyn Net<D>, x: Images<D, Self>, c: Condition<D>, s: Settings) -> Logits<D, Self>;
    /// `net`'s logits for `x` with two label sets, the trunk run once.
    #[doc(hidden)]
    fn forward_pair(
        net: &mut dyn Net<D>,
        x: Images<D, Self>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D, Self>, Logits<D, Self>);
}

impl<D: ModelDevice> DTape<D> for NoneTape {
    fn forward(net: &mut dyn Net<D>, x: Images<D, Self>, c: Condition<D>, s: Settings) -> Logits<D, Self> {
        net.forward_plain(x, c, s)
    }
    fn forward_pair(
        net: &mut dyn Net<D>,
        x: Images<D, Self>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D, Self>, Logits<D, Self>) {
        net.forward_pair_plain(x, c, s)
    }
}

impl<D: ModelDevice> DTape<D> for OwnedTape<f32, D> {
    fn forward(net: &mut dyn Net<D>, x: Images<D, Self>, c: Condition<D>, s: Settings) -> Logits<D, Self> {
        net.forward_traced(x, c, s)
    }
    fn forward_pair(
        net: &mut dyn Net<D>,
        x: Images<D, Self>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D, Self>, Logits<D, Self>) {
        net.forward_pair_traced(x, c, s)
    }
}

/// What [`Discriminator`] does with its network, whichever parts it has: one
/// implementation for every [`Disc`], so the parts compose without an enum of their
/// combinations.
pub trait Net<D: ModelDevice>: std::fmt::Debug {
    /// Logits, untraced.
    fn forward_plain(&mut self, x: Images<D>, c: Condition<D>, s: Settings) -> Logits<D>;
    /// Logits, traced.
    fn forward_traced(
        &mut self,
        x: Images<D, OwnedTape<f32, D>>,
        c: Condition<D>,
        s: Settings,
    ) -> Logits<D, OwnedTape<f32, D>>;
    /// Logits for two label sets, untraced.
    fn forward_pair_plain(
        &mut self,
        x: Images<D>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D>, Logits<D>);
    /// Logits for two label sets, traced.
    #[allow(clippy::type_complexity)]
    fn forward_pair_traced(
        &mut self,
        x: Images<D, OwnedTape<f32, D>>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D, OwnedTape<f32, D>>, Logits<D, OwnedTape<f32, D>>);
    /// Every tensor with its values, in declaration order.
    fn params(&self) -> Vec<Param>;
    /// The gradient of every trainable tensor in `grads`.
    fn grads(&self, grads: &Gradients<f32, D>) -> Vec<Param>;
    /// Zeroed gradients for every trainable tensor.
    fn alloc_grads(&self) -> Gradients<f32, D>;
    /// Zeroes `grads` in place.
    fn zero_grads(&self, grads: &mut Gradients<f32, D>);
    /// One Adam update of every trainable tensor.
    fn update(&mut self, adam: &mut crate::nn::optim::Adam, grads: &mut Gradients<f32, D>) -> Result<(), D::Err>;
    /// Writes the weights as safetensors.
    fn save(&self, path: &Path) -> Result<(), String>;
    /// Reads the weights from safetensors.
    fn load(&mut self, path: &Path) -> Result<(), String>;
    /// A copy behind a new box.
    fn boxed(&self) -> Box<dyn Net<D>>;
}

impl<D, N1, N2, P, const C4: usize> Net<D> for Disc<N1, N2, P, C4, f32, D>
where
    D: ModelDevice,
    N1: Norm<16, D> + TensorCollection<f32, D> + Clone + std::fmt::Debug + 'static,
    N2: Norm<32, D> + TensorCollection<f32, D> + Clone + std::fmt::Debug + 'static,
    P: Head<D> + TensorCollection<f32, D> + Clone + std::fmt::Debug + 'static,
{
    fn forward_plain(&mut self, x: Images<D>, c: Condition<D>, s: Settings) -> Logits<D> {
        self.forward(x, c, s)
    }
    fn forward_traced(
        &mut self,
        x: Images<D, OwnedTape<f32, D>>,
        c: Condition<D>,
        s: Settings,
    ) -> Logits<D, OwnedTape<f32, D>> {
        self.forward(x, c, s)
    }
    fn forward_pair_plain(
        &mut self,
        x: Images<D>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D>, Logits<D>) {
        self.pair(x, c, s)
    }
    fn forward_pair_traced(
        &mut self,
        x: Images<D, OwnedTape<f32, D>>,
        c: (Condition<D>, Condition<D>),
        s: Settings,
    ) -> (Logits<D, OwnedTape<f32, D>>, Logits<D, OwnedTape<f32, D>>) {
        self.pair(x, c, s)
    }
    fn params(&self) -> Vec<Param> {
        params::params(self)
    }
    fn grads(&self, grads: &Gradients<f32, D>) -> Vec<Param> {
        params::grads(self, grads)
    }
    fn alloc_grads(&self) -> Gradients<f32, D> {
        ZeroGrads::alloc_grads(self)
    }
    fn zero_grads(&self, grads: &mut Gradients<f32, D>) {
        ZeroGrads::zero_grads(self, grads)
    }
    fn update(&mut self, adam: &mut crate::nn::optim::Adam, grads: &mut Gradients<f32, D>) -> Result<(), D::Err> {
        adam.update(self, grads)
    }
    fn save(&self, path: &Path) -> Result<(), String> {
        self.save_safetensors(path).map_err(|e| format!("{e:?}"))
    }
    fn load(&mut self, path: &Path) -> Result<(), String> {
        self.load_safetensors(path).map_err(|e| format!("{e:?}"))
    }
    fn boxed(&self) -> Box<dyn Net<D>> {
        Box::new(self.clone())
    }
}

/// Builds D's network part by part, one choice per step: the norm, then conv4's input
/// (with the minibatch-std map or not), then the head (with projection or not). Built on
/// the host, so every device starts from the same weights, then moved to `dev`.
fn build<D: ModelDevice>(host: &Cpu, dev: &D, spec: DiscriminatorSpec) -> Box<dyn Net<D>> {
    match spec.norm {
        DNorm::Batch => with_norm::<Bn<16, Cpu>, Bn<32, Cpu>, D>(host, dev, spec),
        DNorm::None => with_norm::<NoNorm, NoNorm, D>(host, dev, spec),
    }
}

/// `BatchNorm2D` over `C` channels.
type Bn<const C: usize, D> = BatchNorm2D<C, f32, D>;

fn with_norm<N1, N2, D>(host: &Cpu, dev: &D, spec: DiscriminatorSpec) -> Box<dyn Net<D>>
where
    D: ModelDevice,
    Disc<N1, N2, NoProjection, 65, f32, Cpu>: Movable<D>,
    Disc<N1, N2, NoProjection, 66, f32, Cpu>: Movable<D>,
    Disc<N1, N2, Projection<Cpu>, 65, f32, Cpu>: Movable<D>,
    Disc<N1, N2, Projection<Cpu>, 66, f32, Cpu>: Movable<D>,
{
    if spec.minibatch_std {
        with_stage::<N1, N2, 66, D>(host, dev, spec)
    } else {
        with_stage::<N1, N2, STAGE_CHANNELS, D>(host, dev, spec)
    }
}

fn with_stage<N1, N2, const C4: usize, D>(host: &Cpu, dev: &D, spec: DiscriminatorSpec) -> Box<dyn Net<D>>
where
    D: ModelDevice,
    Disc<N1, N2, NoProjection, C4, f32, Cpu>: Movable<D>,
    Disc<N1, N2, Projection<Cpu>, C4, f32, Cpu>: Movable<D>,
{
    if spec.projection {
        moved::<Disc<N1, N2, Projection<Cpu>, C4, f32, Cpu>, D>(host, dev)
    } else {
        moved::<Disc<N1, N2, NoProjection, C4, f32, Cpu>, D>(host, dev)
    }
}

/// A network built on the host that can move to `D` and run there as a [`Net`].
pub trait Movable<D: ModelDevice>: TensorCollection<f32, Cpu> + BuildModule<Cpu, f32> + Sized {
    /// On `dev`, as D's network.
    fn onto(&self, dev: &D) -> Box<dyn Net<D>>;
}

impl<T, D> Movable<D> for T
where
    D: ModelDevice,
    T: TensorCollection<f32, Cpu> + BuildModule<Cpu, f32>,
    T::To<f32, D>: Net<D> + 'static,
{
    fn onto(&self, dev: &D) -> Box<dyn Net<D>> {
        Box::new(self.to_device(dev))
    }
}

fn moved<M: Movable<D>, D: ModelDevice>(host: &Cpu, dev: &D) -> Box<dyn Net<D>> {
    <M as BuildModule<Cpu, f32>>::build(host).onto(dev)
}

/// D: the network its spec asks for, and the spectral-norm state if that is on.
#[derive(Debug)]
pub struct Discriminator<D: ModelDevice = Cpu> {
    spec: DiscriminatorSpec,
    /// The weights.
    net: Box<dyn Net<D>>,
    /// Power-iteration vectors (empty unless `spec.spectral_norm`).
    pub spectral: Spectral,
}

impl<D: ModelDevice> Clone for Discriminator<D> {
    fn clone(&self) -> Self {
        Self {
            spec: self.spec,
            net: self.net.boxed(),
            spectral: self.spectral.clone(),
        }
    }
}

impl<D: ModelDevice> Discriminator<D> {
    /// A fresh D for `spec`, weights drawn from `dev` (on a GPU: from a host seeded by
    /// `rng`), power-iteration vectors from `rng`.
    pub fn new(dev: &D, spec: DiscriminatorSpec, rng: &mut impl rand::Rng) -> Self {
        let host = match (dev as &dyn std::any::Any).downcast_ref::<Cpu>() {
            Some(cpu) => cpu.clone(),
            None => Cpu::seed_from_u64(rng.gen()),
        };
        Self::on(&host, dev, spec, rng)
    }

    /// A fresh D for `spec` on `dev`, weights drawn from `host` (so every device starts
    /// from the same ones), power-iteration vectors from `rng`.
    pub fn on(host: &Cpu, dev: &D, spec: DiscriminatorSpec, rng: &mut impl rand::Rng) -> Self {
        let mut d = Self {
            spec,
            net: build(host, dev, spec),
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
    pub fn forward<T: DTape<D>>(&mut self, x: Images<D, T>, c: Condition<D>, mode: Mode, k: Kernels) -> Logits<D, T> {
        let s = Settings {
            mode,
            act: self.spec.activation,
            sn: &self.spectral,
            k,
        };
        T::forward(self.net.as_mut(), x, c, s)
    }

    /// `(D(x, c_a), D(x, c_b))` with x's features computed once: conv1 to conv3 see only
    /// the image, so D's step runs them once for its real batch with the right and the
    /// wrong labels (their BatchNorm statistics are the same batch's either way).
    pub fn forward_pair<T: DTape<D>>(
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
        T::forward_pair(self.net.as_mut(), x, (c_a, c_b), s)
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
        self.net.params()
    }

    /// The gradient of every trainable tensor in `grads` (from [`Self::alloc_grads`]).
    pub fn grads(&self, grads: &Gradients<f32, D>) -> Vec<Param> {
        self.net.grads(grads)
    }

    /// Number of trainable scalars.
    pub fn trainable_count(&self) -> usize {
        params::count(&self.params())
    }

    /// Zeroed gradients for every trainable tensor.
    pub fn alloc_grads(&self) -> Gradients<f32, D> {
        self.net.alloc_grads()
    }

    /// Zeroes `grads` in place.
    pub fn zero_grads(&self, grads: &mut Gradients<f32, D>) {
        self.net.zero_grads(grads)
    }

    /// One Adam update of every trainable tensor.
    pub fn update(&mut self, adam: &mut crate::nn::optim::Adam, grads: &mut Gradients<f32, D>) -> Result<(), D::Err> {
        self.net.update(adam, grads)
    }

    /// Writes the weights as safetensors.
    pub fn save_safetensors(&self, path: &Path) -> Result<(), String> {
        self.net.save(path)
    }

    /// Reads the weights from safetensors (every tensor must be there with its shape).
    pub fn load_safetensors(&mut self, path: &Path) -> Result<(), String> {
        self.net.load(path)
    }
}
