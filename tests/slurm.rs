//! `cgan sweep --slurm` against a real one-node Slurm (`scripts/slurm-local.sh`, which
//! `make test` starts and stops around the tests; it sets `SLURM_CONF`): a tiny sweep
//! submitted as a job array gives the same results.csv as the same sweep run here; a task
//! sent the preemption signal checkpoints, requeues itself and resumes its trial; a
//! failing trial is reported as failed with its log; and the submission errors.
//!
//! Without `SLURM_CONF` these tests say so and pass, unless `CGAN_REQUIRE_SLURM=1` (set
//! by `make test`, so CI cannot skip them).

mod common;

use common::{root, scratch};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// Whether a Slurm is there to test against.
fn slurm() -> bool {
    if std::env::var_os("SLURM_CONF").is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CGAN_REQUIRE_SLURM").is_none(),
        "CGAN_REQUIRE_SLURM is set but SLURM_CONF is not: run the tests under scripts/slurm-local.sh run"
    );
    eprintln!("no SLURM_CONF: skipped (make test runs this against scripts/slurm-local.sh)");
    false
}

/// `cgan ARGS` in `dir` with one rayon thread (so local and cluster trials sum alike).
fn cgan_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cgan"))
        .current_dir(dir)
        .env("RAYON_NUM_THREADS", "1")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A sweep file of `trials` (a `[grid]` or `[[trial]]` text) with tiny runs that write
/// summaries and checkpoints every `every` steps.
fn sweep_file(dir: &Path, name: &str, steps: u64, every: u64, eval: bool, trials: &str) -> PathBuf {
    std::fs::create_dir_all(dir).unwrap();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            r#"name = "{name}"
parallel = 2
[base]
steps = {steps}
batch_size = 8
summary_every = {every}
checkpoint_every = {every}
eval_every = {eval_every}
eval_samples = 200
train_images = 256
data_dir = "{data}"
judge_dir = "{judge}"
{trials}"#,
            eval_every = if eval { steps } else { 0 },
            data = root().join("data/mnist").display(),
            judge = root().join("judges/mnist").display()
        ),
    )
    .unwrap();
    path
}

fn job_id(sweep: &Path) -> String {
    std::fs::read_to_string(sweep.join("slurm/job_id"))
        .unwrap()
        .trim()
        .to_string()
}

