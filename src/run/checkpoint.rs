//! A run's checkpoints: `checkpoints/step-NNNNNNNN/` directories, each written into a
//! temporary directory, fsynced and renamed into place, so a checkpoint on disk is always
//! complete; the last `keep` are kept. What a model writes into one is its own
//! ([`Trainee::write_state`], with [`crate::models::checkpoint`]); the manifest and the
//! state are written here. The random state is the step itself (see
//! [`crate::support::rng`]). Generation and evaluation read only `manifest.toml` and G's
//! weights ([`crate::models::registry::load_generator`]).

use crate::device::ModelDevice;
use crate::models::checkpoint::{invalid, io, read_state, CheckpointError, State};
use crate::models::registry::{check_manifest, Manifest};
use crate::models::trainee::Trainee;
use std::path::{Path, PathBuf};

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

/// Loads the checkpoint directory `dir` into `model`, returning its state. On any error
/// `model` is left as it was. A checkpoint is used only if it is consistent: its manifest
/// matches the config, and the step in its state is the step its directory is named for
/// (a directory copied or renamed by hand would otherwise resume at the wrong step).
pub fn load<D: ModelDevice, M: Trainee<D>>(dir: &Path, model: &mut M) -> Result<State, CheckpointError> {
    check_manifest(dir, &Manifest::of(model.config()))?;
    let state = read_state(dir)?;
    let named = dir
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_prefix("step-"))
        .and_then(|n| n.parse::<u64>().ok());
    if let Some(named) = named.filter(|&n| n != state.step) {
        return Err(invalid(
            dir,
            format!("its directory says step {named}, its state.toml step {}", state.step),
        ));
    }
    model.read_state(dir, &state)?;
    Ok(state)
}

/// The step of checkpoint `dir` (from its `state.toml`).
pub fn step_of(dir: &Path) -> Result<u64, CheckpointError> {
    Ok(read_state(dir)?.step)
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
