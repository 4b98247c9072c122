//! LAPGAN's training step. Every level of the pyramid is a conditional GAN of its own on
//! the real batch's pyramid: level 7 learns I_7 (the batch downsampled twice) from (z, c);
//! levels 14 and 28 learn the band-pass residual h_k = I_k - upsample(I_{k/2}) from
//! (l_k = upsample(I_{k/2}), c, z), their D judging (h_k, l_k, c) real vs generated. Every
//! D is matching-aware like the article's (GAN-CLS): real images with wrong labels are
//! fake too, its three terms weighted by `d_loss`. The
//! levels share only the batch and the step: no gradient crosses from one level to
//! another (each level's inputs are data), so updating the three at once, with one Adam
//! per side whose moments are per tensor, is the same as training them one by one.

use crate::config::{Config, DLoss, ModelKind};
use crate::data::grid::{tile, Grid};
use crate::data::{Batch, Dataset, IMAGE_SIDE};
use crate::device::{Kernels, ModelDevice};
use crate::models::checkpoint::{self, CheckpointError, State};
use crate::models::gan_cls::mean_sigmoid;
use crate::models::lapgan::{PyramidD, PyramidG, COARSE_SIDE, SIDES};
use crate::models::sample::{grid_inputs, Sampler};
use crate::models::trainee::{StepReport, Trainee};
use crate::models::{one_hot, sample_noise, Condition, Logits, Noise, NOISE_DIM};
use crate::nn::optim::Adam;
use crate::nn::params::{self, Param};
use crate::ops::composite::regularisers::mode_seeking_rows;
use crate::ops::mode_seeking as losses;
use crate::ops::pyramid::{downsample, upsample, Planes};
use crate::support::rng::{self, stream_rng, Stream, INIT_WEIGHTS};
use crate::tensorboard::tags;
use crate::tensorboard::writer::{exactly, LayoutCategory};
use dfdx::losses::binary_cross_entropy_with_logits_loss as bce;
use dfdx::prelude::*;
use rand::Rng;
use std::path::{Path, PathBuf};

/// What one step measured at one level.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LevelStats {
    /// G's loss: BCE(D(G(...)), 1).
    pub loss_g: f32,
    /// D's loss: its three terms (real with right labels, real with wrong labels,
    /// generated) added as `d_loss` says.
    pub loss_d: f32,
    /// D's mean probability on the real images (level 7) or residuals, right labels.
    pub p_real: f32,
    /// The same with wrong labels (should fall).
    pub p_real_wrong: f32,
    /// D's mean probability on the generated ones.
    pub p_fake: f32,
    /// The mode-seeking term in G's loss (level 7 with `mode_seeking` on; else 0).
    pub mode_seeking: f32,
    /// Its ratio of image to noise distances.
    pub mode_seeking_ratio: f32,
}

/// What one step measured, per level (coarse to fine: [`SIDES`]).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct LapganStats {
    /// Level 7, 14, 28.
    pub levels: [LevelStats; 3],
}

impl StepReport for LapganStats {
    fn scalars(&self, cfg: &Config) -> Vec<(String, f32)> {
        let mut out = self.record();
        if cfg.mode_seeking > 0.0 {
            let coarse = &self.levels[0];
            out.push((tags::level_mode_seeking(SIDES[0]), coarse.mode_seeking));
            out.push((tags::level_mode_seeking_ratio(SIDES[0]), coarse.mode_seeking_ratio));
        }
        out
    }

    fn record(&self) -> Vec<(String, f32)> {
        SIDES
            .iter()
            .zip(&self.levels)
            .flat_map(|(&s, l)| {
                [
                    (tags::level_loss_g(s), l.loss_g),
                    (tags::level_loss_d(s), l.loss_d),
                    (tags::level_p_real(s), l.p_real),
                    (tags::level_p_real_wrong(s), l.p_real_wrong),
                    (tags::level_p_fake(s), l.p_fake),
                ]
            })
            .collect()
    }

    fn losses(&self) -> Vec<(String, f32)> {
        SIDES
            .iter()
            .zip(&self.levels)
            .flat_map(|(&s, l)| {
                [
                    (tags::level_loss_g(s), l.loss_g),
                    (tags::level_loss_d(s), l.loss_d),
                    (tags::level_mode_seeking(s), l.mode_seeking),
                ]
            })
            .collect()
    }

    fn line(&self) -> String {
        SIDES
            .iter()
            .zip(&self.levels)
            .map(|(s, l)| {
                format!(
                    "level {s}: loss_g {:.3} loss_d {:.3} p_real {:.3} p_real_wrong {:.3} p_fake {:.3}",
                    l.loss_g, l.loss_d, l.p_real, l.p_real_wrong, l.p_fake
                )
            })
            .collect::<Vec<_>>()
            .join(" | ")
    }
}

