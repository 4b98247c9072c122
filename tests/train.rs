//! The training harness on real MNIST: seeded runs, run directories, checkpoints,
//! resume, and the errors a user meets.

mod common;

use common::{gan_cls, scratch};

use cgan::cli::Cli;
use cgan::config::{Activation, Config, DLoss, DNorm, Preset};
use cgan::data::{load_mnist, Dataset};
use cgan::models::gan_cls::Gan;

use cgan::run::checkpoint;
use cgan::run::progress::Lines;
use cgan::run::train::{self, Target, TrainError};
use clap::Parser;
use std::path::{Path, PathBuf};

fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("data/mnist")
}

/// [`common::small`] with a checkpoint every 3 steps (so that a resume replays steps).
fn small(steps: u64) -> Config {
    Config {
        checkpoint_every: 3,
        ..common::small(steps)
    }
}

fn losses(cfg: &Config, steps: u64) -> Vec<[f32; 3]> {
    let m = load_mnist(&cfg.data_dir, cfg.output_activation.range()).unwrap();
    let mut data = Dataset::new(m.test, cfg.batch_size, cfg.seed).unwrap();
    let mut gan = Gan::new(cfg);
    (0..steps)
        .map(|s| {
            let st = gan.train_step(&mut data, s);
            [st.loss_g, st.loss_d, st.p_fake]
        })
        .collect()
}

#[test]
fn same_seed_same_losses_other_seed_other_losses() {
    let cfg = small(3);
    let a = losses(&cfg, 3);
    assert_eq!(a, losses(&cfg, 3));
    assert_ne!(a, losses(&Config { seed: 7, ..cfg.clone() }, 3));
    let sum = losses(
        &Config {
            d_loss: DLoss::Sum,
            ..cfg.clone()
        },
        1,
    );
    assert_ne!(sum[0][1], a[0][1], "sum weighs D's terms differently from reed");
    let no_ms = losses(
        &Config {
            mode_seeking: 0.0,
            ..cfg.clone()
        },
        2,
    );
    assert_eq!(
        no_ms[0][1], a[0][1],
        "the mode-seeking term leaves D's first step alone"
    );
    assert_ne!(no_ms[0][0], a[0][0], "it pairs G's labels, so G's batch differs");
    let shared = gan_cls(cfg.clone(), |m| m.shared_fake = true);
    let shared_no_ms = losses(
        &Config {
            mode_seeking: 0.0,
            ..shared.clone()
        },
        2,
    );
    assert_ne!(
        shared_no_ms[0][1],
        losses(&shared, 2)[0][1],
        "with shared fakes, D's fake term sees G's paired batch too"
    );
    let k2 = losses(&gan_cls(cfg.clone(), |m| m.k_steps = 2), 2);
    assert_ne!(k2[1], a[1], "two D steps per G step change the run");
    let int = losses(&gan_cls(cfg, |m| m.gan_int = 0.5), 2);
    assert_eq!(int[0][1], a[0][1], "GAN-INT leaves D's first step alone");
    assert_ne!(int[1], a[1], "GAN-INT changes G's updates");
}

#[test]
fn shared_fake_gives_d_the_fakes_g_learns_from() {
    let cfg = gan_cls(small(2), |m| m.shared_fake = true);
    let shared = losses(&cfg, 2);
    let separate = losses(&gan_cls(cfg.clone(), |m| m.shared_fake = false), 2);
    // D's first update judges another batch of fakes: G's, drawn from G's stream.
    assert_ne!(shared[0][1], separate[0][1]);
    assert_ne!(shared[0][2], separate[0][2]);
    assert_eq!(shared, losses(&cfg, 2), "still a function of the seed");
    // With k_steps = 2 only the last D update shares: the first draws its own.
    let k2 = |shared_fake| {
        losses(
            &gan_cls(cfg.clone(), |m| (m.k_steps, m.shared_fake) = (2, shared_fake)),
            1,
        )
    };
    assert_ne!(k2(true), k2(false));
}

