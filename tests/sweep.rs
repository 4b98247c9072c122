//! `cgan sweep`: a grid and a list of overrides expanded into trials, run as real
//! `cgan train` processes two at a time on real MNIST, collected in results.csv.

mod common;

use common::{root, scratch};

use cgan::tools::sweep::{self, launch, results, SweepError, SweepFile};
use std::path::Path;

/// A sweep file with tiny trials: 2 lr x 2 seeds on the grid.
fn tiny(extra: &str) -> String {
    format!(
        r#"name = "tiny"
parallel = 2
[base]
steps = 4
batch_size = 8
summary_every = 2
checkpoint_every = 2
eval_every = 2
eval_samples = 200
train_images = 256
data_dir = "{data}"
judge_dir = "{judge}"
[grid]
seed = [1, 2]
lr = [0.0001, 0.0002]
{extra}"#,
        data = root().join("data/mnist").display(),
        judge = root().join("judges/mnist").display()
    )
}

fn parse(text: &str) -> Result<sweep::Plan, SweepError> {
    let file: SweepFile = toml::from_str(text).map_err(|e| SweepError::Invalid {
        path: "test".into(),
        why: e.to_string(),
    })?;
    sweep::expand(&file)
}

#[test]
fn a_grid_and_a_list_expand_into_named_trials() {
    let plan = parse(&tiny("[[trial]]\npreset = \"article\"\nseed = 7\n")).unwrap();
    let names: Vec<&str> = plan.trials.iter().map(|t| t.name.as_str()).collect();
    // Grid keys in the table's (sorted) order, then the list's new keys.
    assert_eq!(
        names,
        [
            "000_lr=0.0001_seed=1",
            "001_lr=0.0001_seed=2",
            "002_lr=0.0002_seed=1",
            "003_lr=0.0002_seed=2",
            "004_seed=7_preset=article"
        ]
    );
    assert_eq!(plan.swept, ["lr", "seed", "preset"]);
    let last = &plan.trials[4].config;
    assert_eq!((last.preset.name(), last.seed, last.steps), ("article", 7, 4));
    assert_eq!(
        last.model.gan_cls().map(|m| m.d_norm),
        Some(cgan::config::DNorm::Batch),
        "the article preset's values fill the rest"
    );
    assert_eq!(plan.trials[3].config.lr, 2e-4);
    assert_eq!(plan.trials[3].config.preset.name(), "mode-seeking");
}

