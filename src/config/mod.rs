//! The run configuration: every field has a default (the default preset's), a TOML form
//! saved as `<run>/config.toml`, and a validation that rejects bad values with one line
//! naming the key before anything runs.
//!
//! A preset is only a set of values for the documented keys: a config resolves as the
//! preset's values (the `preset` key, or the default preset), then the keys a file sets,
//! then the command-line flags.

pub mod model;
pub mod options;

pub use model::{GanClsConfig, LapganConfig, ModelConfig, ModelKind};
pub use options::{Activation, AdversarialLoss, DNorm, NoiseKind, OutputActivation};

use crate::data::datasets::DatasetKind;
use crate::device::{check_kernels, DeviceKind, Kernels};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A named set of values for the config keys.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// The article's network and settings, exactly: learns the condition, then ignores
    /// the noise (every sample of a digit alike after ~5000 steps).
    Article,
    /// The answer to the article's open problem (the default): the article's G, D without
    /// BatchNorm and with LeakyReLU, the paper's loss weights, a mode-seeking term, and
    /// samples from a moving average of G's weights; lr 4e-4, D at four times that, the
    /// term at weight 2, 3000 steps.
    #[default]
    ModeSeeking,
    /// LAPGAN (Denton et al. 2015, the article's first system): a Laplacian pyramid
    /// 28 -> 14 -> 7 of class-conditional GANs, each level trained on its own, generating
    /// coarse to fine (`[model] kind = "lapgan"`).
    Lapgan,
}

impl Preset {
    /// Every preset, in the order the docs list them.
    pub const ALL: [Preset; 3] = [Preset::Article, Preset::ModeSeeking, Preset::Lapgan];

    /// The presets of the GAN-CLS model (the article's G and a D variant).
    pub fn gan_cls() -> impl Iterator<Item = Preset> {
        Self::ALL
            .into_iter()
            .filter(|p| p.config().model.kind() == ModelKind::GanCls)
    }

    /// The preset's name as the config and `--preset` spell it.
    pub fn name(self) -> &'static str {
        match self {
            Preset::Article => "article",
            Preset::ModeSeeking => "mode-seeking",
            Preset::Lapgan => "lapgan",
        }
    }

    /// The full config of this preset.
    pub fn config(self) -> Config {
        let article = Config::article();
        match self {
            Preset::Article => article,
            Preset::ModeSeeking => Config {
                preset: self,
                steps: 3000,
                lr: 4e-4,
                lr_d_scale: 4.0,
                d_loss: DLoss::Reed,
                mode_seeking: 2.0,
                model: ModelConfig::GanCls(GanClsConfig {
                    d_norm: DNorm::None,
                    d_activation: Activation::LeakyRelu,
                    g_ema: 0.999,
                    ..GanClsConfig::default()
                }),
                ..article
            },
            Preset::Lapgan => Config {
                preset: self,
                model: ModelConfig::Lapgan(LapganConfig {}),
                d_loss: DLoss::Reed,
                ..article
            },
        }
    }
}

/// How D's three terms add up.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DLoss {
    /// BCE(real,1) + BCE(wrong,0) + BCE(fake,0): the article's code (the default).
    #[default]
    Sum,
    /// BCE(real,1) + (BCE(wrong,0) + BCE(fake,0)) / 2: Reed et al. and the article's text.
    Reed,
}

