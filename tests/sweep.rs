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
        judge = root().join("runs/judge").display()
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
