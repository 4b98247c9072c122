//! The GAN-CLS training step: the hot path. D learns (real, right) -> 1,
//! (real, wrong) -> 0, (G(z, c), c) -> 0; G learns to make D say 1 for G(z~, c~), plus the
//! regularisers the config turns on.

pub mod checkpoint;
pub mod discriminator;
pub mod generator;

pub use discriminator::{Discriminator, DiscriminatorSpec};
pub use generator::Generator;

use crate::config::{AdversarialLoss, Config, DLoss, GanClsConfig};
use crate::data::grid::Grid;
use crate::data::{Batch, Dataset, NUM_CLASSES};
use crate::device::{Kernels, ModelDevice};
use crate::models::checkpoint::{CheckpointError, State};
use crate::models::phases::{Phase, PhaseTimes};
use crate::models::sample::Sampler;
use crate::models::trainee::{StepReport, Trainee};
use crate::models::{one_hot, sample_noise, Condition, Logits, NOISE_DIM};
use crate::nn::optim::Adam;
use crate::nn::params::{self, Param};
use crate::ops::batch_norm::Mode;
use crate::ops::mode_seeking as losses;
use crate::ops::Images;
use crate::support::rng::{self, stream_rng, Stream, INIT_SPECTRAL, INIT_WEIGHTS};
use crate::tensorboard::tags;
use crate::tensorboard::writer::{exactly, LayoutCategory};
use dfdx::losses::binary_cross_entropy_with_logits_loss as bce;
use dfdx::prelude::*;
use rand::Rng;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What one step measured, for the progress line and TensorBoard.
#[derive(Clone, Copy, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StepStats {
    /// G's loss: BCE(D(G(z~, c~), c~), 1).
    pub loss_g: f32,
    /// D's total loss (`sum` or `reed` of the three terms).
    pub loss_d: f32,
    /// BCE(D(x, c), 1).
    pub d_real_right: f32,
    /// BCE(D(x, c'), 0).
    pub d_real_wrong: f32,
    /// BCE(D(G(z, c), c), 0).
    pub d_fake: f32,
    /// Mean sigmoid of D on real images with right labels (should stay high).
    pub p_real_right: f32,
    /// Mean sigmoid of D on real images with wrong labels (should fall).
    pub p_real_wrong: f32,
    /// Mean sigmoid of D on generated images (G pushes it up, D down).
    pub p_fake: f32,
    /// The mode-seeking term added to G's loss (0 when off).
    pub mode_seeking: f32,
    /// Its ratio mean |G(z1, c) - G(z2, c)| / mean |z1 - z2| (0 when off).
    pub mode_seeking_ratio: f32,
}

/// `n` conditions t c1 + (1 - t) c2 with t ~ U(0, 1) and two different random labels.
fn interpolated<D: ModelDevice>(dev: &D, n: usize, rng: &mut impl Rng) -> Condition<D> {
    let mut v = vec![0.0f32; n * NUM_CLASSES];
    for row in v.chunks_exact_mut(NUM_CLASSES) {
        let a = rng.gen_range(0..NUM_CLASSES);
        let b = (a + rng.gen_range(1..NUM_CLASSES)) % NUM_CLASSES;
        let t: f32 = rng.gen();
        row[a] = t;
        row[b] = 1.0 - t;
    }
    dev.tensor_from_vec(v, (n, Const))
}

/// The mean of sigmoid(logit): D's mean probability of "real".
pub(crate) fn mean_sigmoid(logits: &[f32]) -> f32 {
    logits.iter().map(|l| 1.0 / (1.0 + (-l).exp())).sum::<f32>() / logits.len().max(1) as f32
}

/// G, D, their optimisers and the step's reusable buffers, on device `D`.
pub struct Gan<D: ModelDevice = Cpu> {
    /// The device everything runs on.
    pub dev: D,
    /// Which of the device's op implementations the step uses.
    pub kernels: Kernels,
    /// The generator.
    pub g: Generator<f32, D>,
    /// The exponential moving average of G's weights (`g_ema` > 0), which sampling uses.
    pub g_ema: Option<Generator<f32, D>>,
    /// The discriminator.
    pub d: Discriminator<D>,
    /// G's optimiser.
    pub opt_g: Adam,
    /// D's optimiser.
    pub opt_d: Adam,
    cfg: Config,
    /// The config's `[model]` settings (what this model has beyond the shared keys).
    settings: GanClsConfig,
    batch: Batch,
    ones: Logits<D>,
    zeros: Logits<D>,
    grads_g: Option<Gradients<f32, D>>,
    grads_d: Option<Gradients<f32, D>>,
    /// Wall time per phase of the steps so far (read by `make bench`).
    pub phase_times: PhaseTimes,
}

