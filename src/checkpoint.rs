//! Checkpoints: G, D (safetensors), both optimisers' moments, the step. Each is written
//! into a temporary directory and renamed into place, so a checkpoint on disk is always
//! complete; the last `keep` are kept. The random state is the step itself (see `rng`).

use crate::gan::Gan;
use crate::model::{Discriminator, Generator};
use crate::optim::Adam;
use crate::params;
use ::safetensors::tensor::{Dtype as SafeDtype, SafeTensors, TensorView};
use dfdx::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Names the architecture in every checkpoint; loading another is refused.
pub const ARCHITECTURE: &str = "article-cgan-v1";

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

/// `state.toml` of a checkpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct State {
    /// Architecture name ([`ARCHITECTURE`]).
    pub architecture: String,
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

fn moments_file(opts: [(&str, &Adam); 2]) -> Result<Vec<u8>, String> {
    let mut bytes: Vec<(String, Vec<u8>, usize)> = Vec::new();
    for (net, adam) in opts {
        for (name, m, v) in &adam.moments {
            for (kind, vals) in [("m", m), ("v", v)] {
                bytes.push((
                    format!("{net}.{name}.{kind}"),
                    vals.iter().flat_map(|x| x.to_le_bytes()).collect(),
                    vals.len(),
                ));
            }
        }
    }
    let views: HashMap<String, TensorView> = bytes
        .iter()
        .map(|(k, b, n)| TensorView::new(SafeDtype::F32, vec![*n], b).map(|v| (k.clone(), v)))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("{e:?}"))?;
    ::safetensors::tensor::serialize(&views, &None).map_err(|e| format!("{e:?}"))
}

/// Writes a checkpoint of `gan` after `step` steps into `run/checkpoints/`, then
/// deletes all but the newest `keep`.
pub fn save(run: &Path, gan: &Gan, step: u64, keep: usize) -> Result<PathBuf, CheckpointError> {
    let root = run.join("checkpoints");
    // Half-written checkpoints of a killed process: never listed, removed here.
    for e in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        if e.file_name().to_string_lossy().starts_with(".tmp-") {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
    let fin = root.join(dir_name(step));
    save_dir(&fin, gan, step)?;
    let all = list(run);
    for (_, old) in all.iter().take(all.len().saturating_sub(keep)) {
        discard(old);
    }
    Ok(fin)
}

/// Writes a checkpoint of `gan` after `step` steps as the directory `fin`: files go into
/// a temporary sibling, are fsynced, and the directory is renamed into place.
pub fn save_dir(fin: &Path, gan: &Gan, step: u64) -> Result<(), CheckpointError> {
    let name = fin.file_name().and_then(|n| n.to_str()).unwrap_or("checkpoint");
    let tmp = fin.with_file_name(format!(".tmp-{name}"));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(io(&tmp))?;
    let g_path = tmp.join("g.safetensors");
    gan.g
        .save_safetensors(&g_path)
        .map_err(|e| invalid(&g_path, format!("{e:?}")))?;
    let d_path = tmp.join("d.safetensors");
    gan.d
        .save_safetensors(&d_path)
        .map_err(|e| invalid(&d_path, format!("{e:?}")))?;
    let o_path = tmp.join("optim.safetensors");
    let bytes = moments_file([("g", &gan.opt_g), ("d", &gan.opt_d)]).map_err(|e| invalid(&o_path, e))?;
    std::fs::write(&o_path, bytes).map_err(io(&o_path))?;
    let state = State {
        architecture: ARCHITECTURE.into(),
        step,
        adam_t_g: gan.opt_g.t,
        adam_t_d: gan.opt_d.t,
    };
    let s_path = tmp.join("state.toml");
    std::fs::write(&s_path, toml::to_string(&state).unwrap_or_default()).map_err(io(&s_path))?;
    for p in [&g_path, &d_path, &o_path, &s_path] {
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

fn load_moments(path: &Path, adam: &mut Adam, net: &str, names: &[(String, usize)]) -> Result<(), CheckpointError> {
    let bytes = std::fs::read(path).map_err(io(path))?;
    let st = SafeTensors::deserialize(&bytes).map_err(|e| invalid(path, format!("{e:?}")))?;
    adam.moments.clear();
    for (name, len) in names {
        let mut pair = Vec::with_capacity(2);
        for kind in ["m", "v"] {
            let key = format!("{net}.{name}.{kind}");
            let t = st
                .tensor(&key)
                .map_err(|_| invalid(path, format!("missing tensor {key}")))?;
            if t.dtype() != SafeDtype::F32 || t.shape() != [*len] {
                return Err(invalid(
                    path,
                    format!("tensor {key} has shape {:?}, expected [{len}]", t.shape()),
                ));
            }
            pair.push(
                t.data()
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect::<Vec<f32>>(),
            );
        }
        let v = pair.pop().unwrap_or_default();
        let m = pair.pop().unwrap_or_default();
        adam.moments.push((name.clone(), m, v));
    }
    Ok(())
}

fn trainable_names<M: dfdx::nn::tensor_collection::TensorCollection<f32, Cpu>>(m: &M) -> Vec<(String, usize)> {
    params::params(m)
        .into_iter()
        .filter(|p| p.trainable)
        .map(|p| (p.name, p.values.len()))
        .collect()
}

/// Loads the checkpoint directory `dir` into `gan`, returning its state. On any error
/// `gan` is left as it was.
pub fn load(dir: &Path, gan: &mut Gan) -> Result<State, CheckpointError> {
    let s_path = dir.join("state.toml");
    let text = std::fs::read_to_string(&s_path).map_err(io(&s_path))?;
    let state: State = toml::from_str(&text).map_err(|e| invalid(&s_path, e.message().lines().next().unwrap_or("")))?;
    if state.architecture != ARCHITECTURE {
        return Err(invalid(
            &s_path,
            format!(
                "architecture {:?}, this build trains {ARCHITECTURE:?}",
                state.architecture
            ),
        ));
    }
    let mut g: Generator<f32, Cpu> = gan.g.clone();
    let g_path = dir.join("g.safetensors");
    g.load_safetensors(&g_path)
        .map_err(|e| invalid(&g_path, format!("{e:?}")))?;
    let mut d: Discriminator<f32, Cpu> = gan.d.clone();
    let d_path = dir.join("d.safetensors");
    d.load_safetensors(&d_path)
        .map_err(|e| invalid(&d_path, format!("{e:?}")))?;
    let o_path = dir.join("optim.safetensors");
    let (mut og, mut od) = (gan.opt_g.clone(), gan.opt_d.clone());
    load_moments(&o_path, &mut og, "g", &trainable_names(&g))?;
    load_moments(&o_path, &mut od, "d", &trainable_names(&d))?;
    og.t = state.adam_t_g;
    od.t = state.adam_t_d;
    (gan.g, gan.d, gan.opt_g, gan.opt_d) = (g, d, og, od);
    Ok(state)
}

/// Loads the newest checkpoint of `run` that loads cleanly; reports the ones skipped.
pub fn load_latest(run: &Path, gan: &mut Gan) -> Result<State, CheckpointError> {
    let all = list(run);
    let mut last_err = None;
    for (_, dir) in all.iter().rev() {
        match load(dir, gan) {
            Ok(s) => return Ok(s),
            Err(e) => {
                eprintln!("cgan: skipping {e}");
                last_err = Some(e);
            }
        }
    }
    Err(last_err.unwrap_or_else(|| CheckpointError::None(run.to_owned())))
}
