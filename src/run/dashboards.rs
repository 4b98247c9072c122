//! What a run puts on TensorBoard's HPARAMS and CUSTOM SCALARS dashboards: every config
//! key as a hyperparameter, the judge's metrics as the columns runs are compared by, and
//! charts that draw related curves on one set of axes.

use crate::config::model::key_path;
use crate::config::Config;
use crate::tensorboard::tags;
use crate::tensorboard::writer::{exactly, HValue, LayoutCategory, MetricSpec};

/// The keys the HPARAMS dashboard lists first (it shows the first five until the user
/// picks others; a sweep's own keys go before these).
pub const FIRST_KEYS: [&str; 5] = ["preset", "seed", "lr", "steps", "batch_size"];

/// Every config key and its value (`[model]`'s as `model.KEY`), as the HPARAMS dashboard shows them: `first` keys
/// in that order, then [`FIRST_KEYS`], then the rest alphabetically.
pub fn hparams(cfg: &Config, first: &[String]) -> Vec<(String, HValue)> {
    // A sweep may name a `[model]` key at the top level (`d_norm`): rank it by its path.
    let first: Vec<String> = first.iter().map(|k| key_path(k)).collect();
    let rank = |k: &str| {
        first
            .iter()
            .position(|f| f == k)
            .or_else(|| FIRST_KEYS.iter().position(|f| *f == k).map(|i| first.len() + i))
            .unwrap_or(usize::MAX)
    };
    let mut entries = cfg.flat();
    entries.sort_by(|(a, _), (b, _)| rank(a).cmp(&rank(b)).then(a.cmp(b)));
    entries
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                toml::Value::String(s) => HValue::Text(s),
                toml::Value::Integer(i) => HValue::Number(i as f64),
                // The dashboard's JSON has no infinity (a capless mode-seeking term).
                toml::Value::Float(x) if x.is_finite() => HValue::Number(x),
                toml::Value::Float(x) => HValue::Text(x.to_string()),
                toml::Value::Boolean(b) => HValue::Bool(b),
                other => HValue::Text(other.to_string()),
            };
            (k, v)
        })
        .collect()
}

/// The metrics runs are compared by: the judge's (with the sample count they were
/// scored on), D's probabilities and the speed, each a run's last value of its tag.
pub fn metrics(cfg: &Config) -> Vec<MetricSpec> {
    let n = cfg.eval_samples;
    let judge = [
        (
            tags::CONDITIONAL_ACCURACY,
            "conditional accuracy".to_string(),
            "share of samples the judge classifies as the digit asked for (higher is better)",
        ),
        (
            tags::FRECHET_DISTANCE,
            format!("Frechet distance ({n} samples)"),
            "judge-feature Frechet distance, samples vs real test images (lower is better)",
        ),
        (
            tags::FRECHET_FLOOR,
            format!("Frechet floor ({n} samples)"),
            "the same, real train vs real test: what as-good-as-real scores",
        ),
        (
            tags::DIVERSITY_RATIO,
            "diversity ratio".to_string(),
            "within-digit feature spread, samples / real (about 1 is real; low is mode collapse)",
        ),
        (
            tags::MNIST_SCORE,
            "MNIST score".to_string(),
            "exp(E KL(p(y|x) || p(y))) with the judge: 10 at best",
        ),
        (
            tags::COLLAPSE_ALARM,
            "collapse alarm".to_string(),
            "1 when the diversity ratio is below the alarm threshold",
        ),
    ];
    let training = [
        (
            tags::P_REAL_RIGHT,
            "p_real_right".to_string(),
            "D's mean probability on real images with right labels",
        ),
        (
            tags::P_REAL_WRONG,
            "p_real_wrong".to_string(),
            "D's mean probability on real images with wrong labels",
        ),
        (
            tags::P_FAKE,
            "p_fake".to_string(),
            "D's mean probability on generated images",
        ),
        (
            tags::STEPS_PER_SECOND,
            "steps/s".to_string(),
            "training speed between the last two summaries",
        ),
    ];
    let judged = cfg.eval_every > 0;
    judge
        .into_iter()
        .filter(|_| judged)
        .chain(training)
        .map(|(tag, display_name, description)| MetricSpec {
            tag: tag.into(),
            display_name,
            description: description.into(),
        })
        .collect()
}

/// The CUSTOM SCALARS layout: the model's own charts (`model`: for GAN-CLS the article's
/// three probabilities in one chart, D's three loss terms in another), then the judge's
/// metrics with the Frechet distance's floor.
pub fn layout(cfg: &Config, model: Vec<LayoutCategory>) -> Vec<LayoutCategory> {
    let mut categories = model;
    if cfg.eval_every > 0 {
        categories.push(LayoutCategory {
            title: "Judge".into(),
            charts: vec![
                (
                    format!("Frechet distance and its real floor ({} samples)", cfg.eval_samples),
                    vec![exactly(tags::FRECHET_DISTANCE), exactly(tags::FRECHET_FLOOR)],
                ),
                (
                    "Conditional accuracy and diversity ratio".into(),
                    vec![exactly(tags::CONDITIONAL_ACCURACY), exactly(tags::DIVERSITY_RATIO)],
                ),
            ],
        });
    }
    categories
}