impl Gan<Cpu> {
    /// Fresh networks on the CPU, initialised from the config's seed, stepping with the
    /// config's `kernels`.
    pub fn new(cfg: &Config) -> Self {
        Self::on(Cpu::default(), cfg)
    }
}

impl<D: ModelDevice> Gan<D> {
    /// Fresh networks on `dev`, initialised from the config's seed. The weights are drawn
    /// on the CPU and copied, so every device starts from the same ones.
    ///
    /// # Panics
    /// If `cfg` is for another model (a programming error: [`crate::run::train::train`] picks
    /// the model a config names).
    pub fn on(dev: D, cfg: &Config) -> Self {
        let settings = *cfg
            .model
            .gan_cls()
            .expect("Gan is the GAN-CLS model; train::train picks the model a config names");
        let seed = stream_rng(cfg.seed, Stream::Init, INIT_WEIGHTS).gen();
        let host = Cpu::seed_from_u64(seed);
        let g = Generator::<f32, Cpu>::build(&host).to_device(&dev);
        let mut rng = stream_rng(cfg.seed, Stream::Init, INIT_SPECTRAL);
        let d = Discriminator::on(&host, &dev, DiscriminatorSpec::of(&settings), &mut rng);
        let adam = |scale: f64| Adam::new((cfg.lr * scale) as f32, cfg.beta1 as f32, cfg.beta2 as f32);
        let n = cfg.batch_size;
        Self {
            g_ema: (settings.g_ema > 0.0).then(|| g.clone()),
            ones: dev.ones_like(&(n, Const)),
            zeros: dev.zeros_like(&(n, Const)),
            dev,
            kernels: cfg.kernels,
            g,
            d,
            opt_g: adam(1.0),
            opt_d: adam(cfg.lr_d_scale),
            cfg: cfg.clone(),
            settings,
            batch: Batch::default(),
            grads_g: None,
            grads_d: None,
            phase_times: PhaseTimes::default(),
        }
    }

    /// The G that samples: the moving average when `g_ema` is on, else G itself.
    pub fn sampler(&mut self) -> &mut Generator<f32, D> {
        self.g_ema.as_mut().unwrap_or(&mut self.g)
    }

    /// Adds the time since `*mark` to `phase`, first waiting for the device when
    /// [`PhaseTimes::synchronised`] is set.
    fn lap(&mut self, phase: Phase, mark: &mut Instant) {
        if self.phase_times.synchronised {
            self.dev.synchronize();
        }
        self.phase_times.lap(phase, mark);
    }

    /// The config this GAN trains with.
    pub fn config(&self) -> &Config {
        &self.cfg
    }

    /// The real batch the last D step saw.
    pub fn last_batch(&self) -> &Batch {
        &self.batch
    }

    /// One training step number `step` (0-based): `k_steps` D updates then one G update.
    /// Every random draw is a function of (seed, step), so steps can be replayed. With
    /// `shared_fake`, G runs once per step (GAN-CLS's Algorithm 1, PyTorch's DCGAN
    /// example): the last D update learns to reject the very samples G then learns from.
    pub fn train_step(&mut self, data: &mut Dataset, step: u64) -> StepStats {
        let mut stats = StepStats::default();
        let k = self.settings.k_steps as u64;
        let g = self.settings.shared_fake.then(|| self.g_forward(step));
        for j in 0..k {
            let mut mark = Instant::now();
            data.batch_into(step * k + j, &mut self.batch);
            self.lap(Phase::Data, &mut mark);
            let shared = g
                .as_ref()
                .filter(|_| j + 1 == k)
                .map(|g| (g.fake.retaped::<NoneTape>(), g.c.clone()));
            stats = self.d_step(step * k + j, shared);
        }
        let g = g.unwrap_or_else(|| self.g_forward(step));
        (stats.loss_g, stats.mode_seeking, stats.mode_seeking_ratio) = self.g_step(step, g);
        stats
    }

