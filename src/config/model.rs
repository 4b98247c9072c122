//! The config's `[model]` table: which architecture trains, tagged by `kind`, with only
//! the keys that architecture has. A LAPGAN config cannot name D's keys: the table of
//! `kind = "lapgan"` has no such fields, so TOML refuses them like any unknown key.
//!
//! The same table is saved as the checkpoint's manifest (`[model]` of `manifest.toml`).
//! Configs written before the table existed named the model and its keys at the top level
//! (`model = "gan-cls"`, `d_norm = ...`); [`merge`] moves them into the table.

use super::options::{Activation, AdversarialLoss, DNorm};
use serde::{Deserialize, Serialize};

/// Which system trains (the `kind` of the `[model]` table).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    /// The article's G and the matching-aware D (GAN-CLS), in the variant the D keys pick.
    #[default]
    GanCls,
    /// LAPGAN: its own networks per level. `d_loss` weighs every level's D terms,
    /// `mode_seeking` acts on the 7 x 7 level.
    Lapgan,
}

impl ModelKind {
    /// The kind as `[model] kind` spells it.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::GanCls => "gan-cls",
            ModelKind::Lapgan => "lapgan",
        }
    }
}

/// The `[model]` table: the architecture and its own settings.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum ModelConfig {
    /// The article's conditional GAN.
    GanCls(GanClsConfig),
    /// LAPGAN's pyramid (no keys of its own: its levels have fixed networks).
    Lapgan(LapganConfig),
}

impl Default for ModelConfig {
    fn default() -> Self {
        ModelConfig::GanCls(GanClsConfig::default())
    }
}

impl ModelConfig {
    /// The article's settings of the architecture `kind`.
    pub fn of_kind(kind: ModelKind) -> Self {
        match kind {
            ModelKind::GanCls => ModelConfig::GanCls(GanClsConfig::default()),
            ModelKind::Lapgan => ModelConfig::Lapgan(LapganConfig {}),
        }
    }

    /// Which architecture this is.
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::GanCls(_) => ModelKind::GanCls,
            ModelConfig::Lapgan(_) => ModelKind::Lapgan,
        }
    }

    /// The GAN-CLS settings, if this is the GAN-CLS model.
    pub fn gan_cls(&self) -> Option<&GanClsConfig> {
        match self {
            ModelConfig::GanCls(m) => Some(m),
            ModelConfig::Lapgan(_) => None,
        }
    }

    /// The GAN-CLS settings to change, or an error naming `key` when this model has no
    /// such setting (what a `--d-norm` on a LAPGAN run gets).
    pub fn gan_cls_mut(&mut self, key: &str) -> Result<&mut GanClsConfig, String> {
        match self {
            ModelConfig::GanCls(m) => Ok(m),
            other => Err(format!(
                "{key} does not apply to [model] kind = \"{}\" (its levels have their own networks and losses); drop it or train kind = \"gan-cls\"",
                other.kind().name()
            )),
        }
    }

    /// Whether samples come from a moving average of G's weights.
    pub fn averaged(&self) -> bool {
        self.gan_cls().is_some_and(|m| m.g_ema > 0.0)
    }

    /// Rejects values no run can use, naming the key as `model.KEY`.
    pub fn validate(&self) -> Result<(), String> {
        let Some(m) = self.gan_cls() else {
            return Ok(());
        };
        if m.k_steps == 0 {
            return Err("model.k_steps must be at least 1, got 0".into());
        }
        if !(m.gan_int >= 0.0 && m.gan_int.is_finite()) {
            return Err(format!(
                "model.gan_int must be a number >= 0 (0 turns it off), got {}",
                m.gan_int
            ));
        }
        if !(0.0..1.0).contains(&m.g_ema) {
            return Err(format!(
                "model.g_ema must be in [0, 1) (0 turns it off), got {}",
                m.g_ema
            ));
        }
        Ok(())
    }
}

/// The GAN-CLS model's own keys: its training procedure and D's variant.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GanClsConfig {
    /// D steps per G step.
    pub k_steps: u32,
    /// G runs once per step: the last D update's fake term and G's update share G's
    /// output (GAN-CLS's Algorithm 1; PyTorch's DCGAN example), a quarter less work per
    /// step. Off by default: on the default preset it learned the condition more slowly
    /// (docs/speed.md). `false`: D's step draws its own G(z, right labels).
    pub shared_fake: bool,
    /// GAN-INT weight beta: G also learns on interpolated conditions t c1 + (1 - t) c2
    /// (Reed et al.); 0 turns it off.
    pub gan_int: f64,
    /// Decay of an exponential moving average of G's weights (0: off), warmed up as
    /// `min(g_ema, (1 + step) / (10 + step))`. When on, samples, evaluations and
    /// `cgan generate` use the average (Yazici et al. 2019).
    pub g_ema: f64,
    /// D's normalisation after its first two convs: `batch` (the article) or `none`.
    pub d_norm: DNorm,
    /// D's activation: `relu` (the article) or `leaky_relu` (slope 0.2).
    pub d_activation: Activation,
    /// A minibatch-standard-deviation map beside the label map at D's 4x4 stage.
    pub minibatch_std: bool,
    /// Spectral normalisation of every weight of D (one power iteration per D step).
    pub spectral_norm: bool,
    /// Projection conditioning in D: its logit gains <embed(c), features> (Miyato &
    /// Koyama 2018), beside the article's label map.
    pub projection: bool,
    /// The adversarial loss: `bce` (the article) or `hinge`; `d_loss` still weighs D's
    /// three terms.
    pub adversarial_loss: AdversarialLoss,
}

