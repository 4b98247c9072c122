//! The judge and the metrics built on it, proved on real data: real MNIST must score
//! like real MNIST, and a collapsed "generator" must raise the alarm.
//! Uses the pinned MNIST judge in judges/mnist.

mod common;

use common::root;

use cgan::data::{load_mnist, DatasetKind, Mnist, Split, PIXELS};
use cgan::judge::classifier::{Judge, JudgeInfo, FEATURES, RANGE};
use cgan::judge::metrics::{self, frechet_distance, Reference, COLLAPSE_THRESHOLD};
use dfdx::prelude::*;
use std::sync::OnceLock;

fn mnist() -> &'static Mnist {
    static M: OnceLock<Mnist> = OnceLock::new();
    M.get_or_init(|| load_mnist(&root().join("data/mnist"), RANGE).expect("run `make data`"))
}

fn judge() -> Judge {
    Judge::load(&root().join("judges/mnist")).expect("the pinned judge in judges/mnist (git checkout judges/)")
}

/// The first `n` MNIST test images, scaled.
fn first_test_images(n: usize) -> Vec<f32> {
    (0..n).flat_map(|i| mnist().test.image(i)).collect()
}

fn subset(split: &Split, n: usize) -> Split {
    Split {
        pixels: split.pixels[..n * PIXELS].to_vec(),
        labels: split.labels[..n].to_vec(),
        range: split.range,
    }
}

#[test]
fn judge_outputs_features_and_logits() {
    let j = Judge::untrained(1);
    let x = Cpu::default().tensor_from_vec(first_test_images(3), (3, Const, Const, Const));
    let (f, logits) = j.net.forward(x);
    assert_eq!(f.shape().concrete(), [3, FEATURES]);
    assert_eq!(logits.shape().concrete(), [3, 10]);
    let (feats, probs) = j.classify(&first_test_images(5));
    assert_eq!((feats.len(), probs.len()), (5 * FEATURES, 5));
    assert!(probs.iter().all(|p| (p.iter().sum::<f32>() - 1.0).abs() < 1e-4));
}

#[test]
fn a_short_training_lowers_the_loss() {
    let small = subset(&mnist().train, 640);
    let mut j = Judge::untrained(2);
    let before = j.loss(&small);
    j.fit(&small, 3, 2, &mut |_| {});
    let after = j.loss(&small);
    assert!(after < 0.7 * before, "loss {before} -> {after}");
}

#[test]
fn a_saved_judge_reloads_to_identical_predictions() {
    let mut j = Judge::untrained(3);
    j.fit(&subset(&mnist().train, 128), 1, 3, &mut |_| {});
    let dir = std::env::temp_dir().join(format!("cgan-judge-{}", std::process::id()));
    j.save(
        &dir,
        &JudgeInfo {
            dataset: DatasetKind::Mnist,
            test_accuracy: 0.5,
            epochs: 1,
            seed: 3,
        },
    )
    .unwrap();
    let back = Judge::load(&dir).unwrap();
    let imgs = &first_test_images(50);
    assert_eq!(j.classify(imgs), back.classify(imgs));
    assert_eq!(back.test_accuracy, 0.5);
    std::fs::write(dir.join("judge.safetensors"), b"not a safetensors file").unwrap();
    let err = Judge::load(&dir).err().expect("corrupt judge is an error").to_string();
    assert!(err.contains("judge.safetensors") && err.contains("cgan judge"), "{err}");
}

#[test]
fn the_trained_judge_reaches_99_percent() {
    let j = judge();
    assert!(j.test_accuracy >= 0.99, "recorded {}", j.test_accuracy);
    assert!(
        (j.accuracy(&mnist().test) - j.test_accuracy).abs() < 1e-9,
        "recorded accuracy is reproducible"
    );
}

#[test]
fn frechet_distance_of_a_set_to_itself_is_zero_and_shifts_add_their_square() {
    let j = judge();
    let (feats, _) = j.classify(&first_test_images(1000));
    assert!(frechet_distance(&feats, &feats) < 1e-6 * feats.len() as f64);
    let shifted: Vec<f32> = feats.iter().map(|v| v + 0.5).collect();
    let want = 0.25 * FEATURES as f64;
    assert!((frechet_distance(&feats, &shifted) - want).abs() < 1e-3 * want);
}

#[test]
fn real_data_scores_like_real_data() {
    // `cgan eval --real-data`: real test images standing in for G.
    let j = judge();
    let reference = Reference::new(&j, mnist(), 5000, 0);
    let (images, labels) = metrics::real(mnist(), 5000, 0);
    let m = metrics::score(&j, &reference, &images, &labels);
    assert!(m.conditional_accuracy >= 0.99, "{m:?}");
    assert!((m.conditional_accuracy - m.judge_test_accuracy).abs() <= 0.005, "{m:?}");
    assert!((0.9..=1.1).contains(&m.diversity_ratio), "{m:?}");
    let ratio = m.frechet_distance / m.frechet_distance_real_floor;
    assert!(
        (0.75..=1.25).contains(&ratio),
        "FD {} vs floor {}",
        m.frechet_distance,
        m.frechet_distance_real_floor
    );
    assert!(m.mnist_score > 9.5, "{m:?}");
    assert!(!m.collapse_alarm);
}

