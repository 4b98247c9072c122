//! The judge: a small MNIST classifier cgan trains itself (with the project's conv ops)
//! and uses only to measure G: its predictions give conditional accuracy and the MNIST
//! score, its 128-d penultimate features the Frechet distance and diversity. The
//! repository ships one per dataset with pinned weights ([`super::pinned`]), used by
//! default; `cgan judge` trains one of its own.

use super::pinned;
use crate::data::datasets::DatasetKind;
use crate::data::{Split, IMAGE_SIDE, NUM_CLASSES, PIXELS};
use crate::device::Kernels;
use crate::nn::layers::Conv2D;
use crate::nn::optim::Adam;
use crate::ops::{Images, Img};
use crate::support::rng::{stream_rng, Stream};
use dfdx::losses::cross_entropy_with_logits_loss;
use dfdx::nn::modules::Linear;
use dfdx::nn::tensor_collection::{ModuleVisitor, TensorCollection};
use dfdx::prelude::*;
use num_traits::Float;
use rand::seq::SliceRandom;
use rand::Rng;
use rand_distr::uniform::SampleUniform;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Length of the judge's feature vector.
pub const FEATURES: usize = 128;
/// Pixel range the judge reads: G's default tanh range. Other ranges are rescaled.
pub const RANGE: (f32, f32) = (-1.0, 1.0);
/// Images per forward pass when classifying: a bound on memory (a chunk's activations
/// take tens of MB) that costs no speed, since the convolutions work image by image.
const CLASSIFY_CHUNK: usize = 100;

/// Conv 32 (28) -> Conv 32 s2 (14) -> Conv 64 s2 (7) -> Dense 128 (features) -> Dense 10.
#[derive(Clone, Debug)]
pub struct JudgeNet<E: Dtype, D: Storage<E>> {
    /// 1 -> 32, 3x3, 28 -> 28.
    pub conv1: Conv2D<1, 32, 3, 1, 1, E, D>,
    /// 32 -> 32, 3x3 stride 2, 28 -> 14.
    pub conv2: Conv2D<32, 32, 3, 2, 1, E, D>,
    /// 32 -> 64, 3x3 stride 2, 14 -> 7.
    pub conv3: Conv2D<32, 64, 3, 2, 1, E, D>,
    /// 3136 -> 128 (ReLU): the features.
    pub fc: Linear<3136, FEATURES, E, D>,
    /// 128 -> 10 class logits.
    pub out: Linear<FEATURES, NUM_CLASSES, E, D>,
}

impl<E: Dtype + Float + SampleUniform, D: Device<E>> TensorCollection<E, D> for JudgeNet<E, D> {
    type To<E2: Dtype, D2: Device<E2>> = JudgeNet<E2, D2>;

    fn iter_tensors<V: ModuleVisitor<Self, E, D>>(visitor: &mut V) -> Result<Option<Self::To<V::E2, V::D2>>, V::Err> {
        visitor.visit_fields(
            (
                Self::module("conv1", |s| &s.conv1, |s| &mut s.conv1),
                Self::module("conv2", |s| &s.conv2, |s| &mut s.conv2),
                Self::module("conv3", |s| &s.conv3, |s| &mut s.conv3),
                Self::module("fc", |s| &s.fc, |s| &mut s.fc),
                Self::module("out", |s| &s.out, |s| &mut s.out),
            ),
            |(conv1, conv2, conv3, fc, out)| JudgeNet {
                conv1,
                conv2,
                conv3,
                fc,
                out,
            },
        )
    }
}

/// Features `(n, 128)` and logits `(n, 10)`.
pub type FeaturesAndLogits<T> = (
    Tensor<(usize, Const<FEATURES>), f32, Cpu, T>,
    Tensor<(usize, Const<NUM_CLASSES>), f32, Cpu, T>,
);