#[test]
fn run_directory_holds_config_events_samples_and_checkpoints() {
    let dir = scratch("layout");
    let report = train::train(small(5), Target::New(dir.clone()), &mut Lines).unwrap();
    assert_eq!(report.steps, 5);
    // The loop's time splits into steps and what surrounds them (samples every 2 steps,
    // checkpoints): both are there and the steps' share is a part of the whole.
    assert!(report.step_seconds > 0.0, "{report:?}");
    assert!(report.step_seconds < report.wall_seconds, "{report:?}");
    assert!((0.0..1.0).contains(&report.loop_overhead()), "{report:?}");
    let saved = Config::load_run(&dir.join("config.toml")).unwrap();
    assert_eq!(saved, small(5), "the resolved config is saved and reloads identically");
    let events: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("events.out.tfevents."))
        .collect();
    assert_eq!(events.len(), 1);
    assert!(
        events[0].metadata().unwrap().len() > 10_000,
        "scalars and images were written"
    );
    // Checkpoints at 3 and at the end (5); samples at 2, 4 and 5.
    let steps: Vec<u64> = checkpoint::list(&dir).into_iter().map(|(s, _)| s).collect();
    assert_eq!(steps, vec![3, 5]);
    for s in [2, 4, 5] {
        let png = dir.join(format!("samples/all_{}.png", checkpoint::dir_name(s)));
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"), "{png:?}");
    }
    // A second run into the same directory is refused, nothing overwritten.
    let err = train::train(small(5), Target::New(dir.clone()), &mut Lines).unwrap_err();
    assert!(err.to_string().contains("--resume"), "{err}");
    assert_eq!(checkpoint::list(&dir).len(), 2);
}

fn g_bytes(dir: &Path, step: u64) -> Vec<u8> {
    std::fs::read(
        dir.join("checkpoints")
            .join(checkpoint::dir_name(step))
            .join("g.safetensors"),
    )
    .unwrap()
}

#[test]
fn resume_gives_the_weights_of_an_uninterrupted_run() {
    let (a, b) = (scratch("straight"), scratch("resumed"));
    train::train(small(6), Target::New(a.clone()), &mut Lines).unwrap();
    train::train(small(3), Target::New(b.clone()), &mut Lines).unwrap();
    let report = train::train(small(6), Target::Resume(b.clone()), &mut Lines).unwrap();
    assert_eq!(report.start_step, 3);
    assert_eq!(
        g_bytes(&a, 6),
        g_bytes(&b, 6),
        "resumed G differs from the uninterrupted one"
    );
    let d = |dir: &Path| std::fs::read(dir.join("checkpoints/step-00000006/d.safetensors")).unwrap();
    assert_eq!(d(&a), d(&b));
    let o = |dir: &Path| std::fs::read(dir.join("checkpoints/step-00000006/optim.safetensors")).unwrap();
    assert_eq!(o(&a), o(&b), "optimizer state");
}

#[test]
fn a_run_killed_before_its_first_checkpoint_resumes_from_step_0() {
    let (a, b) = (scratch("straight0"), scratch("nocheckpoint"));
    train::train(small(4), Target::New(a.clone()), &mut Lines).unwrap();
    train::train(small(4), Target::New(b.clone()), &mut Lines).unwrap();
    // What a kill between writing config.toml and the first checkpoint leaves behind.
    std::fs::remove_dir_all(b.join("checkpoints")).unwrap();
    let report = train::train(small(4), Target::Resume(b.clone()), &mut Lines).unwrap();
    assert_eq!(report.start_step, 0);
    assert_eq!(
        g_bytes(&a, 4),
        g_bytes(&b, 4),
        "restarted G differs from the uninterrupted one"
    );
}

#[test]
fn resume_skips_a_corrupt_latest_checkpoint_and_reports_it() {
    let dir = scratch("corrupt");
    let mut cfg = small(6);
    cfg.keep_checkpoints = 5;
    train::train(cfg.clone(), Target::New(dir.clone()), &mut Lines).unwrap();
    let latest = dir.join("checkpoints/step-00000006/g.safetensors");
    let len = std::fs::metadata(&latest).unwrap().len();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&latest)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let mut gan = Gan::new(&cfg);
    let err = checkpoint::load(&dir.join("checkpoints/step-00000006"), &mut gan)
        .unwrap_err()
        .to_string();
    assert!(err.contains("g.safetensors") && err.contains("unusable"), "{err}");
    assert!(!err.contains('\n'));
    let state = checkpoint::load_latest(&dir, &mut gan).unwrap();
    assert_eq!(state.step, 3, "falls back to the last complete checkpoint");
}

