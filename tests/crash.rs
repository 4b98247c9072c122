//! Crash safety: `cgan train` killed with SIGKILL at random moments (checkpoints are
//! written every step, so kills land mid-write too), then resumed, ends with the weights
//! of an uninterrupted run, only complete checkpoints, and one TensorBoard line per tag.
//! Also: a NaN loss stops training with one line and keeps the last good checkpoint.

mod common;

use common::{cgan, root};

use cgan::config::Config;
use cgan::models::gan_cls::Gan;
use cgan::run::checkpoint;
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target, TrainError};
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::time::Duration;

const STEPS: u64 = 80;

fn train_args(run: &Path) -> Vec<String> {
    let steps = STEPS.to_string();
    [
        "train",
        "--steps",
        &steps,
        "--batch-size",
        "8",
        "--summary-every",
        "1",
        "--checkpoint-every",
        "1",
        "--eval-every",
        "0",
        "--no-progress-bar",
        "--seed",
        "5",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain(["--run-dir".to_string(), run.display().to_string()])
    .collect()
}

fn assert_checkpoints_complete(run: &Path) {
    let cfg = train::run_config(run).unwrap();
    for (step, dir) in checkpoint::list(run) {
        let mut gan = Gan::new(&cfg);
        let state = checkpoint::load(&dir, &mut gan).unwrap_or_else(|e| panic!("checkpoint {step} incomplete: {e}"));
        assert_eq!(state.step, step);
    }
}

#[test]
fn killed_and_resumed_runs_end_like_an_uninterrupted_one() {
    let base = std::env::temp_dir().join(format!("cgan-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&base);
    let (killed, straight) = (base.join("killed"), base.join("straight"));

    let mut rng = StdRng::seed_from_u64(11);
    let (mut kills, mut finished) = (0, false);
    for attempt in 0..10 {
        let mut args: Vec<String> = train_args(&killed);
        if attempt > 0 && killed.join("config.toml").exists() {
            let i = args.iter().position(|a| a == "--run-dir").unwrap();
            args[i] = "--resume".into();
        }
        let mut child = cgan(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(rng.gen_range(600..1600)));
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL on Unix
            kills += 1;
            child.wait().unwrap();
        } else {
            let out = child.wait_with_output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            finished = true;
        }
        if killed.join("config.toml").exists() {
            assert_checkpoints_complete(&killed);
        }
        if finished {
            break;
        }
    }
    assert!(kills >= 3, "only {kills} runs were killed before finishing");
    // A run that reached its last step within the loop is done: resuming it once more
    // would be refused (its step is at `--steps`).
    if !finished {
        eprintln!("crash: {kills} SIGKILLs, then a final resume");
        let mut args: Vec<String> = train_args(&killed);
        let i = args.iter().position(|a| a == "--run-dir").unwrap();
        args[i] = "--resume".into();
        let out = cgan(&args.iter().map(String::as_str).collect::<Vec<_>>())
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }

    let out = cgan(&train_args(&straight).iter().map(String::as_str).collect::<Vec<_>>())
        .output()
        .unwrap();
    assert!(out.status.success());
    let last = |run: &PathBuf, f: &str| {
        std::fs::read(run.join("checkpoints").join(checkpoint::dir_name(STEPS)).join(f)).unwrap()
    };
    for f in ["g.safetensors", "d.safetensors", "optim.safetensors"] {
        assert_eq!(
            last(&killed, f),
            last(&straight, f),
            "{f} after {kills} kills differs from the uninterrupted run"
        );
    }
    // One line per tag: every summary step exactly once, in order (histograms every
    // 5 summaries from the first), exactly as in the uninterrupted run.
    let every: Vec<i64> = (1..=STEPS as i64).collect();
    let fifth: Vec<i64> = (1..=STEPS as i64).step_by(5).collect();
    let (tags, straight_tags) = (common::tags(&killed), common::tags(&straight));
    assert_eq!(tags.len(), straight_tags.len());
    for (tag, (kind, steps)) in tags {
        match (tag.as_str(), kind) {
            ("config", _) => continue,
            // HPARAMS and CUSTOM SCALARS records live at step 0, whichever process wrote them.
            (_, common::Kind::Dashboard) => {
                assert!(!steps.is_empty() && steps.iter().all(|s| *s == 0), "{tag}: {steps:?}");
                continue;
            }
            (_, common::Kind::Histogram) => assert_eq!(steps, fifth, "{tag}"),
            _ => assert_eq!(steps, every, "{tag}"),
        }
        assert_eq!(steps, straight_tags[&tag].1, "{tag}");
    }
    let stray: Vec<_> = std::fs::read_dir(killed.join("checkpoints"))
        .unwrap()
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().starts_with("step-"))
        .collect();
    assert!(stray.is_empty(), "half-written checkpoints left behind: {stray:?}");
}

#[test]
fn a_non_finite_loss_stops_training_and_keeps_the_last_good_checkpoint() {
    let dir = std::env::temp_dir().join(format!("cgan-nan-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = Config {
        steps: 3,
        batch_size: 8,
        summary_every: 1,
        checkpoint_every: 1,
        eval_every: 0,
        data_dir: root().join("data/mnist"),
        ..Config::default()
    };
    train::train(cfg.clone(), Target::New(dir.clone()), &mut Lines).unwrap();
    let snapshot = |d: &Path| -> Vec<(u64, Vec<u8>)> {
        checkpoint::list(d)
            .into_iter()
            .map(|(s, p)| (s, std::fs::read(p.join("g.safetensors")).unwrap()))
            .collect()
    };
    let before = snapshot(&dir);
    // Resumed with an absurd learning rate, the weights blow up in the next step.
    let bad = Config {
        steps: 10,
        lr: 1e10,
        ..cfg
    };
    let err = train::train(bad, Target::Resume(dir.clone()), &mut Lines).unwrap_err();
    let TrainError::NonFinite { step, .. } = &err else {
        panic!("{err}")
    };
    assert_eq!(*step, 4);
    let msg = err.to_string();
    assert!(
        msg.contains("step 4") && msg.contains("last good checkpoint (step 3)") && !msg.contains('\n'),
        "{msg}"
    );
    assert_eq!(
        before,
        snapshot(&dir),
        "no checkpoint written or changed after the bad step"
    );
    assert_checkpoints_complete(&dir);
    // The binary exits non-zero with the same one line, no backtrace.
    let out = cgan(&[
        "train",
        "--resume",
        dir.to_str().unwrap(),
        "--steps",
        "10",
        "--lr",
        "1e10",
    ])
    .output()
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr
            .lines()
            .any(|l| l.starts_with("cgan: error: loss/") && l.contains("step 4")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(before, snapshot(&dir));
}