impl JudgeNet<f32, Cpu> {
    /// Features and logits of images in [`RANGE`].
    pub fn forward<T: Tape<f32, Cpu> + std::fmt::Debug>(&self, x: Images<Cpu, T>) -> FeaturesAndLogits<T> {
        let n = x.shape().0;
        let h: Tensor<Img<1>, f32, Cpu, T> = x.reshape_like(&(n, Const, IMAGE_SIDE, IMAGE_SIDE));
        let h = self.conv1.forward(h, Kernels::Auto).relu();
        let h = self.conv2.forward(h, Kernels::Auto).relu();
        let h = self.conv3.forward(h, Kernels::Auto).relu();
        let f = self.fc.forward(h.reshape_like(&(n, Const::<3136>))).relu();
        let (f, tape) = f.split_tape();
        let logits = self.out.forward(f.clone().put_tape(tape));
        (f.retaped::<T>(), logits)
    }
}

/// A trained judge and what it scored.
pub struct Judge {
    /// The network.
    pub net: JudgeNet<f32, Cpu>,
    /// Its accuracy on the 10,000 test images of its dataset.
    pub test_accuracy: f64,
    /// The dataset it was trained on: it scores only runs on the same one.
    pub dataset: DatasetKind,
    /// SHA-256 of the weights file it was loaded from (empty until saved and loaded):
    /// which judge scored a run.
    pub sha256: String,
    dev: Cpu,
}

/// `judge.toml` next to the weights.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeInfo {
    /// The dataset it was trained on (a judge.toml without it predates Fashion-MNIST: MNIST).
    #[serde(default)]
    pub dataset: DatasetKind,
    /// Accuracy on its dataset's test split.
    pub test_accuracy: f64,
    /// Epochs trained.
    pub epochs: u32,
    /// Seed.
    pub seed: u64,
}