    /// D's update number `index`. Its fake term uses `shared` (G's output for this step,
    /// off the tape, and its conditions) when given, else a fresh G(z, right labels).
    fn d_step(&mut self, index: u64, shared: Option<(Images<D>, Condition<D>)>) -> StepStats {
        let mut mark = Instant::now();
        let n = self.cfg.batch_size;
        let mut rng = stream_rng(self.cfg.seed, Stream::Step, rng::d_step(index));
        let right = one_hot(&self.dev, &self.batch.labels);
        let wrong = one_hot(&self.dev, &self.batch.wrong_labels);
        let real: Images<D> = self
            .dev
            .tensor_from_vec(self.batch.images.clone(), (n, Const, Const, Const));
        let (fake, fake_c) = match shared {
            Some(shared) => shared,
            None => {
                // G in training mode (batch statistics) but off the tape: D's step needs
                // no G gradient.
                let z = sample_noise(&self.dev, n, self.cfg.noise, &mut rng);
                self.lap(Phase::Data, &mut mark);
                let fake = self
                    .g
                    .forward(z, right.clone(), Mode::Train, self.cfg.output_activation, self.kernels);
                self.lap(Phase::GForward, &mut mark);
                (fake, right.clone())
            }
        };
        self.lap(Phase::Data, &mut mark);

        self.d.power_iteration();
        let mut grads = self.grads_d.take().unwrap_or_else(|| self.d.alloc_grads());
        self.d.zero_grads(&mut grads);
        self.lap(Phase::Optimiser, &mut mark);
        let k = self.kernels;
        let (rr, rw) = self.d.forward_pair(real.traced(grads), (right, wrong), Mode::Train, k);
        let fk = self
            .d
            .forward(fake.retaped::<OwnedTape<f32, D>>(), fake_c, Mode::Train, k);
        let p = [rr.as_vec(), rw.as_vec(), fk.as_vec()].map(|l| mean_sigmoid(&l));
        let loss = self.settings.adversarial_loss;
        let l_rr = self.d_term(loss, rr, true);
        let l_rw = self.d_term(loss, rw, false);
        let l_fk = self.d_term(loss, fk, false);
        let terms = [l_rr.array(), l_rw.array(), l_fk.array()];
        let loss = match self.cfg.d_loss {
            DLoss::Sum => l_rr + l_rw + l_fk,
            DLoss::Reed => l_rr + (l_rw + l_fk) * 0.5,
        };
        let loss_d = loss.array();
        self.lap(Phase::DForward, &mut mark);
        let mut grads = loss.backward();
        self.lap(Phase::Backward, &mut mark);
        // A non-finite loss is caught by the caller, which stops before the next checkpoint.
        // Adam fails only when the device is out of memory, which dfdx reports by panicking
        // everywhere else too.
        self.d
            .update(&mut self.opt_d, &mut grads)
            .expect("device memory for D's update");
        self.grads_d = Some(grads);
        self.lap(Phase::Optimiser, &mut mark);
        StepStats {
            loss_d,
            d_real_right: terms[0],
            d_real_wrong: terms[1],
            d_fake: terms[2],
            p_real_right: p[0],
            p_real_wrong: p[1],
            p_fake: p[2],
            ..Default::default()
        }
    }

    /// G's forward for its update at `step`, on the tape: random labels (paired when the
    /// mode-seeking term is on) and noise from G's stream.
    fn g_forward(&mut self, step: u64) -> GForward<D> {
        let mut mark = Instant::now();
        let n = self.cfg.batch_size;
        let mut rng = stream_rng(self.cfg.seed, Stream::Step, rng::g_step(step));
        let mut labels: Vec<u8> = (0..n).map(|_| rng.gen_range(0..NUM_CLASSES as u8)).collect();
        let mode_seeking = self.cfg.mode_seeking > 0.0;
        if mode_seeking {
            // Pairs (i, i + n/2) share a label and differ in noise.
            let half = n / 2;
            labels.copy_within(..half, half);
        }
        let c: Condition<D> = one_hot(&self.dev, &labels);
        let z = sample_noise(&self.dev, n, self.cfg.noise, &mut rng);
        let z_values = if mode_seeking { z.as_vec() } else { Vec::new() };
        let mut grads = self.grads_g.take().unwrap_or_else(|| self.g.alloc_grads());
        self.g.zero_grads(&mut grads);
        self.lap(Phase::Data, &mut mark);
        let fake = self.g.forward(
            z.traced(grads),
            c.clone(),
            Mode::Train,
            self.cfg.output_activation,
            self.kernels,
        );
        self.lap(Phase::GForward, &mut mark);
        GForward { rng, c, z_values, fake }
    }

