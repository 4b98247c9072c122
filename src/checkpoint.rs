//! Checkpoints: G, D (safetensors; LAPGAN's hold every level), D's spectral-norm vectors,
//! both optimisers' moments, the step, and a manifest of the architecture and settings the
//! weights belong to. What a model writes is its own ([`Trainee::write_state`]); the
//! directory, manifest, state and atomic rename are shared. Each
//! is written into a temporary directory and renamed into place, so a checkpoint on disk
//! is always complete; the last `keep` are kept. The random state is the step itself (see
//! `rng`). Generation and evaluation read only `manifest.toml` and `g.safetensors`.

use crate::config::{Config, ModelKind};
use crate::device::ModelDevice;
use crate::gan::Gan;
use crate::models::lapgan::PyramidG;
use crate::models::{DiscriminatorSpec, Generator, NoiseKind, OutputActivation};
use crate::ops::spectral_norm::PowerIteration;
use crate::optim::Adam;
use crate::params;
use crate::sample::Sampler;
use crate::trainee::Trainee;
use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors, TensorView};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The file of the moving average of G's weights (only when `g_ema` is on).
pub const G_EMA_FILE: &str = "g_ema.safetensors";

/// The file of D's spectral-norm power-iteration vectors (only when spectral norm is on).
pub const SPECTRAL_FILE: &str = "d_spectral.safetensors";

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
    /// LAPGAN's pyramid of generators ([`PyramidG`]).
    Lapgan,
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
            discriminator: (!lapgan).then(|| cfg.discriminator()),
        }
    }

    fn read(dir: &Path) -> Result<Self, CheckpointError> {
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
    fn differences(&self, other: &Self) -> Vec<String> {
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

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> CheckpointError + '_ {
    move |source| CheckpointError::Io {
        path: path.to_owned(),
        source,
    }
}

fn invalid(path: &Path, why: impl std::fmt::Display) -> CheckpointError {
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

/// Directory name of the checkpoint at `step`.
pub fn dir_name(step: u64) -> String {
    format!("step-{step:08}")
}

/// Complete checkpoints in `run/checkpoints`, oldest first, as (step, path).
pub fn list(run: &Path) -> Vec<(u64, PathBuf)> {
    let mut out: Vec<(u64, PathBuf)> = std::fs::read_dir(run.join("checkpoints"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let step = name.strip_prefix("step-")?.parse().ok()?;
            Some((step, e.path()))
        })
        .collect();
    out.sort();
    out
}

/// A safetensors file of named f32 vectors.
fn vectors_file<'a>(vectors: impl Iterator<Item = (String, &'a [f32])>) -> Result<Vec<u8>, String> {
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

/// Writes a checkpoint of `model` after `step` steps into `run/checkpoints/`, then
/// deletes all but the newest `keep`.
pub fn save<D: ModelDevice, M: Trainee<D>>(
    run: &Path,
    model: &M,
    step: u64,
    keep: usize,
) -> Result<PathBuf, CheckpointError> {
    let root = run.join("checkpoints");
    // Half-written checkpoints of a killed process: never listed, removed here.
    for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let fin = root.join(dir_name(step));
    save_dir(&fin, model, step)?;
    let all = list(run);
    for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
        discard(old);
    }
    Ok(fin)
}

