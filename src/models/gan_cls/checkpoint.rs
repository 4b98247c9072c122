//! The GAN-CLS model's checkpoint files: G (and its moving average), D (and its
//! spectral-norm vectors), both optimisers.

use super::Gan;
use crate::device::ModelDevice;
use crate::models::checkpoint::{
    invalid, io, read_moments, read_net, read_vectors, vectors_file, write_moments, write_net, CheckpointError, State,
    G_EMA_FILE,
};
use crate::nn::params;
use crate::ops::spectral_norm::PowerIteration;
use std::path::{Path, PathBuf};

/// The file of D's spectral-norm power-iteration vectors (only when spectral norm is on).
pub const SPECTRAL_FILE: &str = "d_spectral.safetensors";

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