#[test]
fn resume_skips_a_checkpoint_whose_state_disagrees_with_its_directory() {
    let dir = scratch("inconsistent");
    let mut cfg = small(6);
    cfg.keep_checkpoints = 5;
    train::train(cfg.clone(), Target::New(dir.clone()), &mut Lines).unwrap();
    // A checkpoint copied by hand under a later step's name.
    let ck = dir.join("checkpoints");
    let fake = ck.join("step-00000009");
    std::fs::create_dir(&fake).unwrap();
    for e in std::fs::read_dir(ck.join("step-00000006")).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), fake.join(e.file_name())).unwrap();
    }
    let mut gan = Gan::new(&cfg);
    let err = checkpoint::load(&fake, &mut gan).unwrap_err().to_string();
    assert!(
        err.contains("step-00000009") && err.contains("step 9") && err.contains("step 6"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    let state = checkpoint::load_latest(&dir, &mut gan).unwrap();
    assert_eq!(state.step, 6, "falls back to the consistent checkpoint");
}

#[test]
fn checkpoint_of_another_architecture_is_refused() {
    let dir = scratch("arch");
    train::train(small(3), Target::New(dir.clone()), &mut Lines).unwrap();
    let ck = dir.join("checkpoints/step-00000003");
    // D's weights where G's belong: every tensor name and shape differs.
    std::fs::copy(ck.join("d.safetensors"), ck.join("g.safetensors")).unwrap();
    let mut gan = Gan::new(&small(3));
    let before = cgan::nn::params::params(&gan.g);
    let err = checkpoint::load(&ck, &mut gan).unwrap_err().to_string();
    assert!(err.contains("g.safetensors"), "{err}");
    assert_eq!(
        before,
        cgan::nn::params::params(&gan.g),
        "a failed load leaves the model as it was"
    );
}

#[test]
fn checkpoint_of_another_preset_is_refused_naming_what_differs() {
    let dir = scratch("preset-mismatch");
    train::train(small(3), Target::New(dir.clone()), &mut Lines).unwrap();
    let ck = dir.join("checkpoints/step-00000003");
    let article = Config {
        batch_size: 8,
        ..Preset::Article.config()
    };
    let mut gan = Gan::new(&article);
    let before = (cgan::nn::params::params(&gan.g), gan.d.params());
    let err = checkpoint::load(&ck, &mut gan).unwrap_err().to_string();
    assert!(
        err.contains("manifest.toml")
            && err.contains("model.d_norm = \"none\"")
            && err.contains("model.d_norm = \"batch\"")
            && err.contains("model.d_activation"),
        "{err}"
    );
    assert!(!err.contains('\n'));
    assert_eq!(
        before,
        (cgan::nn::params::params(&gan.g), gan.d.params()),
        "nothing loaded"
    );
    // G alone loads whatever D it was trained with.
    assert!(cgan::models::registry::load_generator(&ck).is_ok());
}

#[test]
fn resume_of_a_directory_that_is_not_a_run_is_an_error() {
    let dir = scratch("notarun");
    std::fs::create_dir_all(&dir).unwrap();
    let cli = Cli::try_parse_from(["cgan", "train", "--resume", dir.to_str().unwrap()]).unwrap();
    let cgan::cli::Command::Train(args) = cli.command else {
        panic!("parsed as train")
    };
    let err = args.resolve().unwrap_err();
    assert!(matches!(err, TrainError::RunDir { .. }));
    assert!(err.to_string().contains("not a run directory"), "{err}");
}

#[test]
fn bad_values_are_rejected_before_anything_runs() {
    for (flags, needle) in [
        (vec!["--batch-size", "0"], "batch_size"),
        (vec!["--lr", "-0.1"], "lr"),
        (vec!["--k-steps", "0"], "k_steps"),
        (vec!["--summary-every", "0"], "summary_every"),
        (vec!["--mode-seeking", "-1"], "mode_seeking"),
        (vec!["--batch-size", "1"], "mode_seeking"),
        (vec!["--lr-d-scale", "0"], "lr_d_scale"),
    ] {
        let dir = scratch("bad");
        let argv: Vec<&str> = ["cgan", "train", "--run-dir", dir.to_str().unwrap()]
            .into_iter()
            .chain(flags)
            .collect();
        let cli = Cli::try_parse_from(&argv).unwrap();
        let cgan::cli::Command::Train(args) = cli.command else {
            panic!("parsed as train")
        };
        let err = args.resolve().unwrap_err().to_string();
        assert!(err.contains(needle), "{argv:?}: {err}");
        assert!(!dir.exists(), "nothing was created for {argv:?}");
    }
    assert!(
        Cli::try_parse_from(["cgan", "train", "--d-loss", "mean"]).is_err(),
        "unknown enum value"
    );
    assert!(Cli::try_parse_from(["cgan", "train", "--steps", "many"]).is_err());
}

#[test]
fn config_file_with_unknown_key_or_bad_value_names_it() {
    let dir = scratch("cfgfile");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, "steps = 10\nlearning_rate = 0.1\n").unwrap();
    let err = Config::load(&path, None).unwrap_err().to_string();
    assert!(err.contains("learning_rate") && err.contains("c.toml"), "{err}");
    std::fs::write(&path, "d_loss = \"mean\"\n").unwrap();
    assert!(Config::load(&path, None).unwrap_err().to_string().contains("mean"));
    std::fs::write(&path, "steps = 10\nbatch_size = 4\n").unwrap();
    let cfg = Config::load(&path, None).unwrap();
    assert_eq!(
        (cfg.steps, cfg.batch_size, cfg.lr),
        (10, 4, 4e-4),
        "missing keys take the default preset's values"
    );
}