/// The real batch's pyramid: what each level learns from.
struct RealPyramid<D: ModelDevice> {
    /// The batch at 7 x 7 (level 7's real images).
    i7: Planes<D>,
    /// upsample(I_7): level 14's coarse input.
    l14: Planes<D>,
    /// I_14 - l14: level 14's real residuals.
    h14: Planes<D>,
    /// upsample(I_14).
    l28: Planes<D>,
    /// I_28 - l28.
    h28: Planes<D>,
}

/// LAPGAN's generators and discriminators, their optimisers and the step's buffers.
pub struct Lapgan<D: ModelDevice = Cpu> {
    /// The device everything runs on.
    pub dev: D,
    /// Which of the device's op implementations the step uses.
    pub kernels: Kernels,
    /// G of every level.
    pub g: PyramidG<f32, D>,
    /// D of every level.
    pub d: PyramidD<f32, D>,
    /// The generators' optimiser.
    pub opt_g: Adam,
    /// The discriminators' optimiser (`lr * lr_d_scale`).
    pub opt_d: Adam,
    cfg: Config,
    batch: Batch,
    ones: Logits<D>,
    zeros: Logits<D>,
    grads_g: Option<Gradients<f32, D>>,
    grads_d: Option<Gradients<f32, D>>,
}

impl<D: ModelDevice> Lapgan<D> {
    fn real_pyramid(&self) -> RealPyramid<D> {
        let n = self.cfg.batch_size;
        let i28: Planes<D> = self
            .dev
            .tensor_from_vec(self.batch.images.clone(), (n, 1usize, IMAGE_SIDE, IMAGE_SIDE));
        let i14 = downsample(i28.clone());
        let i7 = downsample(i14.clone());
        let l14 = upsample(i7.clone());
        let l28 = upsample(i14.clone());
        RealPyramid {
            h14: i14 - l14.clone(),
            h28: i28 - l28.clone(),
            i7,
            l14,
            l28,
        }
    }

    fn noise(&self, rng: &mut impl Rng) -> [Noise<D>; 3] {
        let n = self.cfg.batch_size;
        std::array::from_fn(|_| sample_noise(&self.dev, n, self.cfg.noise, rng))
    }

    /// One update of every level's D; returns (loss, p_real, p_real_wrong, p_fake) per level.
    fn d_step(
        &mut self,
        step: u64,
        real: &RealPyramid<D>,
        c: &Condition<D>,
        wrong: &Condition<D>,
    ) -> [(f32, f32, f32, f32); 3] {
        let (k, act) = (self.kernels, self.cfg.output_activation);
        let mut rng = stream_rng(self.cfg.seed, Stream::Step, rng::d_step(step));
        let [z7, z14, z28] = self.noise(&mut rng);
        let g = &self.g;
        let fake7 = g.level7.forward(z7, c.clone(), act);
        let fake14 = g.level14.forward(real.l14.clone(), c.clone(), z14, k);
        let fake28 = g.level28.forward(real.l28.clone(), c.clone(), z28, k);
        let mut grads = self.grads_d.take().unwrap_or_else(|| self.d.alloc_grads());
        self.d.zero_grads(&mut grads);
        let d = &self.d;
        let own = |t: Planes<D>| t.retaped::<OwnedTape<f32, D>>();
        let triples = [
            (
                d.level7.forward(real.i7.clone().traced(grads), c.clone(), k),
                d.level7.forward(own(real.i7.clone()), wrong.clone(), k),
                d.level7.forward(own(fake7), c.clone(), k),
            ),
            (
                d.level14.forward(own(real.h14.clone()), real.l14.clone(), c.clone(), k),
                d.level14
                    .forward(own(real.h14.clone()), real.l14.clone(), wrong.clone(), k),
                d.level14.forward(own(fake14), real.l14.clone(), c.clone(), k),
            ),
            (
                d.level28.forward(own(real.h28.clone()), real.l28.clone(), c.clone(), k),
                d.level28
                    .forward(own(real.h28.clone()), real.l28.clone(), wrong.clone(), k),
                d.level28.forward(own(fake28), real.l28.clone(), c.clone(), k),
            ),
        ];
        let mut out = [(0.0, 0.0, 0.0, 0.0); 3];
        let mut total = None;
        for (o, (r, w, f)) in out.iter_mut().zip(triples) {
            let p = [&r, &w, &f].map(|l| mean_sigmoid(&l.as_vec()));
            let (rr, rw, fk) = (
                bce(r, self.ones.clone()),
                bce(w, self.zeros.clone()),
                bce(f, self.zeros.clone()),
            );
            let loss = match self.cfg.d_loss {
                DLoss::Sum => rr + rw + fk,
                DLoss::Reed => rr + (rw + fk) * 0.5,
            };
            *o = (loss.array(), p[0], p[1], p[2]);
            total = Some(match total {
                None => loss,
                Some(t) => t + loss,
            });
        }
        if let Some(total) = total {
            let mut grads = total.backward();
            self.opt_d
                .update(&mut self.d, &mut grads)
                .expect("device memory for D's update");
            self.grads_d = Some(grads);
        }
        out
    }