impl Default for GanClsConfig {
    /// The article's settings.
    fn default() -> Self {
        Self {
            k_steps: 1,
            shared_fake: false,
            gan_int: 0.0,
            g_ema: 0.0,
            d_norm: DNorm::Batch,
            d_activation: Activation::Relu,
            minibatch_std: false,
            spectral_norm: false,
            projection: false,
            adversarial_loss: AdversarialLoss::Bce,
        }
    }
}

/// LAPGAN's `[model]` table: only its `kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LapganConfig {}

/// The keys some architecture has in `[model]`: what a config from before the table
/// existed (or a sweep's grid, or a flag) may name at the top level.
pub fn model_keys() -> Vec<String> {
    match toml::Table::try_from(GanClsConfig::default()) {
        Ok(t) => t.keys().cloned().collect(),
        Err(_) => Vec::new(),
    }
}

/// `key` as its path in the config: `model.KEY` for a model key, else `key`.
pub fn key_path(key: &str) -> String {
    if model_keys().iter().any(|k| k == key) {
        format!("model.{key}")
    } else {
        key.to_string()
    }
}

/// `over` applied to `base` (both config tables): top-level keys replace, the `[model]`
/// table merges key by key (from the new kind's article settings when `over` changes
/// the kind). Model keys `over` names at the top level go into its `[model]` table; a
/// legacy `model = "lapgan"` drops the D keys such configs carried without using them.
/// A key the kind does not have is refused, naming the key, the kind and the fix.
pub fn merge(mut base: toml::Table, mut over: toml::Table) -> Result<toml::Table, String> {
    let mut model_over = match over.remove("model") {
        Some(toml::Value::Table(t)) => t,
        Some(kind) => {
            let mut t = toml::Table::new();
            t.insert("kind".into(), kind);
            let legacy_lapgan = t.get("kind").and_then(|k| k.as_str()) == Some(ModelKind::Lapgan.name());
            if legacy_lapgan {
                drop_unused_legacy_keys(&mut over);
            }
            t
        }
        None => toml::Table::new(),
    };
    for key in model_keys() {
        if let Some(v) = over.remove(&key) {
            model_over.entry(key).or_insert(v);
        }
    }
    let base_model = match base.remove("model") {
        Some(toml::Value::Table(t)) => t,
        _ => toml::Table::new(),
    };
    let same_kind = model_over.get("kind").is_none_or(|k| Some(k) == base_model.get("kind"));
    let mut model = if same_kind {
        base_model
    } else {
        let kind = model_over.get("kind").cloned();
        let kind: Option<ModelKind> = kind.and_then(|k| k.try_into().ok());
        // An unknown kind: leave it to deserialising, which names the kinds there are.
        kind.and_then(|k| toml::Table::try_from(ModelConfig::of_kind(k)).ok())
            .unwrap_or_default()
    };
    model.extend(model_over);
    check_keys(&model)?;
    base.extend(over);
    base.insert("model".into(), toml::Value::Table(model));
    Ok(base)
}

/// Refuses a key of another architecture in a `[model]` table of a known kind.
fn check_keys(model: &toml::Table) -> Result<(), String> {
    let Some(kind) = model.get("kind").cloned().and_then(|k| ModelKind::deserialize(k).ok()) else {
        return Ok(());
    };
    let own = toml::Table::try_from(ModelConfig::of_kind(kind)).unwrap_or_default();
    let others = model_keys();
    match model.keys().find(|k| !own.contains_key(*k) && others.contains(k)) {
        Some(key) => Err(format!(
            "{key} is not a key of [model] kind = \"{}\" (its levels have their own networks and losses); drop it, or train kind = \"gan-cls\"",
            kind.name()
        )),
        None => Ok(()),
    }
}

/// A pre-`[model]` LAPGAN config saved every key, D's included, though LAPGAN used none:
/// those that were at the article's value (all that validation let through) go.
fn drop_unused_legacy_keys(over: &mut toml::Table) {
    let defaults = toml::Table::try_from(GanClsConfig::default()).unwrap_or_default();
    for (key, default) in defaults {
        let ignored = key == "d_norm" || key == "d_activation";
        if over.get(&key).is_some_and(|v| ignored || *v == default) {
            over.remove(&key);
        }
    }
}