#[test]
fn presets_are_sets_of_values_and_the_default_is_mode_seeking() {
    let a = Preset::Article.config();
    let am = *a.model.gan_cls().expect("the article's model is GAN-CLS");
    assert_eq!(
        (a.batch_size, a.lr, a.beta1, a.d_loss, am.k_steps, a.mode_seeking),
        (32, 2e-4, 0.5, DLoss::Sum, 1, 0.0)
    );
    assert_eq!(
        (
            am.d_norm,
            am.d_activation,
            am.minibatch_std,
            am.spectral_norm,
            a.lr_d_scale
        ),
        (DNorm::Batch, Activation::Relu, false, false, 1.0)
    );
    assert_eq!(a.noise, cgan::config::NoiseKind::Uniform);
    let m = Config::default();
    assert_eq!(m, Preset::ModeSeeking.config());
    assert_eq!(m.preset, Preset::ModeSeeking);
    assert_eq!((am.g_ema, am.projection), (0.0, false));
    let mm = *m.model.gan_cls().expect("the default model is GAN-CLS");
    assert_eq!(
        (
            m.d_loss,
            mm.d_norm,
            mm.d_activation,
            m.mode_seeking,
            m.mode_seeking_cap,
            mm.g_ema
        ),
        (DLoss::Reed, DNorm::None, Activation::LeakyRelu, 2.0, 0.4, 0.999),
        "the ingredients the README's ablation measured, the term at weight 2"
    );
    assert_eq!(
        (m.steps, m.lr, m.lr_d_scale),
        (3000, 4e-4, 4.0),
        "issue 26's faster recipe: twice the article's lr for G, four times that for D"
    );
    assert_eq!(
        gan_cls(
            Config {
                preset: Preset::Article,
                steps: 6000,
                lr: 2e-4,
                lr_d_scale: 1.0,
                d_loss: DLoss::Sum,
                mode_seeking: 0.0,
                ..m.clone()
            },
            |m| (m.d_norm, m.d_activation, m.g_ema) = (DNorm::Batch, Activation::Relu, 0.0)
        ),
        a,
        "mode-seeking differs from article in those keys only"
    );
    for c in [a, m] {
        c.validate().unwrap();
        let back: Config = toml::from_str(&c.to_toml()).unwrap();
        assert_eq!(back, c);
    }
}

