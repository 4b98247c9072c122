//! The architectures cgan trains, and the one place that tells them apart by what a
//! checkpoint says: the manifest of the networks a config builds, and the generator a
//! checkpoint samples with.

use crate::config::{Config, ModelKind};
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

/// `manifest.toml` of a checkpoint: the architecture and settings its weights belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// G.
    pub generator: GeneratorManifest,
    /// D, for the GAN-CLS model (LAPGAN's discriminators have one fixed form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discriminator: Option<DiscriminatorSpec>,
}

impl Manifest {
    /// The manifest of the networks `cfg` builds.
    pub fn of(cfg: &Config) -> Self {
        let lapgan = cfg.model == ModelKind::Lapgan;
        Self {
            generator: GeneratorManifest {
                architecture: if lapgan {
                    GeneratorArchitecture::Lapgan
                } else {
                    GeneratorArchitecture::Article
                },
                output_activation: cfg.output_activation,
                noise: cfg.noise,
                averaged: cfg.g_ema > 0.0,
            },
            discriminator: (!lapgan).then(|| DiscriminatorSpec::of(cfg)),
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
        toml::from_str(&text).map_err(|e| invalid(&path, e.message().lines().next().unwrap_or("")))
    }

    /// `key = value` of every setting where `self` differs from `other`.
    pub fn differences(&self, other: &Self) -> Vec<String> {
        let (a, b) = (flat(self), flat(other));
        a.iter()
            .filter(|(k, v)| b.iter().any(|(k2, v2)| k == k2 && v != v2))
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
    if &have != want {
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
