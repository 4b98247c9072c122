//! Judge metrics during training: the `eval/...` tags, `eval.jsonl`, the best checkpoint
//! (lowest Frechet distance) and the mode-collapse alarm.

use crate::config::Config;
use crate::device::ModelDevice;
use crate::judge::classifier::Judge;
use crate::judge::metrics::{self, Reference};
use crate::models::registry::Manifest;
use crate::models::trainee::Trainee;
use crate::run::checkpoint;
use crate::tensorboard::tags;
use crate::tensorboard::writer::Summaries;
use std::path::Path;

use crate::run::error::TrainError;
use crate::run::summaries::flush;

/// `best/best.toml`: which step the best checkpoint (lowest Frechet distance) is.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Best {
    /// Step of the checkpoint in `best/`.
    pub step: u64,
    /// Its Frechet distance.
    pub frechet_distance: f64,
}

/// Every evaluation during training, one JSON object per line (`step` and the metrics of
/// `cgan eval --json`): the run's record of its judge metrics, readable without TensorBoard.
pub const EVAL_HISTORY: &str = "eval.jsonl";

fn append_history(run: &Path, step: u64, m: &metrics::Metrics) -> Result<(), TrainError> {
    use std::io::Write;
    let path = run.join(EVAL_HISTORY);
    let mut line = serde_json::to_value(m).unwrap_or_default();
    line["step"] = step.into();
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .and_then(|mut f| writeln!(f, "{line}"))
        .map_err(|e| TrainError::RunDir {
            path,
            why: e.to_string(),
        })
}

/// Judge metrics during training: `eval/...` tags, the best checkpoint, the alarm.
pub(crate) struct Evaluator {
    judge: Judge,
    reference: Reference,
    best: Option<Best>,
    alarmed: bool,
}

impl Evaluator {
    /// Loads (or trains) the judge. A resumed run's `eval.jsonl` keeps only the
    /// evaluations up to `start`, like its TensorBoard scalars.
    pub(crate) fn new(cfg: &Config, run: &Path, start: u64) -> Result<Self, TrainError> {
        let history = run.join(EVAL_HISTORY);
        if let Ok(text) = std::fs::read_to_string(&history) {
            let kept: String = text
                .lines()
                .filter(|l| {
                    serde_json::from_str::<serde_json::Value>(l)
                        .ok()
                        .and_then(|v| v["step"].as_u64())
                        .is_some_and(|s| s <= start)
                })
                .map(|l| format!("{l}\n"))
                .collect();
            std::fs::write(&history, kept).map_err(|e| TrainError::RunDir {
                path: history.clone(),
                why: e.to_string(),
            })?;
        }
        let judge = Judge::load_or_train(&cfg.judge_dir, &cfg.data_dir, cfg.dataset, &mut |m| {
            eprintln!("cgan: {m}")
        })?;
        let mnist = crate::data::load(&cfg.data_dir, cfg.dataset, crate::judge::classifier::RANGE)?;
        let reference = Reference::new(&judge, &mnist, cfg.eval_samples, cfg.seed);
        let best = std::fs::read_to_string(run.join("best/best.toml"))
            .ok()
            .and_then(|t| toml::from_str(&t).ok());
        Ok(Self {
            judge,
            reference,
            best,
            alarmed: false,
        })
    }

    pub(crate) fn run<D: ModelDevice, M: Trainee<D>>(
        &mut self,
        gan: &mut M,
        tb: &mut Summaries,
        step: u64,
        run: &Path,
    ) -> Result<metrics::Metrics, TrainError> {
        let cfg = gan.config().clone();
        let how = Manifest::of(&cfg).generator;
        let (images, labels) = metrics::generated(gan.sampler(), &how, cfg.eval_samples, cfg.seed);
        let m = metrics::score(&self.judge, &self.reference, &images, &labels);
        append_history(run, step, &m)?;
        for (tag, v) in m.scalars() {
            tb.scalar(tag, v as f32, step);
        }
        for (d, v) in m.conditional_accuracy_per_digit.iter().enumerate() {
            tb.scalar(&tags::conditional_accuracy_class(cfg.dataset, d), *v as f32, step);
        }
        flush(tb)?;
        if m.collapse_alarm && !self.alarmed {
            self.alarmed = true;
            eprintln!(
                "cgan: mode-collapse alarm at step {step}: diversity ratio {:.3} < {} (samples of a digit look alike)",
                m.diversity_ratio,
                metrics::COLLAPSE_THRESHOLD
            );
        }
        if self
            .best
            .as_ref()
            .is_none_or(|b| m.frechet_distance < b.frechet_distance)
        {
            let best = Best {
                step,
                frechet_distance: m.frechet_distance,
            };
            let dir = run.join("best");
            checkpoint::save_dir(&dir, gan, step)?;
            std::fs::write(dir.join("best.toml"), toml::to_string(&best).unwrap_or_default()).map_err(|e| {
                TrainError::RunDir {
                    path: dir,
                    why: e.to_string(),
                }
            })?;
            self.best = Some(best);
        }
        Ok(m)
    }
}