    /// G's update from its forward `g`; returns its adversarial loss, the mode-seeking
    /// term and its ratio.
    fn g_step(&mut self, step: u64, g: GForward<D>) -> (f32, f32, f32) {
        let mut mark = Instant::now();
        let n = self.cfg.batch_size;
        let GForward {
            mut rng,
            c,
            z_values,
            fake,
        } = g;
        let ms_weight = self.cfg.mode_seeking as f32;
        let k = self.kernels;
        let (ms, ms_value, ratio) = if ms_weight > 0.0 {
            let z_distance = losses::pair_distance(&z_values, NOISE_DIM);
            let (term, ratio) = D::mode_seeking(
                k,
                fake.retaped::<OwnedTape<f32, D>>(),
                z_distance,
                ms_weight,
                self.cfg.mode_seeking_cap as f32,
            );
            let value = term.array();
            (Some(term), value, ratio)
        } else {
            (None, 0.0, 0.0)
        };
        let logits = self.d.forward(fake, c, Mode::Train, k);
        let loss = self.g_term(logits);
        let loss_g = loss.array();
        self.lap(Phase::DForward, &mut mark);
        let mut grads = match ms {
            Some(term) => (loss + term).backward(),
            None => loss.backward(),
        };
        self.lap(Phase::Backward, &mut mark);
        if self.settings.gan_int > 0.0 {
            // GAN-INT: conditions between two labels must also look real to D.
            let mixed = interpolated(&self.dev, n, &mut rng);
            let z = sample_noise(&self.dev, n, self.cfg.noise, &mut rng);
            self.lap(Phase::Data, &mut mark);
            let fake = self.g.forward(
                z.traced(grads),
                mixed.clone(),
                Mode::Train,
                self.cfg.output_activation,
                k,
            );
            self.lap(Phase::GForward, &mut mark);
            let logits = self.d.forward(fake, mixed, Mode::Train, k);
            let loss = self.g_term(logits) * self.settings.gan_int as f32;
            self.lap(Phase::DForward, &mut mark);
            grads = loss.backward();
            self.lap(Phase::Backward, &mut mark);
        }
        self.opt_g
            .update(&mut self.g, &mut grads)
            .expect("device memory for G's update");
        if let Some(ema) = &mut self.g_ema {
            params::blend(ema, &self.g, params::ema_decay(self.settings.g_ema, step) as f32);
        }
        self.grads_g = Some(grads);
        self.lap(Phase::Optimiser, &mut mark);
        (loss_g, ms_value, ratio)
    }
}

/// G's forward for one update: its conditions, its noise (the mode-seeking term's
/// distances), the output on G's tape, and G's stream for the rest of its step (GAN-INT).
impl<D: ModelDevice> Gan<D> {
    /// One of D's terms: its logits on images that are `real` with their condition or not.
    fn d_term<T: Tape<f32, D>>(
        &self,
        loss: AdversarialLoss,
        logits: Logits<D, T>,
        real: bool,
    ) -> Tensor<(), f32, D, T> {
        match (loss, real) {
            (AdversarialLoss::Bce, true) => bce(logits, self.ones.clone()),
            (AdversarialLoss::Bce, false) => bce(logits, self.zeros.clone()),
            (AdversarialLoss::Hinge, true) => (logits.negate() + 1.0).relu().mean(),
            (AdversarialLoss::Hinge, false) => (logits + 1.0).relu().mean(),
        }
    }

    /// G's adversarial loss on D's logits of its images.
    fn g_term<T: Tape<f32, D>>(&self, logits: Logits<D, T>) -> Tensor<(), f32, D, T> {
        match self.settings.adversarial_loss {
            AdversarialLoss::Bce => bce(logits, self.ones.clone()),
            AdversarialLoss::Hinge => logits.mean().negate(),
        }
    }
}

