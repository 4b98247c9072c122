//! The architectures cgan trains, and the one place that tells them apart by what a
//! checkpoint says: the manifest of the networks a config builds, and the generator a
//! checkpoint samples with.

use crate::config::{Config, GanClsConfig, ModelConfig, ModelKind};
use crate::device::ModelDevice;
use crate::models::checkpoint::{
    invalid, read_net, CheckpointError, GeneratorArchitecture, GeneratorManifest, G_EMA_FILE,
};
use crate::models::gan_cls::{DiscriminatorSpec, Gan, Generator};
use crate::models::lapgan::step::Lapgan;
use crate::models::lapgan::PyramidG;
use crate::models::sample::Sampler;
use crate::models::trainee::Trainee;
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Something done with a model type (train it, say): [`with_model`] runs it for the
/// model a config names.
pub trait ModelTask<D: ModelDevice> {
    /// What the task gives back.
    type Output;
    /// The task for the model `M`.
    fn run<M: Trainee<D>>(self) -> Self::Output;
}

/// Runs `task` for the model `kind`: the one place a model kind becomes a model type.
pub fn with_model<D: ModelDevice, T: ModelTask<D>>(kind: ModelKind, task: T) -> T::Output {
    match kind {
        ModelKind::GanCls => task.run::<Gan<D>>(),
        ModelKind::Lapgan => task.run::<Lapgan<D>>(),
    }
}

/// `manifest.toml` of a checkpoint: the config's `[model]` table its weights were trained
/// with, and what sampling G needs.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Manifest {
    /// The `[model]` table. From a checkpoint written before the table existed: its
    /// architecture with D's keys from its `[discriminator]` table and the article's
    /// values for the rest.
    pub model: ModelConfig,
    /// G.
    pub generator: GeneratorManifest,
}

/// `manifest.toml` as written now (`[model]`, `[generator]`) or before `[model]` existed
/// (`[generator]`, and `[discriminator]` for GAN-CLS).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestFile {
    #[serde(default)]
    model: Option<ModelConfig>,
    generator: GeneratorManifest,
    #[serde(default)]
    discriminator: Option<DiscriminatorSpec>,
}

impl From<ManifestFile> for Manifest {
    fn from(f: ManifestFile) -> Self {
        let model = f.model.unwrap_or_else(|| match f.generator.architecture {
            GeneratorArchitecture::Lapgan => ModelConfig::of_kind(ModelKind::Lapgan),
            GeneratorArchitecture::Article => {
                let d = f.discriminator.unwrap_or_default();
                ModelConfig::GanCls(GanClsConfig {
                    d_norm: d.norm,
                    d_activation: d.activation,
                    minibatch_std: d.minibatch_std,
                    spectral_norm: d.spectral_norm,
                    projection: d.projection,
                    ..GanClsConfig::default()
                })
            }
        });
        Self {
            model,
            generator: f.generator,
        }
    }
}

impl Manifest {
    /// The manifest of the networks `cfg` builds.
    pub fn of(cfg: &Config) -> Self {
        Self {
            generator: GeneratorManifest {
                architecture: match cfg.model.kind() {
                    ModelKind::GanCls => GeneratorArchitecture::Article,
                    ModelKind::Lapgan => GeneratorArchitecture::Lapgan,
                },
                output_activation: cfg.output_activation,
                noise: cfg.noise,
                averaged: cfg.model.averaged(),
            },
            model: cfg.model.clone(),
        }
    }

    /// `manifest.toml` of checkpoint `dir`.
    pub fn read(dir: &Path) -> Result<Self, CheckpointError> {
        let path = dir.join("manifest.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => invalid(&path, "missing: written by a cgan without presets, or incomplete"),
            _ => CheckpointError::Io {
                path: path.clone(),
                source: e,
            },
        })?;
        toml::from_str::<ManifestFile>(&text)
            .map(Manifest::from)
            .map_err(|e| invalid(&path, e.message().lines().next().unwrap_or("")))
    }

    /// What decides which weights exist and how G samples: D's keys and the kind (the
    /// training procedure's keys at the article's values), and G's manifest.
    fn structure(&self) -> Self {
        let model = match &self.model {
            ModelConfig::GanCls(m) => ModelConfig::GanCls(GanClsConfig {
                d_norm: m.d_norm,
                d_activation: m.d_activation,
                minibatch_std: m.minibatch_std,
                spectral_norm: m.spectral_norm,
                projection: m.projection,
                ..GanClsConfig::default()
            }),
            other => other.clone(),
        };
        Self {
            model,
            generator: self.generator,
        }
    }

    /// Whether weights saved under `self` fit the networks `other` builds.
    pub fn fits(&self, other: &Self) -> bool {
        self.structure() == other.structure()
    }

    /// `key = value` of every structural setting where `self` differs from `other`.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let (a, b) = (flat(&self.structure()), flat(&other.structure()));
        a.iter()
            .filter(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v != v2) || !b.iter().any(|(k2, _)| k == k2))
            .map(|(k, v)| format!("{k} = {v}"))
            .collect()
    }
}

/// `section.key` -> value of a manifest, for naming what differs.
fn flat(m: &Manifest) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Ok(toml::Value::Table(t)) = toml::Value::try_from(m) {
        for (section, v) in t {
            if let toml::Value::Table(inner) = v {
                out.extend(
                    inner
                        .into_iter()
                        .map(|(k, v)| (format!("{section}.{k}"), v.to_string())),
                );
            }
        }
    }
    out
}

/// The manifest of checkpoint `dir`, refused (naming each difference) unless it is `want`.
pub fn check_manifest(dir: &Path, want: &Manifest) -> Result<Manifest, CheckpointError> {
    let have = Manifest::read(dir)?;
    if !have.fits(want) {
        return Err(invalid(
            &dir.join("manifest.toml"),
            format!(
                "its weights belong to {}, the config asks for {}; train with the run's own config (--resume reads it) or another --preset",
                have.differences(want).join(", "),
                want.differences(&have).join(", ")
            ),
        ));
    }
    Ok(have)
}

/// The G that samples from checkpoint `dir` (its moving average when it has one; LAPGAN's
/// pyramid of generators for a LAPGAN run), with its manifest: what generation and
/// evaluation need (no D, no optimiser state).
pub fn load_generator(dir: &Path) -> Result<(Box<dyn Sampler>, GeneratorManifest), CheckpointError> {
    let manifest = Manifest::read(dir)?;
    let how = manifest.generator;
    let g_path = dir.join(if how.averaged { G_EMA_FILE } else { "g.safetensors" });
    if !g_path.is_file() {
        return Err(invalid(
            &g_path,
            "missing: its manifest says generation samples from it",
        ));
    }
    let dev = Cpu::default();
    let g: Box<dyn Sampler> = match how.architecture {
        GeneratorArchitecture::Article => Box::new(read_net(&Generator::<f32, Cpu>::build(&dev), &g_path)?),
        GeneratorArchitecture::Lapgan => Box::new(read_net(&PyramidG::<f32, Cpu>::build(&dev), &g_path)?),
    };
    Ok((g, how))
}