/// Polls `squeue` until the sweep's last task has written results.csv and the job has
/// left the queue (a requeued task leaves it for a moment); a requeued task's 2-minute
/// start delay (Slurm's, for every requeue) is cut short with `scontrol update
/// StartTime=now`.
fn wait_for(sweep: &Path, limit: Duration) {
    let job = job_id(sweep);
    let job = job.as_str();
    let t0 = Instant::now();
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-r", "-j", job, "-o", "%i %T %r"])
            .output()
            .unwrap();
        let q = String::from_utf8_lossy(&q.stdout).to_string();
        if q.trim().is_empty() && sweep.join("results.csv").exists() {
            return;
        }
        for line in q.lines().filter(|l| l.contains("BeginTime")) {
            let id = line.split(' ').next().unwrap();
            let _ = Command::new("scontrol")
                .args(["update", &format!("JobId={id}"), "StartTime=now"])
                .output();
        }
        if t0.elapsed() >= limit {
            panic!("job {job} not done after {limit:?}: {q}\n{}", diagnosis(sweep, job));
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// What a timed-out wait shows: the job as Slurm sees it, the trials' logs and the end
/// of the controller's log (the local cluster's files go when `make test` ends).
fn diagnosis(sweep: &Path, job: &str) -> String {
    let show = Command::new("scontrol").args(["show", "job", job]).output();
    let mut out = match show {
        Ok(o) => format!(
            "scontrol show job {job}:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            stderr(&o)
        ),
        Err(e) => format!("scontrol: {e}\n"),
    };
    let mut logs: Vec<PathBuf> = std::fs::read_dir(sweep.join("logs"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    logs.sort();
    for log in logs {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        out += &format!("--- {}:\n{}\n", log.display(), text);
    }
    if let Some(conf) = std::env::var_os("SLURM_CONF") {
        let ctld = Path::new(&conf).with_file_name("log/slurmctld.log");
        let text = std::fs::read_to_string(&ctld).unwrap_or_default();
        let tail: Vec<&str> = text.lines().rev().take(40).collect();
        out += &format!("--- {} (last 40 lines):\n", ctld.display());
        for l in tail.into_iter().rev() {
            out += l;
            out += "\n";
        }
    }
    out
}

fn csv(path: &Path) -> Vec<BTreeMap<String, String>> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<String> = lines.next().unwrap().split(',').map(String::from).collect();
    lines
        .map(|l| header.iter().cloned().zip(l.split(',').map(String::from)).collect())
        .collect()
}

#[test]
fn a_tiny_sweep_on_slurm_gives_the_results_of_the_same_sweep_run_here() {
    if !slurm() {
        return;
    }
    let dir = scratch("array");
    let file = sweep_file(
        &dir,
        "array",
        4,
        2,
        true,
        "[grid]\nseed = [1, 2]\nlr = [0.0001, 0.0002]\n",
    );
    let here = cgan_in(&dir, &["sweep", "--config", "array.toml", "--out", "here"]);
    assert!(here.status.success(), "{}", stderr(&here));
    let sub = cgan_in(
        &dir,
        &[
            "sweep",
            "--config",
            file.to_str().unwrap(),
            "--out",
            "cluster",
            "--slurm",
            "--max-running",
            "2",
        ],
    );
    assert!(sub.status.success(), "{}", stderr(&sub));
    let said = String::from_utf8_lossy(&sub.stdout);
    let cluster = dir.join("cluster");
    let job = job_id(&cluster);
    assert!(
        said.contains(&format!("Slurm job {job}")) && said.contains("--status"),
        "{said}"
    );
    let script = std::fs::read_to_string(cluster.join("slurm/array.sh")).unwrap();
    assert!(
        script.contains("#SBATCH --array=0-3%2") && script.contains("#SBATCH --requeue"),
        "{script}"
    );
    assert!(script.contains("#SBATCH --signal=B:TERM@120"), "{script}");
    wait_for(&cluster, Duration::from_secs(300));
    // The last task wrote results.csv on its own.
    let (a, b) = (csv(&dir.join("here/results.csv")), csv(&cluster.join("results.csv")));
    assert_eq!(a.len(), 4);
    assert_eq!(b.len(), 4);
    for (x, y) in a.iter().zip(&b) {
        for col in [
            "trial",
            "status",
            "exit_code",
            "lr",
            "seed",
            "final_step",
            "conditional_accuracy",
            "frechet_distance",
            "diversity_ratio",
            "mnist_score",
        ] {
            assert_eq!(x[col], y[col], "{col} of {}", x["trial"]);
        }
        assert_eq!(y["status"], "finished");
        assert!(!y["frechet_distance"].is_empty());
    }
    // Each trial has its own log, as a local sweep's.
    for row in &b {
        let log = std::fs::read_to_string(cluster.join("logs").join(format!("{}.log", row["trial"]))).unwrap();
        assert!(log.contains("cgan sweep task"), "{log}");
    }
    let status = cgan_in(&dir, &["sweep", "--status", "cluster"]);
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(text.contains("4 trials: 4 finished"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_preempted_task_checkpoints_requeues_itself_and_resumes_its_trial() {
    if !slurm() {
        return;
    }
    let dir = scratch("preempt");
    // Long enough to be caught mid-run (the signal goes as soon as the first checkpoint,
    // at step 50, is there); checkpoints and summaries every 2 steps made its 400 steps
    // take minutes on a busy machine.
    let file = sweep_file(&dir, "preempt", 400, 50, false, "[grid]\nseed = [3]\n");
    let sub = cgan_in(
        &dir,
        &["sweep", "--config", file.to_str().unwrap(), "--out", "s", "--slurm"],
    );
    assert!(sub.status.success(), "{}", stderr(&sub));
    let sweep = dir.join("s");
    let job = job_id(&sweep);
    let run = sweep.join("000_seed=3");
    let t0 = Instant::now();
    while cgan::run::checkpoint::list(&run).is_empty() {
        assert!(
            t0.elapsed() < Duration::from_secs(120),
            "no checkpoint in {}",
            run.display()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // What preemption sends: SIGTERM to the task's process.
    let sig = Command::new("scancel")
        .args(["--signal=TERM", "--batch", &format!("{job}_0")])
        .output()
        .unwrap();
    assert!(sig.status.success(), "{}", String::from_utf8_lossy(&sig.stderr));
    wait_for(&sweep, Duration::from_secs(300));
    let log = std::fs::read_to_string(sweep.join("logs/000_seed=3.log")).unwrap();
    assert!(log.contains("requeued as task"), "{log}");
    assert!(log.contains("restart 1"), "{log}");
    let resumed = log
        .lines()
        .find(|l| l.starts_with("cgan: resuming"))
        .unwrap_or_else(|| panic!("{log}"));
    let history = cgan::run::history::segments(&run).unwrap();
    assert_eq!(history.len(), 2, "two processes trained it: {log}");
    assert!(history[1].start_step > 0, "resumed from its checkpoint: {resumed}");
    let summary = cgan::run::history::read_summary(&run).unwrap();
    assert_eq!(summary.final_step, 400);
    assert_eq!(csv(&sweep.join("results.csv"))[0]["status"], "finished");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_failing_trial_is_reported_failed_with_its_log_and_the_others_finish() {
    if !slurm() {
        return;
    }
    let dir = scratch("fail");
    let file = sweep_file(
        &dir,
        "fail",
        2,
        2,
        false,
        "[[trial]]\nseed = 1\n[[trial]]\nseed = 2\ndata_dir = \"/nonexistent/mnist\"\n",
    );
    let sub = cgan_in(
        &dir,
        &["sweep", "--config", file.to_str().unwrap(), "--out", "s", "--slurm"],
    );
    assert!(sub.status.success(), "{}", stderr(&sub));
    let sweep = dir.join("s");
    wait_for(&sweep, Duration::from_secs(300));
    let rows = csv(&sweep.join("results.csv"));
    assert_eq!(rows[0]["status"], "finished");
    assert_eq!(
        (rows[1]["status"].as_str(), rows[1]["exit_code"].as_str()),
        ("failed", "1")
    );
    let status = cgan_in(&dir, &["sweep", "--status", "s"]);
    let text = String::from_utf8_lossy(&status.stdout);
    let line = text.lines().find(|l| l.starts_with("001_")).unwrap();
    assert!(line.contains("failed") && line.contains("logs/001_"), "{text}");
    assert!(text.contains("/nonexistent/mnist"), "the error is shown: {text}");
    let log = std::fs::read_to_string(sweep.join("logs/001_seed=2_data_dir=-nonexistent-mnist.log")).unwrap();
    assert!(log.contains("/nonexistent/mnist"), "{log}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn submission_errors_name_the_problem() {
    if !slurm() {
        return;
    }
    let dir = scratch("errors");
    let file = sweep_file(&dir, "errors", 2, 2, false, "[grid]\nseed = [1]\n");
    let f = file.to_str().unwrap();
    // No sbatch on the PATH.
    let o = Command::new(env!("CARGO_BIN_EXE_cgan"))
        .current_dir(&dir)
        .env("PATH", "/nonexistent")
        .args(["sweep", "--config", f, "--out", "a", "--slurm"])
        .output()
        .unwrap();
    let err = stderr(&o);
    assert!(!o.status.success() && err.contains("no sbatch on the PATH"), "{err}");
    // The scheduler's own message for a rejected submission.
    let o = cgan_in(
        &dir,
        &["sweep", "--config", f, "--out", "b", "--slurm", "--partition", "nosuch"],
    );
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains("sbatch rejected") && err.contains("partition"),
        "{err}"
    );
    // A directory submitted already.
    let o = cgan_in(&dir, &["sweep", "--config", f, "--out", "c", "--slurm"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let job = job_id(&dir.join("c"));
    let o = cgan_in(&dir, &["sweep", "--config", f, "--out", "c", "--slurm"]);
    let err = stderr(&o);
    assert!(
        !o.status.success() && err.contains(&format!("submitted already (job {job})")),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    wait_for(&dir.join("c"), Duration::from_secs(300));
    let _ = std::fs::remove_dir_all(&dir);
}
