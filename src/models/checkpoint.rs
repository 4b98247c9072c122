//! What a checkpoint is made of, for every model: named f32 tensors in safetensors files
//! (networks, Adam's moments, other vectors), `state.toml` (where training stands), the
//! generator's manifest (all that generation needs), and the errors reading them gives.
//! Each architecture writes and reads its own files with these; the run's checkpoint
//! directories (atomic writes, keeping the last few, finding one) are [`crate::run::checkpoint`].

use crate::config::{NoiseKind, OutputActivation};
use crate::device::ModelDevice;
use crate::nn::optim::Adam;
use crate::nn::params;
use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors, TensorView};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file of the moving average of G's weights (only when `g_ema` is on).
pub const G_EMA_FILE: &str = "g_ema.safetensors";

/// What G's weights are and how to sample them: all that generation needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeneratorManifest {
    /// G's architecture (an unknown name is refused on load).
    pub architecture: GeneratorArchitecture,
    /// G's last activation (and so the pixel range).
    pub output_activation: OutputActivation,
    /// The distribution of z G was trained on.
    pub noise: NoiseKind,
    /// Whether `g_ema.safetensors` holds a moving average of G's weights, the G that
    /// samples (absent in manifests from before it existed: no).
    #[serde(default)]
    pub averaged: bool,
}

/// G's architectures.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GeneratorArchitecture {
    /// The article's G (every GAN-CLS preset).
    #[default]
    Article,
    /// LAPGAN's pyramid of generators ([`crate::models::lapgan::PyramidG`]).
    Lapgan,
}

/// Why a checkpoint could not be written or read. Messages name the path and the fix.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// Disk trouble.
    #[error("checkpoint {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Unreadable, truncated or from another model.
    #[error("checkpoint {path} is unusable ({why}); resume from an earlier checkpoint or start a new run")]
    Invalid {
        /// The file or directory.
        path: PathBuf,
        /// What is wrong.
        why: String,
    },
    /// No checkpoint where one was asked for.
    #[error("no checkpoint in {0}: is this a run directory written by `cgan train`?")]
    None(PathBuf),
    /// No checkpoint at the step asked for.
    #[error("no checkpoint at step {step} in {run} (have: {have}); pass one of those to --checkpoint")]
    NoStep {
        /// The run.
        run: PathBuf,
        /// The step asked for.
        step: u64,
        /// The steps there are.
        have: String,
    },
}

pub(crate) fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

pub(crate) fn invalid(path: &Path, why: impl std::fmt::Display) -> CheckpointError {
    CheckpointError::Invalid {
        path: path.to_owned(),
        why: why.to_string(),
    }
}

/// `state.toml` of a checkpoint: where training stands.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Training steps completed.
    pub step: u64,
    /// G's Adam update count.
    pub adam_t_g: u64,
    /// D's Adam update count.
    pub adam_t_d: u64,
}

/// `state.toml` of checkpoint `dir`.
pub(crate) fn read_state(dir: &Path) -> Result<State, CheckpointError> {
    let s_path = dir.join("state.toml");
    let text = std::fs::read_to_string(&s_path).map_err(io(&s_path))?;
    toml::from_str(&text).map_err(|e| invalid(&s_path, e.message().lines().next().unwrap_or("")))
}

