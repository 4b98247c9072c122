//! The pinned judges: `judges/<dataset>/` in the repository holds one judge per dataset
//! with fixed weights, so every machine scores a generator with the same feature
//! extractor (as FID fixes Inception's weights) and figures from two machines compare.
//! Their SHA-256 is recorded with the dataset (`DatasetKind::pinned_judge_sha256`) and
//! checked on every load.

use crate::data::datasets::DatasetKind;
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// The dataset whose pinned judge lives in `dir` (`.../judges/<name>`), if any.
pub fn pinned_dataset(dir: &Path) -> Option<DatasetKind> {
    use clap::ValueEnum;
    DatasetKind::value_variants()
        .iter()
        .copied()
        .find(|d| dir.ends_with(d.default_judge_dir()))
}

/// `dir`, or the same relative path in the source tree cgan was built from when the
/// working directory has none: the pinned judges are found when cgan runs elsewhere.
pub fn locate(dir: &Path) -> PathBuf {
    if dir.is_relative() && !dir.exists() {
        let built = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        if built.exists() {
            return built;
        }
    }
    dir.to_owned()
}

/// Hex SHA-256 of `bytes`.
pub fn hex_sha256(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}