struct GForward<D: ModelDevice> {
    rng: rand::rngs::StdRng,
    c: Condition<D>,
    z_values: Vec<f32>,
    fake: Images<D, OwnedTape<f32, D>>,
}

impl StepStats {
    /// Every loss of a step with its tag (the ones checked for NaN, the ones summarised).
    pub fn losses(&self) -> [(&'static str, f32); 6] {
        [
            (tags::LOSS_G, self.loss_g),
            (tags::MODE_SEEKING, self.mode_seeking),
            (tags::LOSS_D, self.loss_d),
            (tags::D_REAL_RIGHT, self.d_real_right),
            (tags::D_REAL_WRONG, self.d_real_wrong),
            (tags::D_FAKE, self.d_fake),
        ]
    }

    /// D's three probabilities of a step with their tagself.
    pub fn probabilities(&self) -> [(&'static str, f32); 3] {
        [
            (tags::P_REAL_RIGHT, self.p_real_right),
            (tags::P_REAL_WRONG, self.p_real_wrong),
            (tags::P_FAKE, self.p_fake),
        ]
    }
}

impl StepReport for StepStats {
    fn scalars(&self, cfg: &Config) -> Vec<(String, f32)> {
        let mode_seeking = cfg.mode_seeking > 0.0;
        self.losses()
            .into_iter()
            .filter(|(tag, _)| mode_seeking || *tag != tags::MODE_SEEKING)
            .chain(self.probabilities())
            .chain(mode_seeking.then_some((tags::MODE_SEEKING_RATIO, self.mode_seeking_ratio)))
            .map(|(tag, v)| (tag.to_string(), v))
            .collect()
    }

    fn record(&self) -> Vec<(String, f32)> {
        self.losses()
            .into_iter()
            .chain(self.probabilities())
            .chain([(tags::MODE_SEEKING_RATIO, self.mode_seeking_ratio)])
            .map(|(tag, v)| (tag.to_string(), v))
            .collect()
    }

    fn losses(&self) -> Vec<(String, f32)> {
        self.losses().into_iter().map(|(tag, v)| (tag.to_string(), v)).collect()
    }

    fn line(&self) -> String {
        format!(
            "loss_g {:.3} loss_d {:.3} p_real_right {:.3} p_real_wrong {:.3} p_fake {:.3}",
            self.loss_g, self.loss_d, self.p_real_right, self.p_real_wrong, self.p_fake
        )
    }
}

impl<D: ModelDevice> Trainee<D> for Gan<D> {
    type Stats = StepStats;

    fn build(dev: D, cfg: &Config) -> Self {
        Gan::on(dev, cfg)
    }

    fn config(&self) -> &Config {
        &self.cfg
    }

    fn train_step(&mut self, data: &mut Dataset, step: u64) -> StepStats {
        Gan::train_step(self, data, step)
    }

    fn sampler(&mut self) -> &mut dyn Sampler {
        Gan::sampler(self)
    }

    fn last_batch(&self) -> &Batch {
        &self.batch
    }

    fn weights(&self) -> Vec<(&'static str, Vec<Param>)> {
        vec![
            ("generator", params::params(&self.g)),
            ("discriminator", self.d.params()),
        ]
    }

    fn extra_images(&mut self, _: &[f32]) -> Vec<(String, Grid)> {
        Vec::new()
    }

    fn write_state(&self, dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
        checkpoint::write_gan(dir, self)
    }

    fn read_state(&mut self, dir: &Path, state: &State) -> Result<(), CheckpointError> {
        checkpoint::read_gan(dir, self, state)
    }

    fn adam_steps(&self) -> (u64, u64) {
        (self.opt_g.t, self.opt_d.t)
    }

    /// The curves the article tells you to watch.
    fn dashboard() -> Vec<LayoutCategory> {
        vec![LayoutCategory {
            title: "GAN-CLS: what the article says to watch".into(),
            charts: vec![
                (
                    "D's probabilities: real with right label, real with wrong label, generated".into(),
                    tags::PROBABILITIES.iter().map(|t| exactly(t)).collect(),
                ),
                (
                    "D's loss terms: real right, real wrong, generated".into(),
                    tags::D_TERMS.iter().map(|t| exactly(t)).collect(),
                ),
                (
                    "G's and D's losses".into(),
                    vec![exactly(tags::LOSS_G), exactly(tags::LOSS_D)],
                ),
            ],
        }]
    }
}
