//! `cgan eval --from DIR`: samples something else generated (a `.npy` pair) scored with
//! the same judge and metrics as a run's, and one-line errors for every wrong input.

mod common;

use common::{f32_bytes, root, scratch, write_npy};

use cgan::data::{load_mnist, PIXELS};
use cgan::judge::classifier::RANGE;
use cgan::judge::metrics;
use cgan::tools::eval::{self, Request};
use std::path::{Path, PathBuf};

/// The real test images `cgan eval --real-data` scores with `seed`, in the judge's range.
fn real(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mnist = load_mnist(&root().join("data/mnist"), RANGE).expect("run `make data`");
    metrics::real(&mnist, n, seed)
}

fn labels_i64(labels: &[u8]) -> Vec<u8> {
    labels.iter().flat_map(|&y| (y as i64).to_le_bytes()).collect()
}

/// A samples directory holding `images` (float32, (n, 28, 28)) and `labels` (int64).
fn samples_dir(tag: &str, images: &[f32], labels: &[u8]) -> PathBuf {
    let dir = scratch(tag);
    std::fs::create_dir_all(&dir).unwrap();
    let n = labels.len();
    write_npy(&dir.join("images.npy"), "<f4", &[n, 28, 28], &f32_bytes(images));
    write_npy(&dir.join("labels.npy"), "<i8", &[n], &labels_i64(labels));
    dir
}

fn request(from: Option<&Path>, seed: u64) -> Request {
    Request {
        from: from.map(Path::to_owned),
        seed: Some(seed),
        samples: from.is_none().then_some(500),
        judge_dir: Some(root().join("judges/mnist")),
        data_dir: Some(root().join("data/mnist")),
        ..Request::default()
    }
}

