//! Property-based fuzzing of the two loaders that read user files: MNIST IDX files and
//! checkpoints. Whatever the bytes, they return Ok or one error, never panic. CI runs 256
//! cases per property; `make fuzz` runs 5000 (PROPTEST_CASES overrides both).

mod common;

use common::root;

use cgan::config::Config;
use cgan::data::load_mnist;
use cgan::models::gan_cls::Gan;
use cgan::run::checkpoint;
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target};
use proptest::prelude::*;
use std::path::PathBuf;
use std::sync::OnceLock;

const IDX: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// How to break a file.
#[derive(Clone, Debug)]
enum Mutation {
    Truncate(usize),
    Overwrite(usize, Vec<u8>),
    Replace(Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0usize..200_000).prop_map(Mutation::Truncate),
        ((0usize..64), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Mutation::Overwrite(at, b)),
        ((0usize..2_000_000), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(at, b)| Mutation::Overwrite(at, b)),
        prop::collection::vec(any::<u8>(), 0..256).prop_map(Mutation::Replace),
    ]
}

fn apply(bytes: &[u8], m: &Mutation) -> Vec<u8> {
    match m {
        Mutation::Truncate(n) => bytes[..(*n).min(bytes.len())].to_vec(),
        Mutation::Overwrite(at, b) => {
            let mut v = bytes.to_vec();
            let at = at % v.len().max(1);
            for (i, x) in b.iter().enumerate() {
                if let Some(slot) = v.get_mut(at + i) {
                    *slot = *x;
                }
            }
            v
        }
        Mutation::Replace(b) => b.clone(),
    }
}

fn scratch(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("cgan-fuzz-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Cases per property: PROPTEST_CASES, else 256 (about ten seconds).
fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(cases()))]

    #[test]
    fn idx_loader_never_panics(which in 1usize..4, m in mutation()) {
        // The big training-images file is only ever the untouched original (fuzzing it
        // would re-read 47 MB per case); the three others are broken in turn.
        let dir = scratch("idx");
        for name in IDX {
            let _ = std::fs::remove_file(dir.join(name));
            std::os::unix::fs::symlink(root().join("data/mnist").join(name), dir.join(name)).unwrap();
        }
        let name = IDX[which];
        let original = std::fs::read(root().join("data/mnist").join(name)).unwrap();
        std::fs::remove_file(dir.join(name)).unwrap();
        std::fs::write(dir.join(name), apply(&original, &m)).unwrap();
        let result = load_mnist(&dir, (-1.0, 1.0));
        if let Err(e) = &result {
            let msg = e.to_string();
            prop_assert!(msg.contains(name) && !msg.contains('\n'), "{}", msg);
        }
    }

    #[test]
    fn checkpoint_loader_never_panics(which in 0usize..4, m in mutation()) {
        let files = ["g.safetensors", "d.safetensors", "optim.safetensors", "state.toml"];
        let good = good_checkpoint();
        let dir = scratch("ckpt");
        for f in files {
            std::fs::copy(good.join(f), dir.join(f)).unwrap();
        }
        let original = std::fs::read(good.join(files[which])).unwrap();
        std::fs::write(dir.join(files[which]), apply(&original, &m)).unwrap();
        let mut gan = Gan::new(&small());
        let before = cgan::nn::params::params(&gan.g);
        match checkpoint::load(&dir, &mut gan) {
            Ok(_) => {}
            Err(e) => {
                prop_assert!(!e.to_string().contains('\n'));
                prop_assert_eq!(&before, &cgan::nn::params::params(&gan.g), "a failed load changes nothing");
            }
        }
    }
}

fn small() -> Config {
    Config {
        steps: 2,
        batch_size: 8,
        checkpoint_every: 2,
        eval_every: 0,
        data_dir: root().join("data/mnist"),
        ..Config::default()
    }
}

fn good_checkpoint() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let run = std::env::temp_dir().join(format!("cgan-fuzz-run-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&run);
        train::train(small(), Target::New(run.clone()), &mut Lines).unwrap();
        checkpoint::find(&run, None).unwrap()
    })
}