/// Everything a run needs. Field names are the TOML keys.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// The preset these values started from (a label once resolved: every key below is
    /// explicit in a run's config.toml).
    pub preset: Preset,
    /// Run name: the suffix of the run directory.
    pub name: String,
    /// Seed of every random draw (weights, data order, wrong labels, noise).
    pub seed: u64,
    /// Total training steps (a resumed run continues until this step).
    pub steps: u64,
    /// Real images per step (and generated ones per step).
    pub batch_size: usize,
    /// Adam learning rate of both networks.
    pub lr: f64,
    /// Adam beta1 of both networks.
    pub beta1: f64,
    /// Adam beta2 of both networks.
    pub beta2: f64,
    /// D's loss: `sum` (the article's code) or `reed` (the paper).
    pub d_loss: DLoss,
    /// Distribution of z: `uniform` (U(-1, 1)) or `normal`.
    pub noise: NoiseKind,
    /// G's output activation: `tanh` (data in [-1, 1]) or `sigmoid` (data in [0, 1]).
    pub output_activation: OutputActivation,
    /// Scalars and sample grids go to TensorBoard every this many steps.
    pub summary_every: u64,
    /// Weight histograms every this many summaries (0: never).
    pub histogram_every: u64,
    /// A checkpoint every this many steps (and always at the end).
    pub checkpoint_every: u64,
    /// Checkpoints kept on disk (the oldest are deleted).
    pub keep_checkpoints: usize,
    /// Rows of fixed noise in the sample grids.
    pub sample_rows: usize,
    /// Where the four MNIST IDX files are (`make data` puts them there).
    pub data_dir: PathBuf,
    /// Train on only the first N training images (0: all 60,000), e.g. for the
    /// regression run.
    pub train_images: usize,
    /// D's learning rate is `lr * lr_d_scale` (two time-scale update rule; 1: the same).
    pub lr_d_scale: f64,
    /// Weight of the mode-seeking term in G's loss (Mao et al. 2019; 0: off; LAPGAN: on
    /// its 7 x 7 level): half of G's batch repeats the other half's labels with fresh
    /// noise, and G's loss gains
    /// `mode_seeking / (ratio + MS_EPS)`, `ratio` = mean |G(z1, c) - G(z2, c)| / mean |z1 - z2|.
    pub mode_seeking: f64,
    /// The mode-seeking term stops paying above this ratio (real digits score ~0.42 with
    /// uniform z): more "diversity" than that is noise. `inf` is MSGAN's unbounded term.
    pub mode_seeking_cap: f64,
    /// Judge metrics (`eval/...`) every this many steps (0: never).
    pub eval_every: u64,
    /// Generated samples per evaluation.
    pub eval_samples: usize,
    /// Where the judge is: the pinned `judges/<dataset>` by default; a directory of your
    /// own is trained there first if missing.
    pub judge_dir: PathBuf,
    /// The dataset: `mnist` or `fashion-mnist`. Setting it moves `data_dir` and
    /// `judge_dir` to that dataset's defaults unless they are set too.
    pub dataset: DatasetKind,
    /// Where the networks train: `cpu`, or `cuda` (a build with `--features cuda`).
    pub device: DeviceKind,
    /// The ops' implementation: `auto` (the device's fastest), `fast` (the CPU's fused
    /// kernels) or `composite` (public dfdx ops only: what a GPU runs).
    pub kernels: Kernels,
    /// The `[model]` table: the architecture (`kind = "gan-cls"`, the article's network,
    /// or `"lapgan"`) and only the keys it has.
    pub model: ModelConfig,
}

impl Default for Config {
    /// The default preset's config.
    fn default() -> Self {
        Preset::default().config()
    }
}

impl Config {
    fn article() -> Self {
        Self {
            preset: Preset::Article,
            name: "cgan".into(),
            seed: 42,
            steps: 6000,
            batch_size: 32,
            lr: 2e-4,
            beta1: 0.5,
            beta2: 0.999,
            d_loss: DLoss::Sum,
            noise: NoiseKind::Uniform,
            output_activation: OutputActivation::Tanh,
            summary_every: 100,
            histogram_every: 5,
            checkpoint_every: 1000,
            keep_checkpoints: 3,
            sample_rows: 8,
            data_dir: PathBuf::from("data/mnist"),
            train_images: 0,
            lr_d_scale: 1.0,
            mode_seeking: 0.0,
            mode_seeking_cap: 0.4,
            eval_every: 1000,
            eval_samples: 1000,
            judge_dir: DatasetKind::Mnist.default_judge_dir(),
            dataset: DatasetKind::Mnist,
            device: DeviceKind::Cpu,
            kernels: Kernels::Auto,
            model: ModelConfig::default(),
        }
    }
}

/// A config that cannot be used, with the key and the fix in its message.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read config {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML for a config (unknown key, wrong type...).
    #[error("invalid config {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What toml says, first line only.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid config value: {0}")]
    Value(String),
}

impl Config {
    /// Reads a TOML config: `preset` when given, else the preset the file names, else
    /// the default preset; then the keys the file sets. Unknown keys are errors.
    pub fn load(path: &Path, preset: Option<Preset>) -> Result<Self, ConfigError> {
        Self::load_or(path, preset, Preset::default())
    }

    /// Reads a run's `config.toml`. One without a `preset` key predates presets: it was
    /// the article's.
    pub fn load_run(path: &Path) -> Result<Self, ConfigError> {
        Self::load_or(path, None, Preset::Article)
    }

