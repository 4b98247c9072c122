//! Judge metrics of generated (or real) samples: conditional accuracy, the MNIST score,
//! the Frechet distance between judge features and its real-vs-real floor, and
//! intra-class diversity relative to real data (the mode-collapse alarm).

use crate::data::{Mnist, NUM_CLASSES, PIXELS};
use crate::judge::classifier::{argmax, Judge, FEATURES};
use crate::models::checkpoint::GeneratorManifest;
use crate::models::sample::draw;
use crate::models::{one_hot_rows, sample_noise};
use crate::support::rng::{stream_rng, Stream};
use crate::tensorboard::tags;
use dfdx::prelude::*;
use nalgebra::{DMatrix, DVector, SymmetricEigen, SVD};
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

/// Below this diversity ratio (generated spread / real spread within a digit, averaged
/// over digits) samples of a digit are near copies: the collapse the article saw.
/// Real data scores ~1.0; the article's collapse (every sample of a digit the same) ~0.1.
pub const COLLAPSE_THRESHOLD: f64 = 0.5;

/// Everything `cgan eval --json` prints.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Metrics {
    /// Share of samples the judge classifies as the digit they were asked to be.
    pub conditional_accuracy: f64,
    /// The same per digit 0-9.
    pub conditional_accuracy_per_digit: Vec<f64>,
    /// The judge's own accuracy on MNIST test (the ceiling of the above).
    pub judge_test_accuracy: f64,
    /// exp(E KL(p(y|x) || p(y))) with the judge: 10 at best, 1 at worst.
    pub mnist_score: f64,
    /// Frechet distance between judge features of the samples and of real test images.
    pub frechet_distance: f64,
    /// The same between real train and real test images: what "as good as real" scores.
    pub frechet_distance_real_floor: f64,
    /// Mean pairwise feature distance within a digit, samples / real, averaged over digits.
    pub diversity_ratio: f64,
    /// The same per digit 0-9.
    pub diversity_ratio_per_digit: Vec<f64>,
    /// `diversity_ratio < COLLAPSE_THRESHOLD`.
    pub collapse_alarm: bool,
    /// Samples scored.
    pub samples: usize,
    /// SHA-256 of the judge's weights: which judge gave these figures (absent in records
    /// from before it was kept).
    #[serde(default)]
    pub judge_sha256: String,
}