/// Why a judge could not be trained, saved or loaded.
#[derive(Debug, thiserror::Error)]
pub enum JudgeError {
    /// MNIST is missing or corrupt.
    #[error(transparent)]
    Data(#[from] crate::data::DataError),
    /// The judge was trained on another dataset.
    #[error("the judge in {} was trained on {}, not {}: it cannot score this run; set judge_dir (default for {}: {})", .path.display(), .trained.title(), .wanted.title(), .wanted.title(), .wanted.default_judge_dir().display())]
    OtherDataset {
        /// The directory.
        path: PathBuf,
        /// What it was trained on.
        trained: DatasetKind,
        /// What the run needs.
        wanted: DatasetKind,
    },
    /// A pinned judge's weights are not the pinned ones.
    #[error("the pinned judge {} has SHA-256 {found}, not the pinned {pinned}: restore it (`git checkout judges/`), or set judge_dir to a judge of your own (`cgan judge` trains one into runs/judge)", .path.display())]
    Pinned {
        /// The weights file.
        path: PathBuf,
        /// Its SHA-256.
        found: String,
        /// The recorded one.
        pinned: String,
    },
    /// A pinned judge's directory is missing.
    #[error("no pinned judge in {}: restore it (`git checkout judges/`) or run cgan from its repository, or set judge_dir to a judge of your own (`cgan judge` trains one into runs/judge)", .0.display())]
    PinnedMissing(PathBuf),
    /// `cgan judge` asked to write over a pinned judge.
    #[error("{} holds the pinned judge, which is never retrained: train into another directory (--dir runs/judge) and point judge_dir at it", .0.display())]
    PinnedReadOnly(PathBuf),
    /// The judge files are missing or unusable.
    #[error("judge in {path}: {why}; train a new one with `cgan judge`")]
    Files {
        /// The directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
}

/// Rescales images from `range` to the judge's [`RANGE`] in place.
pub fn to_judge_range(images: &mut [f32], (low, high): (f32, f32)) {
    if (low, high) != RANGE {
        images
            .iter_mut()
            .for_each(|v| *v = (*v - low) / (high - low) * 2.0 - 1.0);
    }
}

impl Judge {
    /// Trains a fresh judge on `dataset`'s train split in `data_dir` and scores it on test.
    pub fn train(
        data_dir: &Path,
        dataset: DatasetKind,
        epochs: u32,
        seed: u64,
        log: &mut dyn FnMut(&str),
    ) -> Result<Self, JudgeError> {
        let m = crate::data::load(data_dir, dataset, RANGE)?;
        let mut judge = Self::untrained(seed);
        judge.dataset = dataset;
        judge.fit(&m.train, epochs, seed, log);
        judge.test_accuracy = judge.accuracy(&m.test);
        log(&format!("judge: test accuracy {:.4}", judge.test_accuracy));
        Ok(judge)
    }

    /// A judge with fresh weights (seeded), not yet trained.
    pub fn untrained(seed: u64) -> Self {
        let dev = Cpu::seed_from_u64(stream_rng(seed, Stream::Init, 1).gen());
        Judge {
            net: JudgeNet::build(&dev),
            test_accuracy: 0.0,
            dataset: DatasetKind::default(),
            sha256: String::new(),
            dev,
        }
    }

    /// Mean cross-entropy of the judge on `split`.
    pub fn loss(&self, split: &Split) -> f64 {
        let (_, probs) = self.classify(&split.images());
        let total: f64 = probs
            .iter()
            .zip(&split.labels)
            .map(|(p, l)| -(p[*l as usize].max(1e-12) as f64).ln())
            .sum();
        total / split.len().max(1) as f64
    }

    /// Trains on `split` for `epochs` (Adam 1e-3, batch 64, a tenth of the rate for the
    /// last epoch: +0.5-1 point of accuracy).
    pub fn fit(&mut self, split: &Split, epochs: u32, seed: u64, log: &mut dyn FnMut(&str)) {
        let (dev, net) = (&self.dev, &mut self.net);
        let mut opt = Adam::new(1e-3, 0.9, 0.999);
        let batch = 64.min(split.len());
        let mut order: Vec<usize> = (0..split.len()).collect();
        let mut images = Vec::with_capacity(batch * PIXELS);
        let mut targets = Vec::with_capacity(batch * NUM_CLASSES);
        let mut grads = net.alloc_grads();
        for epoch in 0..epochs {
            if epoch + 1 == epochs && epochs > 1 {
                opt.lr = 1e-4;
            }
            order.shuffle(&mut stream_rng(seed, Stream::Shuffle, epoch as u64));
            let mut loss_sum = 0.0;
            for (b, idx) in order.chunks_exact(batch).enumerate() {
                images.clear();
                targets.clear();
                for &i in idx {
                    images.extend(split.image(i));
                    targets.extend((0..NUM_CLASSES).map(|c| if c == split.labels[i] as usize { 1.0 } else { 0.0 }));
                }
                let x: Images<Cpu> = dev.tensor_from_vec(images.clone(), (batch, Const, Const, Const));
                let y = dev.tensor_from_vec(targets.clone(), (batch, Const::<NUM_CLASSES>));
                net.zero_grads(&mut grads);
                let (_, logits) = net.forward(x.traced(grads));
                let loss = cross_entropy_with_logits_loss(logits, y);
                loss_sum += loss.array();
                grads = loss.backward();
                // Adam over CPU tensors cannot fail short of running out of memory.
                let _ = opt.update(net, &mut grads);
                if (b + 1) % 200 == 0 {
                    log(&format!(
                        "judge: epoch {} batch {} loss {:.4}",
                        epoch + 1,
                        b + 1,
                        loss_sum / 200.0
                    ));
                    loss_sum = 0.0;
                }
            }
        }
    }

    /// Features `(n * 128)` and predicted class of each image (in [`RANGE`]).
    pub fn classify(&self, images: &[f32]) -> (Vec<f32>, Vec<Vec<f32>>) {
        let mut feats = Vec::with_capacity(images.len() / PIXELS * FEATURES);
        let mut probs = Vec::with_capacity(images.len() / PIXELS);
        for chunk in images.chunks(CLASSIFY_CHUNK * PIXELS) {
            let n = chunk.len() / PIXELS;
            let x: Images<Cpu> = self.dev.tensor_from_vec(chunk.to_vec(), (n, Const, Const, Const));
            let (f, logits) = self.net.forward(x);
            feats.extend(f.as_vec());
            let p = logits.softmax::<Axis<1>>().as_vec();
            probs.extend(p.chunks_exact(NUM_CLASSES).map(|r| r.to_vec()));
        }
        (feats, probs)
    }

    /// Share of `split` classified correctly.
    pub fn accuracy(&self, split: &Split) -> f64 {
        let (_, probs) = self.classify(&split.images());
        let right = probs
            .iter()
            .zip(&split.labels)
            .filter(|(p, l)| argmax(p) == **l as usize)
            .count();
        right as f64 / split.len().max(1) as f64
    }

    /// Saves `judge.safetensors` and `judge.toml` in `dir` (temp files + rename).
    pub fn save(&self, dir: &Path, info: &JudgeInfo) -> Result<(), JudgeError> {
        if pinned::pinned_dataset(dir).is_some() {
            return Err(JudgeError::PinnedReadOnly(dir.into()));
        }
        let err = |why: String| JudgeError::Files { path: dir.into(), why };
        std::fs::create_dir_all(dir).map_err(|e| err(e.to_string()))?;
        let tmp = dir.join("judge.safetensors.part");
        self.net.save_safetensors(&tmp).map_err(|e| err(format!("{e:?}")))?;
        std::fs::rename(&tmp, dir.join("judge.safetensors")).map_err(|e| err(e.to_string()))?;
        std::fs::write(dir.join("judge.toml"), toml::to_string(info).unwrap_or_default())
            .map_err(|e| err(e.to_string()))
    }

    /// Loads a judge saved by [`Judge::save`]; a pinned judge's weights are checked
    /// against their recorded SHA-256 first.
    pub fn load(dir: &Path) -> Result<Self, JudgeError> {
        let err = |why: String| JudgeError::Files { path: dir.into(), why };
        let text = std::fs::read_to_string(dir.join("judge.toml")).map_err(|e| err(format!("judge.toml: {e}")))?;
        let info: JudgeInfo = toml::from_str(&text).map_err(|e| err(format!("judge.toml: {}", e.message())))?;
        let weights = dir.join("judge.safetensors");
        let sha256 = pinned::hex_sha256(&std::fs::read(&weights).map_err(|e| err(format!("judge.safetensors: {e}")))?);
        if let Some(dataset) = pinned::pinned_dataset(dir) {
            if sha256 != dataset.pinned_judge_sha256() {
                return Err(JudgeError::Pinned {
                    path: weights,
                    found: sha256,
                    pinned: dataset.pinned_judge_sha256().into(),
                });
            }
        }
        let dev = Cpu::default();
        let mut net = JudgeNet::<f32, Cpu>::build(&dev);
        net.load_safetensors(&weights)
            .map_err(|e| err(format!("judge.safetensors: {e:?}")))?;
        Ok(Judge {
            net,
            test_accuracy: info.test_accuracy,
            dataset: info.dataset,
            sha256,
            dev,
        })
    }

    /// Loads the judge of `dataset` in `dir`, or trains and saves one there first (saying
    /// so). A judge of another dataset is an error.
    pub fn load_or_train(
        dir: &Path,
        data_dir: &Path,
        dataset: DatasetKind,
        log: &mut dyn FnMut(&str),
    ) -> Result<Self, JudgeError> {
        let dir = &pinned::locate(dir);
        if dir.join("judge.toml").exists() {
            let judge = Self::load(dir)?;
            if judge.dataset != dataset {
                return Err(JudgeError::OtherDataset {
                    path: dir.into(),
                    trained: judge.dataset,
                    wanted: dataset,
                });
            }
            return Ok(judge);
        }
        if pinned::pinned_dataset(dir).is_some() {
            return Err(JudgeError::PinnedMissing(dir.into()));
        }
        log(&format!(
            "judge: none in {}, training one first (a few minutes)",
            dir.display()
        ));
        let (epochs, seed) = (DEFAULT_EPOCHS, 0);
        let judge = Self::train(data_dir, dataset, epochs, seed, log)?;
        judge.save(
            dir,
            &JudgeInfo {
                dataset,
                test_accuracy: judge.test_accuracy,
                epochs,
                seed,
            },
        )?;
        Self::load(dir)
    }
}

/// Epochs `cgan judge` trains by default.
pub const DEFAULT_EPOCHS: u32 = 4;

/// Index of the largest value.
pub fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .fold(0, |best, (i, x)| if *x > v[best] { i } else { best })
}