#[test]
fn bad_sweep_files_name_the_problem() {
    let cases = [
        ("parallel = 0", "parallel must be between 1 and 64"),
        ("[grid]\nlr = 0.1", "grid.lr must be a non-empty list"),
        ("[grid]\nlr = []", "grid.lr must be a non-empty list"),
        ("[[trial]]\nlr = -1.0", "lr must be a positive number"),
        ("[[trial]]\nlearning_rate = 0.1", "learning_rate"),
        ("[[trial]]\nname = \"x\"", "name is the sweep's"),
    ];
    for (text, want) in cases {
        let dir = scratch("bad");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("sweep.toml");
        std::fs::write(&path, text).unwrap();
        let err = sweep::load(&path).unwrap_err().to_string();
        assert!(err.contains(want) && !err.contains('\n'), "{text:?}: {err}");
        let _ = std::fs::remove_dir_all(&dir);
    }
    let err = sweep::load(Path::new("/nonexistent/sweep.toml"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot read sweep file /nonexistent/sweep.toml"), "{err}");
}

fn csv(path: &Path) -> Vec<std::collections::BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    lines
        .map(|l| {
            header
                .iter()
                .map(|h| h.to_string())
                .zip(l.split(',').map(String::from))
                .collect()
        })
        .collect()
}

#[test]
fn a_tiny_grid_runs_two_at_a_time_and_writes_results_csv() {
    let dir = scratch("run");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiny.toml");
    std::fs::write(&file, tiny("")).unwrap();
    let plan = sweep::load(&file).unwrap();
    let out = dir.join("sweep");
    sweep::prepare(&file, &plan, Some(&out)).unwrap();
    let exe = env!("CARGO_BIN_EXE_cgan");
    // --print-commands: one runnable `cgan train` line per trial.
    let lines: Vec<String> = plan
        .trials
        .iter()
        .filter_map(|t| launch::command_for(exe, &out, t))
        .map(|a| sweep::shell_line(&a))
        .collect();
    assert_eq!(lines.len(), 4);
    assert!(lines.iter().all(|l| l.starts_with(&format!("{exe} train --config "))));
    let mut log = Vec::new();
    let report = sweep::run(exe, &out, &plan, &mut |m| log.push(m.to_string())).unwrap();
    assert!(
        report.outcomes.iter().all(|o| o.started && o.exit_code == Some(0)),
        "{log:?}"
    );
    let rows = csv(&out.join(results::RESULTS_FILE));
    assert_eq!(rows.len(), 4);
    for (row, t) in rows.iter().zip(&plan.trials) {
        assert_eq!(row["trial"], t.name);
        assert_eq!(row["status"], "finished");
        assert_eq!(row["final_step"], "4");
        assert_eq!(row["seed"], t.config.seed.to_string());
        assert_eq!(row["eval_samples"], "200");
        let summary = cgan::run::history::read_summary(Path::new(&row["run_dir"])).unwrap();
        let m = summary.eval.unwrap();
        assert_eq!(row["frechet_distance"], m.frechet_distance.to_string());
        // After 4 steps the samples are noise: far from real digits (a distance of 0
        // here was a NaN in the covariance square root, found by this sweep).
        assert!(
            m.frechet_distance > 10.0 * m.frechet_distance_real_floor,
            "{}: {m:?}",
            t.name
        );
        assert!(row["wall_seconds"].parse::<f64>().unwrap() > 0.0);
    }
    // At most two ran at once: the third started only after one had finished.
    let third = log.iter().position(|l| l.contains("(3 of 4)")).unwrap();
    assert!(log[..third].iter().any(|l| l.contains("finished after")), "{log:?}");
    // Running the sweep again skips finished trials.
    let mut again = Vec::new();
    let report = sweep::run(exe, &out, &plan, &mut |m| again.push(m.to_string())).unwrap();
    assert!(report.outcomes.iter().all(|o| !o.started), "{again:?}");
    assert_eq!(csv(&out.join(results::RESULTS_FILE)).len(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_grid_over_a_model_key_sets_it_in_model_and_lists_it_first_on_hparams() {
    let plan = parse(&tiny("d_norm = [\"batch\", \"none\"]")).unwrap();
    assert_eq!(plan.trials.len(), 8);
    let norms: Vec<_> = plan
        .trials
        .iter()
        .map(|t| t.config.model.gan_cls().map(|m| m.d_norm))
        .collect();
    assert!(norms.contains(&Some(cgan::config::DNorm::Batch)) && norms.contains(&Some(cgan::config::DNorm::None)));
    let hp = cgan::run::dashboards::hparams(&plan.trials[0].config, &plan.swept);
    let names: Vec<&str> = hp.iter().map(|(k, _)| k.as_str()).take(3).collect();
    assert!(names.contains(&"model.d_norm"), "{names:?}");
    // A LAPGAN sweep cannot grid over a D key: one error naming the trial and the key.
    let err = parse(&tiny("preset = [\"lapgan\"]\nspectral_norm = [true]"))
        .unwrap_err()
        .to_string();
    assert!(err.contains("spectral_norm") && err.contains("lapgan"), "{err}");
}

#[test]
fn random_search_draws_reproducible_trials_from_lists_and_ranges() {
    let text = |seed: u64| {
        tiny(concat!(
            "[random]\nmode_seeking = [0.5, 1.0, 2.0]\n",
            "lr = { min = 1e-5, max = 1e-2, scale = \"log\" }\n",
            "batch_size = { min = 8, max = 64 }\n"
        ))
        .replace("[grid]\nseed = [1, 2]\nlr = [0.0001, 0.0002]\n", "")
        .replacen(
            "name = \"tiny\"",
            &format!("name = \"tiny\"\nseed = {seed}\nrandom_trials = 12"),
            1,
        )
    };
    let a = parse(&text(5)).unwrap();
    assert_eq!(a.trials.len(), 12);
    assert_eq!(a.swept, ["batch_size", "lr", "mode_seeking"]);
    for t in &a.trials {
        let c = &t.config;
        assert!((1e-5..1e-2).contains(&c.lr), "{}", c.lr);
        assert!((8..=64).contains(&c.batch_size), "{}", c.batch_size);
        assert!([0.5, 1.0, 2.0].contains(&c.mode_seeking), "{}", c.mode_seeking);
        // The name says the value the config holds.
        assert!(t.name.contains(&format!("lr={}", t.keys["lr"])), "{}", t.name);
    }
    // Log scale: the draws spread over the decades, not bunched at the top.
    let decades: std::collections::BTreeSet<i32> =
        a.trials.iter().map(|t| t.config.lr.log10().floor() as i32).collect();
    assert!(decades.len() >= 2, "{decades:?}");
    // Same seed, same trials (a rerun resumes them); another seed, others.
    let names = |p: &sweep::Plan| p.trials.iter().map(|t| t.name.clone()).collect::<Vec<_>>();
    assert_eq!(names(&a), names(&parse(&text(5)).unwrap()));
    assert_ne!(names(&a), names(&parse(&text(6)).unwrap()));
    // Bad tables name the key and the fix.
    for (bad, says) in [
        (
            "[random]\nlr = { min = 1, max = 0 }\n",
            "random.lr: min (1) must be below max (0)",
        ),
        (
            "[random]\nlr = { min = 0, max = 1, scale = \"log\" }\n",
            "log scale needs min > 0",
        ),
        ("[random]\nlr = \"x\"\n", "random.lr"),
        ("[random]\nlr = [0.1]\n", "random_trials"),
    ] {
        let t = tiny(bad).replace("[grid]\nseed = [1, 2]\nlr = [0.0001, 0.0002]\n", "");
        let t = if says == "random_trials" {
            t
        } else {
            t.replacen("name = \"tiny\"", "name = \"tiny\"\nrandom_trials = 2", 1)
        };
        let err = parse(&t).unwrap_err().to_string();
        assert!(err.contains(says), "{bad}: {err}");
    }
}

#[test]
fn collect_gathers_trials_run_by_hand_from_print_commands() {
    let dir = scratch("collect");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("tiny.toml");
    std::fs::write(&file, tiny("").replace("seed = [1, 2]", "seed = [1]")).unwrap();
    let plan = sweep::load(&file).unwrap();
    let out = dir.join("sweep");
    sweep::prepare(&file, &plan, Some(&out)).unwrap();
    let exe = env!("CARGO_BIN_EXE_cgan");
    // Only the first trial is run (by hand, as another scheduler would).
    let args = launch::command_for(exe, &out, &plan.trials[0]).unwrap();
    let status = std::process::Command::new(&args[0])
        .args(&args[1..])
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    results::collect(&out).unwrap();
    let rows = csv(&out.join(results::RESULTS_FILE));
    assert_eq!(rows.len(), 2);
    assert_eq!(
        (rows[0]["status"].as_str(), rows[0]["final_step"].as_str()),
        ("finished", "4")
    );
    assert!(!rows[0]["frechet_distance"].is_empty());
    assert_eq!(rows[1]["status"], "not_started");
    // The second one started elsewhere and has written no summary yet.
    std::fs::create_dir_all(sweep::trial_run(&out, &plan.trials[1]).join("checkpoints")).unwrap();
    results::collect(&out).unwrap();
    let rows = csv(&out.join(results::RESULTS_FILE));
    assert_eq!(rows[1]["status"], "unfinished");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_sweep_that_varies_steps_has_one_steps_column() {
    let dir = scratch("steps-column");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("steps.toml");
    let text = tiny("").replace("seed = [1, 2]\nlr = [0.0001, 0.0002]", "steps = [4, 6]");
    std::fs::write(&file, text).unwrap();
    let plan = sweep::load(&file).unwrap();
    let out = dir.join("sweep");
    sweep::prepare(&file, &plan, Some(&out)).unwrap();
    results::collect(&out).unwrap();
    let text = std::fs::read_to_string(out.join(results::RESULTS_FILE)).unwrap();
    let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
    assert_eq!(header.iter().filter(|h| **h == "steps").count(), 1, "{header:?}");
    let rows = csv(&out.join(results::RESULTS_FILE));
    assert_eq!((rows[0]["steps"].as_str(), rows[1]["steps"].as_str()), ("4", "6"));
    let _ = std::fs::remove_dir_all(&dir);
}