    /// One update of every level's G; returns G's loss per level and level 7's
    /// mode-seeking term and ratio.
    fn g_step(&mut self, step: u64, real: &RealPyramid<D>, c: &Condition<D>) -> ([f32; 3], f32, f32) {
        let (k, act) = (self.kernels, self.cfg.output_activation);
        let mut rng = stream_rng(self.cfg.seed, Stream::Step, rng::g_step(step));
        let [z7, z14, z28] = self.noise(&mut rng);
        let mut grads = self.grads_g.take().unwrap_or_else(|| self.g.alloc_grads());
        self.g.zero_grads(&mut grads);
        let (g, d) = (&self.g, &self.d);
        let own = |z: Noise<D>| z.retaped::<OwnedTape<f32, D>>();
        let ms_weight = self.cfg.mode_seeking as f32;
        // The coarsest level decides what a sample is, so it is where noise can be ignored
        // (the article's open problem); with `mode_seeking` on, its pairs (i, i + n/2)
        // share a label and differ in noise, as in the GAN-CLS step.
        let c7 = if ms_weight > 0.0 {
            let mut labels = self.batch.labels.clone();
            let half = labels.len() / 2;
            labels.copy_within(..half, half);
            one_hot(&self.dev, &labels)
        } else {
            c.clone()
        };
        let z_distance = losses::pair_distance(&z7.as_vec(), NOISE_DIM);
        let fake7 = g.level7.forward(z7.traced(grads), c7.clone(), act);
        let (ms, ms_value, ratio) = if ms_weight > 0.0 {
            let n = fake7.shape().0;
            let flat = fake7
                .retaped::<OwnedTape<f32, D>>()
                .reshape_like(&(n, COARSE_SIDE * COARSE_SIDE));
            let (term, ratio) = mode_seeking_rows(flat, z_distance, ms_weight, self.cfg.mode_seeking_cap as f32);
            let value = term.array();
            (Some(term), value, ratio)
        } else {
            (None, 0.0, 0.0)
        };
        let logits = [
            d.level7.forward(fake7, c7, k),
            d.level14.forward(
                g.level14.forward(real.l14.clone(), c.clone(), own(z14), k),
                real.l14.clone(),
                c.clone(),
                k,
            ),
            d.level28.forward(
                g.level28.forward(real.l28.clone(), c.clone(), own(z28), k),
                real.l28.clone(),
                c.clone(),
                k,
            ),
        ];
        let mut out = [0.0; 3];
        let mut total = ms;
        for (o, l) in out.iter_mut().zip(logits) {
            let loss = bce(l, self.ones.clone());
            *o = loss.array();
            total = Some(match total {
                None => loss,
                Some(t) => t + loss,
            });
        }
        if let Some(total) = total {
            let mut grads = total.backward();
            self.opt_g
                .update(&mut self.g, &mut grads)
                .expect("device memory for G's update");
            self.grads_g = Some(grads);
        }
        (out, ms_value, ratio)
    }
}

impl<D: ModelDevice> Trainee<D> for Lapgan<D> {
    type Stats = LapganStats;

    fn build(dev: D, cfg: &Config) -> Self {
        assert_eq!(
            cfg.model.kind(),
            ModelKind::Lapgan,
            "Lapgan needs [model] kind = \"lapgan\"; train::train picks the model a config names"
        );
        let seed = stream_rng(cfg.seed, Stream::Init, INIT_WEIGHTS).gen();
        let host = Cpu::seed_from_u64(seed);
        let g = PyramidG::<f32, Cpu>::build(&host).to_device(&dev);
        let d = PyramidD::<f32, Cpu>::build(&host).to_device(&dev);
        let adam = |scale: f64| Adam::new((cfg.lr * scale) as f32, cfg.beta1 as f32, cfg.beta2 as f32);
        let n = cfg.batch_size;
        Self {
            ones: dev.ones_like(&(n, Const)),
            zeros: dev.zeros_like(&(n, Const)),
            dev,
            kernels: cfg.kernels,
            g,
            d,
            opt_g: adam(1.0),
            opt_d: adam(cfg.lr_d_scale),
            cfg: cfg.clone(),
            batch: Batch::default(),
            grads_g: None,
            grads_d: None,
        }
    }