#[test]
fn a_config_file_starts_from_its_preset_and_the_flag_overrides_it() {
    let dir = scratch("presetfile");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("c.toml");
    std::fs::write(&path, "preset = \"article\"\nmode_seeking = 0.5\n").unwrap();
    let cfg = Config::load(&path, None).unwrap();
    assert_eq!(
        cfg,
        Config {
            mode_seeking: 0.5,
            ..Preset::Article.config()
        }
    );
    let over = Config::load(&path, Some(Preset::ModeSeeking)).unwrap();
    assert_eq!(
        over,
        Config {
            mode_seeking: 0.5,
            ..Preset::ModeSeeking.config()
        }
    );
    std::fs::write(&path, "preset = \"best\"\n").unwrap();
    let err = Config::load(&path, None).unwrap_err().to_string();
    assert!(
        err.contains("best") && err.contains("article") && err.contains("mode-seeking"),
        "{err}"
    );
    // A run's config.toml from before presets existed was the article's.
    std::fs::write(&path, "steps = 10\n").unwrap();
    assert_eq!(Config::load_run(&path).unwrap().preset, Preset::Article);
    assert_eq!(Config::load(&path, None).unwrap().preset, Preset::ModeSeeking);

    let parse = |args: &[&str]| {
        let argv: Vec<&str> = ["cgan", "train"].iter().chain(args).copied().collect();
        match Cli::try_parse_from(argv) {
            Ok(Cli {
                command: cgan::cli::Command::Train(a),
            }) => Ok(a),
            Ok(_) => panic!("parsed as train"),
            Err(e) => Err(e),
        }
    };
    let (cfg, _) = parse(&["--preset", "article", "--steps", "9"])
        .unwrap()
        .resolve()
        .unwrap();
    assert_eq!(
        cfg,
        Config {
            steps: 9,
            ..Preset::Article.config()
        }
    );
    assert!(
        parse(&["--preset", "article", "--resume", "runs/x"]).is_err(),
        "a run keeps its preset"
    );
    assert!(parse(&["--preset", "best"]).is_err());
}

#[test]
fn every_flag_lands_in_the_resolved_config() {
    let argv = [
        "cgan",
        "train",
        "--steps",
        "11",
        "--batch-size",
        "12",
        "--seed",
        "13",
        "--lr",
        "0.5",
        "--name",
        "n14",
        "--summary-every",
        "15",
        "--checkpoint-every",
        "16",
        "--d-loss",
        "reed",
        "--k-steps",
        "17",
        "--eval-every",
        "18",
        "--gan-int",
        "0.25",
        "--mode-seeking",
        "0.75",
        "--d-norm",
        "batch",
        "--d-activation",
        "relu",
        "--minibatch-std",
        "true",
        "--spectral-norm",
        "true",
        "--lr-d-scale",
        "2",
    ];
    let Ok(Cli {
        command: cgan::cli::Command::Train(args),
    }) = Cli::try_parse_from(argv)
    else {
        panic!("parses")
    };
    let (cfg, target) = args.resolve().unwrap();
    let want = gan_cls(
        Config {
            steps: 11,
            batch_size: 12,
            seed: 13,
            lr: 0.5,
            name: "n14".into(),
            summary_every: 15,
            checkpoint_every: 16,
            d_loss: DLoss::Reed,
            eval_every: 18,
            mode_seeking: 0.75,
            lr_d_scale: 2.0,
            ..Config::default()
        },
        |m| {
            (m.k_steps, m.gan_int, m.d_norm, m.d_activation) = (17, 0.25, DNorm::Batch, Activation::Relu);
            (m.minibatch_std, m.spectral_norm) = (true, true);
        },
    );
    assert_eq!(cfg, want);
    let Target::Unique(dir) = target else {
        panic!("a new run in a directory of its own")
    };
    assert!(
        dir.starts_with("runs") && dir.to_string_lossy().ends_with("_n14"),
        "{dir:?}"
    );
}

#[test]
fn missing_data_leaves_no_run_directory_behind() {
    let dir = scratch("nodata");
    let cfg = Config {
        data_dir: scratch("empty-data"),
        ..small(2)
    };
    let err = train::train(cfg, Target::New(dir.clone()), &mut Lines).unwrap_err();
    assert!(matches!(err, TrainError::Data(_)), "{err}");
    assert!(err.to_string().contains("make data"), "{err}");
    assert!(!dir.exists(), "no empty run directory");
}