impl Metrics {
    /// The scalar metrics of an evaluation with their tags (per-digit accuracies aside).
    pub fn scalars(&self) -> [(&'static str, f64); 7] {
        [
            (tags::CONDITIONAL_ACCURACY, self.conditional_accuracy),
            (tags::MNIST_SCORE, self.mnist_score),
            (tags::FRECHET_DISTANCE, self.frechet_distance),
            (tags::FRECHET_FLOOR, self.frechet_distance_real_floor),
            (tags::DIVERSITY_RATIO, self.diversity_ratio),
            (tags::COLLAPSE_ALARM, if self.collapse_alarm { 1.0 } else { 0.0 }),
            (tags::EVAL_SAMPLES, self.samples as f64),
        ]
    }
}

/// Real-data statistics every evaluation compares against.
pub struct Reference {
    feats: Vec<f32>,
    floor: f64,
    diversity: Vec<f64>,
    /// The judge's test accuracy.
    pub judge_test_accuracy: f64,
}

/// Reference images: MNIST test images at even indices; the odd ones stand in for G in
/// `--real-data` mode, so neither side scores itself. (Interleaved, not first and second
/// half: MNIST's test halves come from different writer populations.)
fn half(mnist: &Mnist, parity: usize) -> (Vec<f32>, Vec<u8>) {
    let idx = (parity..mnist.test.len()).step_by(2);
    let images = idx.clone().flat_map(|i| mnist.test.image(i)).collect();
    (images, idx.map(|i| mnist.test.labels[i]).collect())
}

fn mean_cov(feats: &[f32]) -> (DVector<f64>, DMatrix<f64>) {
    let n = feats.len() / FEATURES;
    let x = DMatrix::from_row_iterator(n, FEATURES, feats.iter().map(|v| *v as f64));
    let mean = x.row_mean().transpose();
    let centered = DMatrix::from_fn(n, FEATURES, |i, j| x[(i, j)] - mean[j]);
    let cov = centered.transpose() * &centered / (n.max(2) - 1) as f64;
    (mean, cov)
}

fn psd_sqrt(m: &DMatrix<f64>) -> DMatrix<f64> {
    let e = SymmetricEigen::new(m.clone());
    let d = DMatrix::from_diagonal(&e.eigenvalues.map(|l| l.max(0.0).sqrt()));
    &e.eigenvectors * d * e.eigenvectors.transpose()
}

/// Frechet distance between Gaussians fitted to two feature sets:
/// |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2).
pub fn frechet_distance(a: &[f32], b: &[f32]) -> f64 {
    let (m1, s1) = mean_cov(a);
    let (m2, s2) = mean_cov(b);
    // tr (S1^1/2 S2 S1^1/2)^1/2 is the sum of the singular values of S1^1/2 S2^1/2. The
    // eigenvalues of that inner product came out NaN for collapsed samples (S1 ~1e-6),
    // and the distance read 0; the SVD stays accurate.
    let cross: f64 = SVD::new(psd_sqrt(&s1) * psd_sqrt(&s2), false, false)
        .singular_values
        .iter()
        .sum();
    let d = (m1 - m2).norm_squared() + s1.trace() + s2.trace() - 2.0 * cross;
    // Rounding can take a distance of ~0 below 0; NaN must stay visible (f64::max drops it).
    if d.is_nan() {
        d
    } else {
        d.max(0.0)
    }
}

/// Mean pairwise Euclidean distance of feature rows `idx` (at most 200, for speed).
fn spread(feats: &[f32], idx: &[usize]) -> f64 {
    let idx = &idx[..idx.len().min(200)];
    let (mut sum, mut pairs) = (0.0, 0usize);
    for (a, &i) in idx.iter().enumerate() {
        for &j in &idx[a + 1..] {
            let (x, y) = (&feats[i * FEATURES..][..FEATURES], &feats[j * FEATURES..][..FEATURES]);
            sum += x
                .iter()
                .zip(y)
                .map(|(p, q)| ((p - q) as f64).powi(2))
                .sum::<f64>()
                .sqrt();
            pairs += 1;
        }
    }
    sum / pairs.max(1) as f64
}

fn per_digit_spread(feats: &[f32], labels: &[u8]) -> Vec<f64> {
    (0..NUM_CLASSES as u8)
        .map(|d| {
            spread(
                feats,
                &labels
                    .iter()
                    .enumerate()
                    .filter(|(_, l)| **l == d)
                    .map(|(i, _)| i)
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

impl Reference {
    /// Judge features of the reference images, the real-vs-real floor (`n` train images
    /// vs the reference: use the number of samples you will score, the distance shrinks
    /// as samples grow) and the real within-digit spread.
    pub fn new(judge: &Judge, mnist: &Mnist, n: usize, seed: u64) -> Self {
        let (ref_images, ref_labels) = half(mnist, 0);
        let (feats, _) = judge.classify(&ref_images);
        let mut idx: Vec<usize> = (0..mnist.train.len()).collect();
        idx.shuffle(&mut stream_rng(seed, Stream::Tool, 1));
        let train: Vec<f32> = idx[..n.min(idx.len())]
            .iter()
            .flat_map(|&i| mnist.train.image(i))
            .collect();
        let (train_feats, _) = judge.classify(&train);
        let floor = frechet_distance(&train_feats, &feats);
        let diversity = per_digit_spread(&feats, &ref_labels);
        Self {
            feats,
            floor,
            diversity,
            judge_test_accuracy: judge.test_accuracy,
        }
    }
}

/// Scores `images` (in the judge's range) that were asked to be `labels`.
pub fn score(judge: &Judge, reference: &Reference, images: &[f32], labels: &[u8]) -> Metrics {
    let (feats, probs) = judge.classify(images);
    let mut right = [0usize; NUM_CLASSES];
    let mut total = [0usize; NUM_CLASSES];
    for (p, l) in probs.iter().zip(labels) {
        total[*l as usize] += 1;
        if argmax(p) == *l as usize {
            right[*l as usize] += 1;
        }
    }
    let n = labels.len().max(1);
    let marginal: Vec<f64> = (0..NUM_CLASSES)
        .map(|c| probs.iter().map(|p| p[c] as f64).sum::<f64>() / n as f64)
        .collect();
    let kl: f64 = probs
        .iter()
        .map(|p| {
            p.iter()
                .zip(&marginal)
                .map(|(q, m)| {
                    if *q > 0.0 {
                        *q as f64 * ((*q as f64).ln() - m.max(1e-12).ln())
                    } else {
                        0.0
                    }
                })
                .sum::<f64>()
        })
        .sum::<f64>()
        / n as f64;
    let spread = per_digit_spread(&feats, labels);
    let ratios: Vec<f64> = spread
        .iter()
        .zip(&reference.diversity)
        .map(|(g, r)| g / r.max(1e-12))
        .collect();
    let diversity_ratio = ratios.iter().sum::<f64>() / NUM_CLASSES as f64;
    Metrics {
        conditional_accuracy: right.iter().sum::<usize>() as f64 / n as f64,
        conditional_accuracy_per_digit: (0..NUM_CLASSES)
            .map(|c| right[c] as f64 / total[c].max(1) as f64)
            .collect(),
        judge_test_accuracy: reference.judge_test_accuracy,
        mnist_score: kl.exp(),
        frechet_distance: frechet_distance(&feats, &reference.feats),
        frechet_distance_real_floor: reference.floor,
        diversity_ratio,
        diversity_ratio_per_digit: ratios,
        collapse_alarm: diversity_ratio < COLLAPSE_THRESHOLD,
        samples: labels.len(),
        judge_sha256: judge.sha256.clone(),
    }
}

/// `n` generated samples, digits in turn (0, 1, ..., 9, 0, ...), rescaled to the judge's
/// range. Seeded by `seed` (the noise is drawn on the host: the same on every device).
pub fn generated(
    g: &mut dyn crate::models::sample::Sampler,
    how: &GeneratorManifest,
    n: usize,
    seed: u64,
) -> (Vec<f32>, Vec<u8>) {
    let labels: Vec<u8> = (0..n).map(|i| (i % NUM_CLASSES) as u8).collect();
    let mut rng = stream_rng(seed, Stream::Tool, 2);
    let z = sample_noise(&Cpu::default(), n, how.noise, &mut rng).as_vec();
    let mut images = draw(g, how, &z, &one_hot_rows(&labels));
    crate::judge::classifier::to_judge_range(&mut images, how.output_activation.range());
    (images, labels)
}

/// `n` real test images drawn (seeded) from the half not used as reference, with their
/// labels (`mnist` loaded in the judge's range).
pub fn real(mnist: &Mnist, n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let (images, labels) = half(mnist, 1);
    let mut idx: Vec<usize> = (0..labels.len()).collect();
    idx.shuffle(&mut stream_rng(seed, Stream::Tool, 4));
    idx.truncate(n);
    (
        idx.iter()
            .flat_map(|&i| images[i * PIXELS..][..PIXELS].to_vec())
            .collect(),
        idx.iter().map(|&i| labels[i]).collect(),
    )
}