/// Writes a checkpoint of `model` after `step` steps as the directory `fin`: files go
/// into a temporary sibling, are fsynced, and the directory is renamed into place.
pub fn save_dir<D: ModelDevice, M: Trainee<D>>(fin: &Path, model: &M, step: u64) -> Result<(), CheckpointError> {
    let name = fin.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    let tmp = fin.with_file_name(format!(".tmp-{name}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let mut files = model.write_state(&tmp)?;
    let m_path = tmp.join("manifest.toml");
    let manifest = toml::to_string(&Manifest::of(model.config())).unwrap_or_default();
    std::fs::write(&m_path, manifest).map_err(io(&m_path))?;
    files.push(m_path);
    let (adam_t_g, adam_t_d) = model.adam_steps();
    let state = State {
        step,
        adam_t_g,
        adam_t_d,
    };
    let s_path = tmp.join("state.toml");
    std::fs::write(&s_path, toml::to_string(&state).unwrap_or_default()).map_err(io(&s_path))?;
    files.push(s_path);
    for p in &files {
        std::fs::File::open(p).and_then(|f| f.sync_all()).map_err(io(p))?;
    }
    // An older checkpoint of the same step is first renamed out of sight: a crash at any
    // point leaves either the old or the new directory complete under the final name.
    if fin.exists() {
        discard(fin);
    }
    std::fs::rename(&tmp, fin).map_err(io(fin))
}

/// Removes a checkpoint directory without ever exposing it half-deleted: it is renamed
/// to a hidden `.tmp-` name first (atomic), which `list` ignores and `save` cleans up.
fn discard(dir: &Path) {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    let hidden = dir.with_file_name(format!(".tmp-discard-{name}"));
    let _ = std::fs::remove_dir_all(&hidden);
    if std::fs::rename(dir, &hidden).is_ok() {
        let _ = std::fs::remove_dir_all(&hidden);
    }
}

/// The checkpoint directory of `run` at `step`, or the newest one.
pub fn find(run: &Path, step: Option<u64>) -> Result<PathBuf, CheckpointError> {
    let all = list(run);
    match step {
        None => all
            .last()
            .map(|(_, p)| p.clone())
            .ok_or_else(|| CheckpointError::None(run.to_owned())),
        Some(s) => all
            .into_iter()
            .find(|(t, _)| *t == s)
            .map(|(_, p)| p)
            .ok_or_else(|| CheckpointError::NoStep {
                run: run.to_owned(),
                step: s,
                have: list_steps(run),
            }),
    }
}

fn list_steps(run: &Path) -> String {
    let steps: Vec<String> = list(run).iter().map(|(s, _)| s.to_string()).collect();
    if steps.is_empty() {
        "none".into()
    } else {
        steps.join(", ")
    }
}

/// Reads the f32 vectors `(key, length)` from the safetensors file `path`, each checked.
fn read_vectors(path: &Path, keys: &[(String, usize)]) -> Result<Vec<Vec<f32>>, CheckpointError> {
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

/// The manifest of checkpoint `dir`, refused (naming each difference) unless it is `want`.
fn check_manifest(dir: &Path, want: &Manifest) -> Result<Manifest, CheckpointError> {
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

/// Loads the checkpoint directory `dir` into `model`, returning its state. On any error
/// `model` is left as it was.
pub fn load<D: ModelDevice, M: Trainee<D>>(dir: &Path, model: &mut M) -> Result<State, CheckpointError> {
    check_manifest(dir, &Manifest::of(model.config()))?;
    let s_path = dir.join("state.toml");
    let text = std::fs::read_to_string(&s_path).map_err(io(&s_path))?;
    let state: State = toml::from_str(&text).map_err(|e| invalid(&s_path, e.message().lines().next().unwrap_or("")))?;
    model.read_state(dir, &state)?;
    Ok(state)
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

/// The GAN-CLS model's files: G (and its moving average), D (and its spectral-norm
/// vectors), both optimisers.
pub(crate) fn write_gan<D: ModelDevice>(tmp: &Path, gan: &Gan<D>) -> Result<Vec<PathBuf>, CheckpointError> {
    let mut files = vec![write_net(&gan.g, tmp.join("g.safetensors"))?];
    let d_path = tmp.join("d.safetensors");
    gan.d.save_safetensors(&d_path).map_err(|e| invalid(&d_path, e))?;
    files.push(d_path);
    if let Some(ema) = &gan.g_ema {
        files.push(write_net(ema, tmp.join(G_EMA_FILE))?);
    }
    files.push(write_moments(tmp, &gan.opt_g, &gan.opt_d)?);
    if !gan.d.spectral.0.is_empty() {
        let path = tmp.join(SPECTRAL_FILE);
        let vectors = gan
            .d
            .spectral
            .0
            .iter()
            .flat_map(|(name, it)| [(format!("{name}.u"), &it.u[..]), (format!("{name}.v"), &it.v[..])]);
        let bytes = vectors_file(vectors).map_err(|e| invalid(&path, e))?;
        std::fs::write(&path, bytes).map_err(io(&path))?;
        files.push(path);
    }
    Ok(files)
}

/// Reads what [`write_gan`] wrote into `gan`; on any error `gan` is left as it was.
pub(crate) fn read_gan<D: ModelDevice>(dir: &Path, gan: &mut Gan<D>, state: &State) -> Result<(), CheckpointError> {
    let g = read_net(&gan.g, &dir.join("g.safetensors"))?;
    let g_ema = match &gan.g_ema {
        Some(ema) => Some(read_net(ema, &dir.join(G_EMA_FILE))?),
        None => None,
    };
    let mut d = gan.d.clone();
    let d_path = dir.join("d.safetensors");
    d.load_safetensors(&d_path).map_err(|e| invalid(&d_path, e))?;
    if !d.spectral.0.is_empty() {
        let path = dir.join(SPECTRAL_FILE);
        let keys: Vec<(String, usize)> = d
            .spectral
            .0
            .iter()
            .flat_map(|(name, it)| [(format!("{name}.u"), it.u.len()), (format!("{name}.v"), it.v.len())])
            .collect();
        let mut vectors = read_vectors(&path, &keys)?.into_iter();
        for (_, it) in d.spectral.0.iter_mut() {
            *it = PowerIteration {
                u: vectors.next().unwrap_or_default(),
                v: vectors.next().unwrap_or_default(),
            };
        }
    }
    let (og, od) = read_moments(dir, state, (&gan.opt_g, params::params(&g)), (&gan.opt_d, d.params()))?;
    (gan.g, gan.g_ema, gan.d, gan.opt_g, gan.opt_d) = (g, g_ema, d, og, od);
    Ok(())
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

/// The step of checkpoint `dir` (from its `state.toml`).
pub fn step_of(dir: &Path) -> Result<u64, CheckpointError> {
    let s_path = dir.join("state.toml");
    let text = std::fs::read_to_string(&s_path).map_err(io(&s_path))?;
    let state: State = toml::from_str(&text).map_err(|e| invalid(&s_path, e.message().lines().next().unwrap_or("")))?;
    Ok(state.step)
}

/// Loads the newest checkpoint of `run` that loads cleanly; reports the ones skipped.
pub fn load_latest<D: ModelDevice, M: Trainee<D>>(run: &Path, model: &mut M) -> Result<State, CheckpointError> {
    let all = list(run);
    let mut last_err = None;
    for (_, dir) in all.iter().rev() {
        match load(dir, model) {
            Ok(s) => return Ok(s),
            Err(e) => {
                eprintln!("cgan: skipping {e}");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| CheckpointError::None(run.to_owned())))
}