#[test]
fn a_fashion_mnist_run_trains_with_class_tags_and_its_own_dirs() {
    let file = scratch("fashion-config").with_extension("toml");
    std::fs::write(&file, "dataset = \"fashion-mnist\"\nsteps = 2\n").unwrap();
    let cfg = Config::load(&file, None).unwrap();
    assert_eq!(cfg.data_dir, PathBuf::from("data/fashion-mnist"));
    assert_eq!(cfg.judge_dir, PathBuf::from("judges/fashion-mnist"));
    std::fs::write(&file, "dataset = \"fashion-mnist\"\ndata_dir = \"/elsewhere\"\n").unwrap();
    assert_eq!(Config::load(&file, None).unwrap().data_dir, PathBuf::from("/elsewhere"));
    let _ = std::fs::remove_file(&file);
    let from_flag = Cli::try_parse_from(["cgan", "train", "--dataset", "fashion-mnist"]).unwrap();
    let cgan::cli::Command::Train(args) = from_flag.command else {
        panic!()
    };
    let (cfg, _) = args.resolve().unwrap();
    assert_eq!(
        (cfg.data_dir.clone(), cfg.judge_dir.clone()),
        (
            PathBuf::from("data/fashion-mnist"),
            PathBuf::from("judges/fashion-mnist")
        )
    );

    let run = scratch("fashion");
    let cfg = Config {
        dataset: cgan::data::DatasetKind::FashionMnist,
        data_dir: data_dir().with_file_name("fashion-mnist"),
        ..small(2)
    };
    train::train(cfg, Target::New(run.clone()), &mut Lines).expect("a Fashion-MNIST run trains");
    let tags = common::tags(&run);
    assert!(
        tags.contains_key("samples/class_0") && tags.contains_key("samples/class_9"),
        "{:?}",
        tags.keys()
    );
    assert!(
        !tags.keys().any(|t| t.contains("digit")),
        "clothes are not digits: {:?}",
        tags.keys()
    );
    let saved = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(saved.contains("dataset = \"fashion-mnist\""), "{saved}");
    let _ = std::fs::remove_dir_all(&run);
}

#[test]
fn a_run_being_trained_is_locked_against_a_second_process() {
    let dir = scratch("locked");
    train::train(small(3), Target::New(dir.clone()), &mut Lines).unwrap();
    // Another process holds the run: a resume is refused at once, naming the holder.
    let mut holder = std::process::Command::new("flock")
        .arg(dir.join(cgan::run::lock::LOCK_FILE))
        .args(["sleep", "30"])
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    while std::fs::metadata(dir.join("lock")).is_err() || t0.elapsed().as_millis() < 300 {
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::fs::write(dir.join("lock"), "PID 4242 on host elsewhere\n").unwrap();
    let err = train::train(small(6), Target::Resume(dir.clone()), &mut Lines).unwrap_err();
    assert!(matches!(err, TrainError::Lock(_)), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("is being trained by PID 4242 on host elsewhere"), "{msg}");
    assert!(!msg.contains('\n'), "one line: {msg}");
    // Waiting (a requeued cluster task): it trains once the holder is gone.
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(800));
        holder.kill().unwrap();
        holder.wait().unwrap();
    });
    let report = train::train_waiting(
        small(6),
        Target::Resume(dir.clone()),
        &mut Lines,
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    killer.join().unwrap();
    assert_eq!((report.start_step, report.steps), (3, 6));
    // A process that died never leaves the run locked, and the lock names its last holder.
    let again = train::train(small(9), Target::Resume(dir.clone()), &mut Lines).unwrap();
    assert_eq!(again.start_step, 6);
    let held = std::fs::read_to_string(dir.join("lock")).unwrap();
    assert!(
        held.starts_with(&format!("PID {} on host ", std::process::id())),
        "{held}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn resuming_a_run_at_or_past_its_steps_says_so() {
    let dir = scratch("past");
    train::train(small(3), Target::New(dir.clone()), &mut Lines).unwrap();
    for steps in [2, 3] {
        let err = train::train(small(steps), Target::Resume(dir.clone()), &mut Lines)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is at step 3 already")
                && err.contains(&format!("steps = {steps}"))
                && err.contains("--steps"),
            "{err}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
