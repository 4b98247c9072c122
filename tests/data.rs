//! MNIST loading on the real files (`make data` fetches them) and on broken copies, and
//! the GAN-CLS batches the training loop uses.

use cgan::data::{load, load_mnist, DataError, Dataset, DatasetKind, PIXELS};
use std::path::{Path, PathBuf};

const NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

fn mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

/// A scratch copy of MNIST to break: the tests never touch the originals.
fn scratch_copy(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cgan-data-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in NAMES {
        std::fs::copy(mnist_dir().join(name), dir.join(name)).expect("run `make data` before the tests");
    }
    dir
}

#[test]
fn loads_real_mnist_in_the_model_range() {
    let m = load_mnist(&mnist_dir(), (-1.0, 1.0)).expect("run `make data` before the tests");
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    assert_eq!(m.train.pixels.len(), 60_000 * PIXELS);
    let (lo, hi) = m
        .train
        .images()
        .iter()
        .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(*v), b.max(*v)));
    assert_eq!((lo, hi), (-1.0, 1.0));
    // MNIST's well-known first labels.
    assert_eq!(&m.train.labels[..5], &[5, 0, 4, 1, 9]);
    assert_eq!(&m.test.labels[..3], &[7, 2, 1]);
    let mut counts = [0usize; 10];
    m.train.labels.iter().for_each(|l| counts[*l as usize] += 1);
    assert_eq!(counts.iter().sum::<usize>(), 60_000);
    assert!(counts.iter().all(|c| (5_000..7_000).contains(c)), "{counts:?}");
    let m01 = load_mnist(&mnist_dir(), (0.0, 1.0)).unwrap();
    assert!((m01.train.image(0).sum::<f32>() * 2.0 - PIXELS as f32 - m.train.image(0).sum::<f32>()).abs() < 1e-2);
}

fn expect_error(dir: &Path, file: &str, needle: &str) {
    let err = load_mnist(dir, (-1.0, 1.0)).expect_err("a broken file must be an error");
    let msg = err.to_string();
    assert!(msg.contains(file), "error names the file: {msg}");
    assert!(msg.contains("make data"), "error says how to fix it: {msg}");
    assert!(msg.contains(needle), "error says what is wrong ({needle}): {msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
}

#[test]
fn missing_file_names_it_and_the_fix() {
    let dir = scratch_copy("missing");
    std::fs::remove_file(dir.join(NAMES[2])).unwrap();
    expect_error(&dir, NAMES[2], "missing");
    assert!(matches!(load_mnist(&dir, (0.0, 1.0)), Err(DataError::Missing { .. })));
}

#[test]
fn truncated_file_is_reported_not_a_panic() {
    let dir = scratch_copy("truncated");
    let path = dir.join(NAMES[0]);
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 1000)
        .unwrap();
    expect_error(&dir, NAMES[0], "truncated");
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10)
        .unwrap();
    expect_error(&dir, NAMES[0], "header");
}

#[test]
fn wrong_magic_or_count_is_reported() {
    let dir = scratch_copy("magic");
    // Labels where images belong.
    std::fs::copy(dir.join(NAMES[3]), dir.join(NAMES[2])).unwrap();
    expect_error(&dir, NAMES[2], "magic number");
    let dir = scratch_copy("count");
    // Test labels where training labels belong: right magic, wrong count.
    std::fs::copy(dir.join(NAMES[3]), dir.join(NAMES[1])).unwrap();
    expect_error(&dir, NAMES[1], "10000 items, expected 60000");
}

#[test]
fn label_outside_0_to_9_is_reported() {
    let dir = scratch_copy("label");
    let path = dir.join(NAMES[3]);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[8 + 17] = 42;
    std::fs::write(&path, bytes).unwrap();
    expect_error(&dir, NAMES[3], "label 42");
}

#[test]
fn batches_are_shuffled_seeded_and_wrong_labels_never_right() {
    let m = load_mnist(&mnist_dir(), (-1.0, 1.0)).unwrap();
    let mut data = Dataset::new(m.train.clone(), 32, 7).unwrap();
    let mut again = Dataset::new(m.train.clone(), 32, 7).unwrap();
    let mut other_seed = Dataset::new(m.train, 32, 8).unwrap();
    assert_eq!(data.batches_per_epoch(), 1875);
    let mut wrong_counts = [[0usize; 10]; 10];
    for step in 0..400 {
        let b = data.batch(step);
        assert_eq!(b.images.len(), 32 * PIXELS);
        assert_eq!(b, again.batch(step), "same seed, same batch");
        for (r, w) in b.labels.iter().zip(&b.wrong_labels) {
            assert_ne!(r, w, "wrong label equal to the right one");
            wrong_counts[*r as usize][*w as usize] += 1;
        }
    }
    assert_ne!(data.batch(0), other_seed.batch(0), "the seed changes the order");
    // Uniform over the nine others: each of the 90 (right, wrong) pairs appears about
    // 12,800 / 90 = 142 times.
    for (r, row) in wrong_counts.iter().enumerate() {
        for (w, c) in row.iter().enumerate() {
            if r != w {
                assert!((60..260).contains(c), "pair ({r}, {w}) seen {c} times");
            }
        }
    }
    // A new epoch is a different order of the same images.
    let e0 = data.batch(0);
    let e1 = data.batch(1875);
    assert_ne!(e0.labels, e1.labels);
}

#[test]
fn batch_size_outside_the_split_is_rejected() {
    let m = load_mnist(&mnist_dir(), (-1.0, 1.0)).unwrap();
    assert!(Dataset::new(m.test.clone(), 0, 1).is_err());
    assert!(Dataset::new(m.test, 10_001, 1).is_err());
}

fn fashion_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/fashion-mnist")
}

#[test]
fn loads_real_fashion_mnist_ten_balanced_classes() {
    let m = load(&fashion_dir(), DatasetKind::FashionMnist, (-1.0, 1.0))
        .expect("run `make data DATASET=fashion-mnist` before the tests");
    assert_eq!((m.train.len(), m.test.len()), (60_000, 10_000));
    for c in 0..10u8 {
        assert_eq!(m.test.labels.iter().filter(|l| **l == c).count(), 1000, "class {c}");
    }
    // Not MNIST under another name: the first training images differ.
    let digits = load_mnist(&mnist_dir(), (-1.0, 1.0)).unwrap();
    assert_ne!(
        m.train.image(0).collect::<Vec<f32>>(),
        digits.train.image(0).collect::<Vec<f32>>()
    );
}

#[test]
fn a_missing_fashion_file_names_the_dataset_and_its_own_fix() {
    let dir = std::env::temp_dir().join(format!("cgan-fashion-missing-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for name in &NAMES[1..] {
        std::fs::copy(fashion_dir().join(name), dir.join(name)).unwrap();
    }
    let msg = load(&dir, DatasetKind::FashionMnist, (0.0, 1.0))
        .unwrap_err()
        .to_string();
    assert!(msg.contains("Fashion-MNIST file") && msg.contains(NAMES[0]), "{msg}");
    assert!(msg.contains("make data DATASET=fashion-mnist"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    let _ = std::fs::remove_dir_all(&dir);
}