#[test]
fn a_collapsed_generator_raises_the_alarm_that_accuracy_hides() {
    // One real image per digit, repeated: what the article's G did after ~5000 steps.
    let j = judge();
    let reference = Reference::new(&j, mnist(), 1000, 0);
    let test = &mnist().test;
    let templates: Vec<usize> = (0..10u8)
        .map(|d| test.labels.iter().position(|l| *l == d).unwrap())
        .collect();
    let labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
    let images: Vec<f32> = labels.iter().flat_map(|l| test.image(templates[*l as usize])).collect();
    let m = metrics::score(&j, &reference, &images, &labels);
    assert!(m.conditional_accuracy >= 0.9, "accuracy looks fine: {m:?}");
    assert!(m.diversity_ratio < 0.1 * COLLAPSE_THRESHOLD, "{m:?}");
    assert!(m.collapse_alarm);
    assert!(m.frechet_distance > 5.0 * m.frechet_distance_real_floor, "{m:?}");
}

#[test]
fn a_judge_scores_only_runs_on_its_own_dataset() {
    let dir = std::env::temp_dir().join(format!("cgan-judge-dataset-{}", std::process::id()));
    let info = |dataset| JudgeInfo {
        dataset,
        test_accuracy: 0.5,
        epochs: 1,
        seed: 0,
    };
    Judge::untrained(0).save(&dir, &info(DatasetKind::Mnist)).unwrap();
    let data = root().join("data/fashion-mnist");
    let err = Judge::load_or_train(&dir, &data, DatasetKind::FashionMnist, &mut |_| {})
        .err()
        .expect("an MNIST judge cannot score Fashion-MNIST")
        .to_string();
    assert!(err.contains("trained on MNIST, not Fashion-MNIST"), "{err}");
    assert!(
        err.contains("judge_dir") && err.contains("judges/fashion-mnist"),
        "{err}"
    );
    let mnist = Judge::load_or_train(&dir, &root().join("data/mnist"), DatasetKind::Mnist, &mut |_| {}).unwrap();
    assert_eq!(mnist.dataset, DatasetKind::Mnist);
    // A judge.toml from before datasets existed was an MNIST judge.
    let text = std::fs::read_to_string(dir.join("judge.toml")).unwrap();
    let old: String = text
        .lines()
        .filter(|l| !l.starts_with("dataset"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(dir.join("judge.toml"), old).unwrap();
    assert_eq!(Judge::load(&dir).unwrap().dataset, DatasetKind::Mnist);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_pinned_judge_is_checked_against_its_recorded_sha256() {
    let pinned = judge();
    assert_eq!(pinned.sha256, DatasetKind::Mnist.pinned_judge_sha256());
    assert!(pinned.test_accuracy >= 0.99, "{}", pinned.test_accuracy);
    // A copy under another judges/mnist with one weight changed.
    let dir = common::scratch("pinned").join("judges/mnist");
    std::fs::create_dir_all(&dir).unwrap();
    for f in ["judge.toml", "judge.safetensors"] {
        std::fs::copy(root().join("judges/mnist").join(f), dir.join(f)).unwrap();
    }
    let weights = dir.join("judge.safetensors");
    let mut bytes = std::fs::read(&weights).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(&weights, bytes).unwrap();
    let err = Judge::load(&dir).err().expect("changed weights load").to_string();
    assert!(
        err.contains("judge.safetensors")
            && err.contains(DatasetKind::Mnist.pinned_judge_sha256())
            && err.contains("git checkout judges/"),
        "{err}"
    );
    // The same weights anywhere else are a judge of one's own, with its own hash.
    let own = dir.parent().unwrap().with_file_name("own");
    std::fs::create_dir_all(&own).unwrap();
    for f in ["judge.toml", "judge.safetensors"] {
        std::fs::copy(dir.join(f), own.join(f)).unwrap();
    }
    let j = Judge::load(&own).unwrap();
    assert_ne!(j.sha256, pinned.sha256);
    assert_eq!(j.sha256.len(), 64);
    let _ = std::fs::remove_dir_all(dir.parent().unwrap().parent().unwrap());
}

#[test]
fn a_pinned_judge_is_never_trained_or_written_over() {
    let dir = common::scratch("pinned-missing").join("judges/mnist");
    let err = Judge::load_or_train(&dir, &root().join("data/mnist"), DatasetKind::Mnist, &mut |_| {})
        .err()
        .expect("a missing pinned judge is trained")
        .to_string();
    assert!(
        err.contains("no pinned judge") && err.contains("git checkout judges/"),
        "{err}"
    );
    assert!(!dir.exists(), "nothing written");
    let info = JudgeInfo {
        dataset: DatasetKind::Mnist,
        test_accuracy: 0.5,
        epochs: 1,
        seed: 0,
    };
    let err = Judge::untrained(0)
        .save(&root().join("judges/mnist"), &info)
        .expect_err("the pinned judge was overwritten")
        .to_string();
    assert!(err.contains("pinned") && err.contains("runs/judge"), "{err}");
    assert_eq!(judge().sha256, DatasetKind::Mnist.pinned_judge_sha256());
}