#[test]
fn samples_from_files_score_exactly_like_the_same_images_scored_in_process() {
    let (images, labels) = real(500, 3);
    let dir = samples_dir("same", &images, &labels);
    let from = eval::evaluate(&request(Some(&dir), 3)).unwrap();
    let in_process = eval::evaluate(&request(None, 3)).unwrap();
    assert_eq!(from.metrics, in_process.metrics, "the file path changes nothing");
    assert_eq!(from.metrics.samples, 500);
    assert!(from.metrics.conditional_accuracy > 0.98, "{:?}", from.metrics);
    assert!(from.what.contains("samples in"), "{}", from.what);
    assert_eq!(
        from.metrics.judge_sha256,
        cgan::data::DatasetKind::Mnist.pinned_judge_sha256(),
        "the figures name the judge that gave them"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn uint8_images_and_other_layouts_are_read_as_the_same_pictures() {
    let (images, labels) = real(300, 4);
    let dir = samples_dir("uint8", &images, &labels);
    let float = eval::evaluate(&request(Some(&dir), 4)).unwrap().metrics;
    // The same pictures as uint8 0-255, (n, 1, 28, 28), labels as uint8.
    let bytes: Vec<u8> = images.iter().map(|v| ((v + 1.0) / 2.0 * 255.0).round() as u8).collect();
    write_npy(&dir.join("images.npy"), "|u1", &[300, 1, 28, 28], &bytes);
    write_npy(&dir.join("labels.npy"), "|u1", &[300], &labels);
    let byte = eval::evaluate(&request(Some(&dir), 4)).unwrap().metrics;
    assert_eq!(byte.conditional_accuracy, float.conditional_accuracy);
    assert!(
        (byte.frechet_distance - float.frechet_distance).abs() < 0.05 * float.frechet_distance.max(1.0),
        "{} vs {}",
        byte.frechet_distance,
        float.frechet_distance
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn wrong_samples_are_one_line_errors_naming_the_file_and_the_fix() {
    let (images, labels) = real(300, 5);
    let n = labels.len();
    let dir = samples_dir("bad", &images, &labels);
    let err = |what: &str| {
        let e = eval::evaluate(&request(Some(&dir), 5))
            .err()
            .unwrap_or_else(|| panic!("{what} was scored"))
            .to_string();
        assert!(!e.contains('\n'), "{what}: {e}");
        e
    };
    let restore = || samples_dir("bad", &images, &labels);

    write_npy(
        &dir.join("images.npy"),
        "<f4",
        &[n, 27, 29],
        &f32_bytes(&images[..n * 27 * 29]),
    );
    let e = err("a wrong shape");
    assert!(
        e.contains("images.npy") && e.contains("28 x 28") && e.contains("[300, 27, 29]"),
        "{e}"
    );

    restore();
    write_npy(&dir.join("labels.npy"), "<i8", &[n - 1], &labels_i64(&labels[1..]));
    let e = err("a count mismatch");
    assert!(e.contains("300 images") && e.contains("299 labels"), "{e}");

    restore();
    let mut wrong = labels.clone();
    wrong[7] = 10;
    write_npy(&dir.join("labels.npy"), "<i8", &[n], &labels_i64(&wrong));
    let e = err("a label out of range");
    assert!(
        e.contains("labels.npy") && e.contains("label 10 at index 7") && e.contains("0-9"),
        "{e}"
    );

    restore();
    let scaled: Vec<f32> = images.iter().map(|v| v * 3.0).collect();
    write_npy(&dir.join("images.npy"), "<f4", &[n, 28, 28], &f32_bytes(&scaled));
    let e = err("values out of range");
    assert!(e.contains("outside [-1, 1]") && e.contains("tanh"), "{e}");

    let unit: Vec<f32> = images.iter().map(|v| (v + 1.0) / 2.0).collect();
    write_npy(&dir.join("images.npy"), "<f4", &[n, 28, 28], &f32_bytes(&unit));
    let e = err("[0, 1] images");
    assert!(e.contains("[0, 1]") && e.contains("x * 2 - 1"), "{e}");

    let mut nan = images.clone();
    nan[PIXELS + 3] = f32::NAN;
    write_npy(&dir.join("images.npy"), "<f4", &[n, 28, 28], &f32_bytes(&nan));
    let e = err("a NaN");
    assert!(
        e.contains("not finite") && e.contains(&format!("index {}", PIXELS + 3)),
        "{e}"
    );

    let few = 150;
    write_npy(
        &dir.join("images.npy"),
        "<f4",
        &[few, 28, 28],
        &f32_bytes(&images[..few * PIXELS]),
    );
    write_npy(&dir.join("labels.npy"), "<i8", &[few], &labels_i64(&labels[..few]));
    let e = err("too few samples");
    assert!(e.contains("150 samples") && e.contains("at least 200"), "{e}");

    restore();
    let ones: Vec<u8> = labels.iter().map(|&y| if y == 4 { 5 } else { y }).collect();
    write_npy(&dir.join("labels.npy"), "<i8", &[n], &labels_i64(&ones));
    let e = err("a class without samples");
    assert!(e.contains("class 4 has 0 samples"), "{e}");

    restore();
    write_npy(&dir.join("labels.npy"), "<f4", &[n], &f32_bytes(&vec![1.0; n]));
    let e = err("float labels");
    assert!(e.contains("not an integer type"), "{e}");

    restore();
    let full = std::fs::read(dir.join("images.npy")).unwrap();
    std::fs::write(dir.join("images.npy"), &full[..full.len() - 100]).unwrap();
    let e = err("a truncated file");
    assert!(e.contains("images.npy") && e.contains("truncated"), "{e}");

    std::fs::write(dir.join("images.npy"), b"P5 28 28 255\n").unwrap();
    let e = err("not an npy file");
    assert!(e.contains("not a .npy file") && e.contains("numpy.save"), "{e}");

    std::fs::remove_file(dir.join("images.npy")).unwrap();
    let e = err("a missing file");
    assert!(e.contains("images.npy"), "{e}");

    let e = eval::evaluate(&request(Some(&dir.join("nowhere")), 5))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("not a directory") && e.contains("images.npy"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_cli_scores_a_samples_directory_and_names_the_judge() {
    let (images, labels) = real(300, 6);
    let dir = samples_dir("cli", &images, &labels);
    let out = common::cgan(&[
        "eval",
        "--from",
        dir.to_str().unwrap(),
        "--judge",
        "judges/mnist",
        "--data-dir",
        "data/mnist",
    ])
    .stdout(std::process::Stdio::piped())
    .output()
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout.contains("samples in") && stdout.contains("300 samples"),
        "{stdout}"
    );
    assert!(
        stdout.contains(cgan::data::DatasetKind::Mnist.pinned_judge_sha256()),
        "{stdout}"
    );
    let both = common::cgan(&["eval", "--from", dir.to_str().unwrap(), "--run", "runs/x"])
        .output()
        .unwrap();
    assert!(!both.status.success(), "--from and --run together");
    let _ = std::fs::remove_dir_all(&dir);
}