    fn load_or(path: &Path, preset: Option<Preset>, fallback: Preset) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.into(),
            source,
        })?;
        let parse = |e: toml::de::Error| ConfigError::Parse {
            path: path.into(),
            message: e.message().lines().next().unwrap_or("parse error").to_string(),
        };
        let table: toml::Table = toml::from_str(&text).map_err(parse)?;
        Self::resolve_table(table, preset, fallback).map_err(parse)
    }

    /// A config from a table of keys (a sweep trial's): the preset the table names, else
    /// the default preset, then the table's keys. `source` names it in errors.
    pub fn from_table(table: toml::Table, source: &str) -> Result<Self, ConfigError> {
        Self::resolve_table(table, None, Preset::default()).map_err(|e| ConfigError::Parse {
            path: source.into(),
            message: e.message().lines().next().unwrap_or("parse error").to_string(),
        })
    }

    fn resolve_table(
        mut table: toml::Table,
        preset: Option<Preset>,
        fallback: Preset,
    ) -> Result<Self, toml::de::Error> {
        let preset = match (preset, table.remove("preset")) {
            (Some(p), _) => p,
            (None, Some(v)) => v.try_into()?,
            (None, None) => fallback,
        };
        let dirs_set = (table.contains_key("data_dir"), table.contains_key("judge_dir"));
        // A preset's own values always form a table.
        let base = toml::Table::try_from(preset.config()).unwrap_or_default();
        let merged = model::merge(base, table).map_err(serde::de::Error::custom)?;
        let cfg: Config = toml::Value::Table(merged).try_into()?;
        let dataset = cfg.dataset;
        Ok(Config {
            data_dir: if dirs_set.0 {
                cfg.data_dir.clone()
            } else {
                dataset.default_data_dir()
            },
            judge_dir: if dirs_set.1 {
                cfg.judge_dir.clone()
            } else {
                dataset.default_judge_dir()
            },
            ..cfg
        })
    }

    /// This config on `dataset`: `data_dir` and `judge_dir` move to its defaults where they
    /// were the previous dataset's defaults.
    pub fn with_dataset(mut self, dataset: DatasetKind) -> Self {
        if self.data_dir == self.dataset.default_data_dir() {
            self.data_dir = dataset.default_data_dir();
        }
        if self.judge_dir == self.dataset.default_judge_dir() {
            self.judge_dir = dataset.default_judge_dir();
        }
        self.dataset = dataset;
        self
    }

    /// This config with the keys of `overrides` set (a history segment's, in either the
    /// `[model]` or the older flat form).
    pub fn with_overrides(&self, overrides: &toml::Table) -> Result<Self, toml::de::Error> {
        let base = toml::Table::try_from(self).unwrap_or_default();
        let merged = model::merge(base, overrides.clone()).map_err(serde::de::Error::custom)?;
        toml::Value::Table(merged).try_into()
    }

    /// Every key with its value, `[model]`'s as `model.KEY`, in the file's order.
    pub fn flat(&self) -> Vec<(String, toml::Value)> {
        let mut out = Vec::new();
        for (k, v) in toml::Table::try_from(self).unwrap_or_default() {
            match v {
                toml::Value::Table(t) => out.extend(t.into_iter().map(|(k2, v)| (format!("{k}.{k2}"), v))),
                v => out.push((k, v)),
            }
        }
        out
    }

    /// The config as TOML, as saved in a run directory.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).unwrap_or_default()
    }

    /// Rejects values no run can use, naming the key and the accepted range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Value(m));
        if self.batch_size == 0 {
            return bad("batch_size must be at least 1, got 0".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        for (key, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{key} must be in [0, 1), got {b}"));
            }
        }
        for (key, v) in [
            ("summary_every", self.summary_every),
            ("checkpoint_every", self.checkpoint_every),
        ] {
            if v == 0 {
                return bad(format!("{key} must be at least 1, got 0"));
            }
        }
        if self.keep_checkpoints == 0 {
            return bad("keep_checkpoints must be at least 1, got 0".into());
        }
        if self.sample_rows == 0 || self.sample_rows > 64 {
            return bad(format!(
                "sample_rows must be between 1 and 64, got {}",
                self.sample_rows
            ));
        }
        if self.train_images > 60_000 || (self.train_images > 0 && self.train_images < self.batch_size) {
            return bad(format!(
                "train_images must be 0 (all) or between batch_size ({}) and 60000, got {}",
                self.batch_size, self.train_images
            ));
        }
        for (key, v) in [("lr_d_scale", self.lr_d_scale)] {
            if !(v > 0.0 && v.is_finite()) {
                return bad(format!("{key} must be a positive number, got {v}"));
            }
        }
        if !(self.mode_seeking >= 0.0 && self.mode_seeking.is_finite()) {
            return bad(format!(
                "mode_seeking must be a number >= 0 (0 turns it off), got {}",
                self.mode_seeking
            ));
        }
        if self.mode_seeking_cap.is_nan() || self.mode_seeking_cap <= 0.0 {
            return bad(format!(
                "mode_seeking_cap must be a positive number (inf: no cap), got {}",
                self.mode_seeking_cap
            ));
        }
        if self.mode_seeking > 0.0 && self.batch_size < 2 {
            return bad(format!(
                "batch_size must be at least 2 with mode_seeking (it pairs samples), got {}",
                self.batch_size
            ));
        }
        if self.eval_every > 0 && !(200..=10_000).contains(&self.eval_samples) {
            return bad(format!(
                "eval_samples must be between 200 and 10000, got {}",
                self.eval_samples
            ));
        }
        self.model.validate().map_err(ConfigError::Value)?;
        check_kernels(self.device, self.kernels).map_err(|e| ConfigError::Value(e.0))?;
        if self.name.is_empty() || self.name.contains(['/', '\\']) {
            return bad(format!(
                "name must be a non-empty file name without slashes, got {:?}",
                self.name
            ));
        }
        Ok(())
    }
}