    fn config(&self) -> &Config {
        &self.cfg
    }

    fn train_step(&mut self, data: &mut Dataset, step: u64) -> LapganStats {
        data.batch_into(step, &mut self.batch);
        let real = self.real_pyramid();
        let c = one_hot(&self.dev, &self.batch.labels);
        let wrong = one_hot(&self.dev, &self.batch.wrong_labels);
        let d = self.d_step(step, &real, &c, &wrong);
        let (g, mode_seeking, mode_seeking_ratio) = self.g_step(step, &real, &c);
        let mut stats = LapganStats::default();
        for ((s, (loss_d, p_real, p_real_wrong, p_fake)), loss_g) in stats.levels.iter_mut().zip(d).zip(g) {
            *s = LevelStats {
                loss_g,
                loss_d,
                p_real,
                p_real_wrong,
                p_fake,
                ..Default::default()
            };
        }
        stats.levels[0].mode_seeking = mode_seeking;
        stats.levels[0].mode_seeking_ratio = mode_seeking_ratio;
        stats
    }

    fn sampler(&mut self) -> &mut dyn Sampler {
        &mut self.g
    }

    fn last_batch(&self) -> &Batch {
        &self.batch
    }

    fn weights(&self) -> Vec<(&'static str, Vec<Param>)> {
        vec![
            ("generator", params::params(&self.g)),
            ("discriminator", params::params(&self.d)),
        ]
    }

    fn extra_images(&mut self, fixed: &[f32]) -> Vec<(String, Grid)> {
        let (z, c) = grid_inputs(fixed);
        let m = c.len() / crate::data::NUM_CLASSES;
        let z: Noise<D> = self.dev.tensor_from_vec(z, (m, Const));
        let c: Condition<D> = self.dev.tensor_from_vec(c, (m, Const));
        let act = self.cfg.output_activation;
        let [i7, i14, _] = self.g.levels(z, c, act, self.kernels);
        let range = act.range();
        vec![
            (
                tags::samples_level(SIDES[0]),
                tile(&upsample(upsample(i7)).as_vec(), crate::data::NUM_CLASSES, range),
            ),
            (
                tags::samples_level(SIDES[1]),
                tile(&upsample(i14).as_vec(), crate::data::NUM_CLASSES, range),
            ),
        ]
    }

    fn write_state(&self, dir: &Path) -> Result<Vec<PathBuf>, CheckpointError> {
        Ok(vec![
            checkpoint::write_net(&self.g, dir.join("g.safetensors"))?,
            checkpoint::write_net(&self.d, dir.join("d.safetensors"))?,
            checkpoint::write_moments(dir, &self.opt_g, &self.opt_d)?,
        ])
    }

    fn read_state(&mut self, dir: &Path, state: &State) -> Result<(), CheckpointError> {
        let g = checkpoint::read_net(&self.g, &dir.join("g.safetensors"))?;
        let d = checkpoint::read_net(&self.d, &dir.join("d.safetensors"))?;
        let (og, od) = checkpoint::read_moments(
            dir,
            state,
            (&self.opt_g, params::params(&g)),
            (&self.opt_d, params::params(&d)),
        )?;
        (self.g, self.d, self.opt_g, self.opt_d) = (g, d, og, od);
        Ok(())
    }

    fn adam_steps(&self) -> (u64, u64) {
        (self.opt_g.t, self.opt_d.t)
    }

    /// One chart of D's probabilities and one of the losses per level.
    fn dashboard() -> Vec<LayoutCategory> {
        vec![LayoutCategory {
            title: "LAPGAN: every level of the pyramid".into(),
            charts: SIDES
                .iter()
                .flat_map(|&s| {
                    [
                        (
                            format!("Level {s}: D's probabilities: real right, real wrong, generated"),
                            vec![
                                exactly(&tags::level_p_real(s)),
                                exactly(&tags::level_p_real_wrong(s)),
                                exactly(&tags::level_p_fake(s)),
                            ],
                        ),
                        (
                            format!("Level {s}: G's and D's losses"),
                            vec![exactly(&tags::level_loss_g(s)), exactly(&tags::level_loss_d(s))],
                        ),
                    ]
                })
                .collect(),
        }]
    }
}