/// A safetensors file of named f32 vectors.
pub(crate) fn vectors_file<'a>(vectors: impl Iterator<Item = (String, &'a [f32])>) -> Result<Vec<u8>, String> {
    let bytes: Vec<(String, Vec<u8>, usize)> = vectors
        .map(|(name, vals)| (name, vals.iter().flat_map(|x| x.to_le_bytes()).collect(), vals.len()))
        .collect();
    let views: HashMap<String, TensorView> = bytes
        .iter()
        .map(|(k, b, n)| TensorView::new(SafeDtype::F32, vec![*n], b).map(|v| (k.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    ::safetensors::tensor::serialize(&views, &None).map_err(|e| format!("{e:?}"))
}

/// Reads the f32 vectors `(key, length)` from the safetensors file `path`, each checked.
pub(crate) fn read_vectors(path: &Path, keys: &[(String, usize)]) -> Result<Vec<Vec<f32>>, CheckpointError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| invalid(path, format!("{e:?}")))?;
    keys.iter()
        .map(|(key, len)| {
            let t = st
                .tensor(key)
                .map_err(|_| invalid(path, format!("missing tensor {key}")))?;
            if t.dtype() != SafeDtype::F32 || t.shape() != [*len] {
                return Err(invalid(
                    path,
                    format!("tensor {key} has shape {:?}, expected [{len}]", t.shape()),
                ));
            }
            Ok(t.data()
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect())
        })
        .collect()
}

/// Adam moments of `net` for the trainable tensors `names` (name, length).
fn load_moments(path: &Path, adam: &mut Adam, net: &str, names: &[(String, usize)]) -> Result<(), CheckpointError> {
    let keys: Vec<(String, usize)> = names
        .iter()
        .flat_map(|(name, len)| [(format!("{net}.{name}.m"), *len), (format!("{net}.{name}.v"), *len)])
        .collect();
    let mut vectors = read_vectors(path, &keys)?.into_iter();
    adam.set_moments(
        names
            .iter()
            .map(|(name, _)| {
                let m = vectors.next().unwrap_or_default();
                let v = vectors.next().unwrap_or_default();
                (name.clone(), m, v)
            })
            .collect(),
    );
    Ok(())
}

fn trainable_names(params: Vec<params::Param>) -> Vec<(String, usize)> {
    params
        .into_iter()
        .filter(|p| p.trainable)
        .map(|p| (p.name, p.values.len()))
        .collect()
}

/// `optim.safetensors` in `dir`: the moments of G's and D's optimisers.
pub(crate) fn write_moments(dir: &Path, opt_g: &Adam, opt_d: &Adam) -> Result<PathBuf, CheckpointError> {
    let o_path = dir.join("optim.safetensors");
    let [g, d] = [opt_g.moments(), opt_d.moments()];
    let moments = [("g", &g), ("d", &d)].into_iter().flat_map(|(net, moments)| {
        moments
            .iter()
            .flat_map(move |(name, m, v)| [(format!("{net}.{name}.m"), &m[..]), (format!("{net}.{name}.v"), &v[..])])
    });
    let bytes = vectors_file(moments).map_err(|e| invalid(&o_path, e))?;
    std::fs::write(&o_path, bytes).map_err(io(&o_path))?;
    Ok(o_path)
}

/// G's and D's optimisers from `optim.safetensors` in `dir` and `state`, for networks
/// with the parameters `g` and `d`.
pub(crate) fn read_moments(
    dir: &Path,
    state: &State,
    (opt_g, g): (&Adam, Vec<params::Param>),
    (opt_d, d): (&Adam, Vec<params::Param>),
) -> Result<(Adam, Adam), CheckpointError> {
    let o_path = dir.join("optim.safetensors");
    let (mut og, mut od) = (opt_g.clone(), opt_d.clone());
    load_moments(&o_path, &mut og, "g", &trainable_names(g))?;
    load_moments(&o_path, &mut od, "d", &trainable_names(d))?;
    og.t = state.adam_t_g;
    od.t = state.adam_t_d;
    Ok((og, od))
}

/// Writes a [`TensorCollection`] as safetensors at `path`.
pub(crate) fn write_net<M: TensorCollection<f32, D>, D: ModelDevice>(
    net: &M,
    path: PathBuf,
) -> Result<PathBuf, CheckpointError> {
    net.save_safetensors(&path)
        .map_err(|e| invalid(&path, format!("{e:?}")))?;
    Ok(path)
}

/// A copy of `net` with the weights of the safetensors file `path`.
pub(crate) fn read_net<M: TensorCollection<f32, D> + Clone, D: ModelDevice>(
    net: &M,
    path: &Path,
) -> Result<M, CheckpointError> {
    let mut copy = net.clone();
    copy.load_safetensors(path)
        .map_err(|e| invalid(path, format!("{e:?}")))?;
    Ok(copy)
}
