//! A run's record of itself on real MNIST: `config.toml` kept as the run started,
//! `history.toml` segments, `summary.json`, unique default directories, the NaN advice
//! that works as printed, and Ctrl-C / SIGTERM that checkpoint and say how to resume.

mod common;

use common::{cgan, scratch, small};

use cgan::config::Config;
use cgan::run::history::{self, Status};
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target, TrainError};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// The text summaries of a run, as (step, text).
fn config_texts(run: &Path) -> Vec<(i64, String)> {
    common::event_files(run)
        .iter()
        .flat_map(|f| common::read_events(f))
        .filter(|e| e.has_summary())
        .flat_map(|e| {
            let step = e.get_step();
            e.get_summary()
                .get_value()
                .iter()
                .filter(|v| v.get_tag() == cgan::tensorboard::tags::CONFIG_TEXT)
                .map(|v| {
                    (
                        step,
                        String::from_utf8_lossy(&v.get_tensor().get_string_val()[0]).into_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn resume_keeps_config_toml_and_appends_a_segment_with_what_it_changed() {
    let dir = scratch("segments");
    train::train(small(2), Target::New(dir.clone()), &mut Lines).unwrap();
    let started = std::fs::read(dir.join("config.toml")).unwrap();
    let resumed = Config { lr: 1e-4, ..small(4) };
    train::train(resumed, Target::Resume(dir.clone()), &mut Lines).unwrap();
    assert_eq!(
        std::fs::read(dir.join("config.toml")).unwrap(),
        started,
        "config.toml rewritten"
    );
    let segments = history::segments(&dir).unwrap();
    assert_eq!(segments.len(), 2);
    assert_eq!((segments[0].index, segments[0].start_step), (1, 0));
    assert!(segments[0].overrides.is_empty());
    assert_eq!((segments[1].index, segments[1].start_step), (2, 2));
    let keys: Vec<&String> = segments[1].overrides.keys().collect();
    assert_eq!(keys, ["lr", "steps"]);
    // A further resume starts from what the latest segment trained with.
    let now = train::run_config(&dir).unwrap();
    assert_eq!((now.lr, now.steps), (1e-4, 4));
    let texts = config_texts(&dir);
    assert_eq!(texts.len(), 2);
    assert!(
        texts[0].1.starts_with("The config this run started with."),
        "{}",
        texts[0].1
    );
    assert_eq!(texts[1].0, 2);
    assert!(
        texts[1]
            .1
            .contains("Segment 2 of this run: resumed at step 2 with lr = 0.0001, steps = 4"),
        "{}",
        texts[1].1
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_model_key_changed_on_resume_is_recorded_as_model_key_and_read_back() {
    let dir = scratch("model-segment");
    train::train(small(2), Target::New(dir.clone()), &mut Lines).unwrap();
    let resumed = common::gan_cls(small(4), |m| m.k_steps = 2);
    train::train(resumed, Target::Resume(dir.clone()), &mut Lines).unwrap();
    let segments = history::segments(&dir).unwrap();
    // Only the [model] key that changed, not the whole table.
    let text = std::fs::read_to_string(dir.join(history::HISTORY_FILE)).unwrap();
    assert!(text.contains("[segment.overrides.model]\nk_steps = 2\n"), "{text}");
    assert_eq!(
        history::describe(&segments[1].overrides),
        "model.k_steps = 2, steps = 4"
    );
    let now = train::run_config(&dir).unwrap();
    assert_eq!((now.steps, now.model.gan_cls().unwrap().k_steps), (4, 2));
    assert_eq!(now.model.gan_cls().unwrap().g_ema, 0.999, "the rest of [model] is kept");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_finished_run_writes_summary_json() {
    let dir = scratch("summary");
    let report = train::train(small(4), Target::New(dir.clone()), &mut Lines).unwrap();
    let s = history::read_summary(&dir).unwrap();
    assert_eq!(s.status, Status::Finished);
    assert_eq!((s.final_step, s.steps, s.segment), (4, 4, 1));
    assert_eq!(s.last, report.last);
    let loss_g = s.last[cgan::tensorboard::tags::LOSS_G].expect("a finite G loss");
    assert!(
        report.last_line.contains(&format!("loss_g {loss_g:.3}")),
        "{}",
        report.last_line
    );
    assert!(s.wall_seconds > 0.0 && (s.steps_per_second - 4.0 / s.wall_seconds).abs() < 1e-9);
    assert!(s.eval.is_none() && s.eval_step.is_none(), "evaluations were off");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn runs_started_together_under_one_default_name_get_their_own_directories() {
    let base = scratch("unique");
    let runs: Vec<PathBuf> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..3)
            .map(|_| {
                s.spawn(|| {
                    train::train(small(1), Target::Unique(base.clone()), &mut Lines)
                        .unwrap()
                        .run_dir
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut names: Vec<String> = runs.iter().map(|r| r.display().to_string()).collect();
    names.sort();
    let b = base.display().to_string();
    assert_eq!(names, [b.clone(), format!("{b}-2"), format!("{b}-3")]);
    for r in &runs {
        assert_eq!(history::read_summary(r).unwrap().final_step, 1, "{}", r.display());
        let _ = std::fs::remove_dir_all(r);
    }
}

#[test]
fn the_advice_after_a_nan_stop_works_as_printed() {
    let dir = scratch("nan");
    train::train(small(2), Target::New(dir.clone()), &mut Lines).unwrap();
    let bad = Config { lr: 1e10, ..small(6) };
    let err = train::train(bad, Target::Resume(dir.clone()), &mut Lines).unwrap_err();
    assert!(matches!(err, TrainError::NonFinite { .. }), "{err}");
    let s = history::read_summary(&dir).unwrap();
    assert_eq!((s.status, s.final_step), (Status::NonFinite, 2));
    assert!(
        s.last.values().any(|v| v.is_none()),
        "the non-finite loss is null: {:?}",
        s.last
    );
    let msg = err.to_string();
    let command = msg.split('`').nth(1).unwrap_or_else(|| panic!("no command in: {msg}"));
    let args: Vec<&str> = command.split_whitespace().collect();
    assert_eq!(&args[..3], ["cgan", "train", "--resume"], "{msg}");
    assert!(args.contains(&"--lr"), "{msg}");
    let out = cgan(&args[1..]).output().unwrap();
    assert!(
        out.status.success(),
        "`{command}` failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = history::read_summary(&dir).unwrap();
    assert_eq!(
        (s.status, s.final_step),
        (Status::Finished, 6),
        "trains on to the run's steps"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Starts a long run, waits for its progress line at step 4, sends `signal`, and
/// returns its exit status and stderr.
fn interrupted(dir: &Path, signal: i32) -> (std::process::ExitStatus, String) {
    let mut child = cgan(&[
        "train",
        "--run-dir",
        dir.to_str().unwrap(),
        "--steps",
        "100000",
        "--batch-size",
        "8",
        "--summary-every",
        "4",
        "--checkpoint-every",
        "100000",
        "--eval-every",
        "0",
        "--no-progress-bar",
    ])
    .spawn()
    .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut text = String::new();
    while !text.contains("step 4/") {
        let mut line = String::new();
        if stderr.read_line(&mut line).unwrap() == 0 {
            panic!("the run ended before step 4: {text}");
        }
        text.push_str(&line);
    }
    // SAFETY: kill(2) on a child we own; no memory is involved.
    assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut rest).unwrap();
    (child.wait().unwrap(), text + &rest)
}

#[test]
fn ctrl_c_or_sigterm_finishes_the_step_checkpoints_and_says_how_to_resume() {
    for (signal, tag) in [(libc::SIGINT, "sigint"), (libc::SIGTERM, "sigterm")] {
        let dir = scratch(tag);
        let (status, stderr) = interrupted(&dir, signal);
        assert_eq!(status.code(), Some(cgan::run::interrupt::EXIT_CODE), "{tag}: {stderr}");
        let last = stderr.lines().last().unwrap_or("");
        let resume = format!("resume with `cgan train --resume {}`", dir.display());
        assert!(
            last.starts_with("cgan: interrupted at step ") && last.ends_with(&resume),
            "{tag}: {last}"
        );
        let s = history::read_summary(&dir).unwrap();
        assert_eq!(s.status, Status::Interrupted);
        assert!(s.final_step >= 4, "{tag}: stopped at {}", s.final_step);
        let ckpts = cgan::run::checkpoint::list(&dir);
        assert_eq!(
            ckpts.last().map(|c| c.0),
            Some(s.final_step),
            "{tag}: a checkpoint of the last step"
        );
        // The last step's scalars are in TensorBoard too.
        let tags = common::tags(&dir);
        let steps = &tags[cgan::tensorboard::tags::LOSS_G].1;
        assert_eq!(steps.last(), Some(&(s.final_step as i64)), "{tag}");
        // The printed command resumes it (here with fewer steps to finish quickly).
        let out = cgan(&[
            "train",
            "--resume",
            dir.to_str().unwrap(),
            "--steps",
            &(s.final_step + 2).to_string(),
        ])
        .output()
        .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(history::read_summary(&dir).unwrap().status, Status::Finished);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
