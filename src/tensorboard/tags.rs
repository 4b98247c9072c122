//! Every TensorBoard tag a run writes, declared once. Tag names are an interface (the
//! docs, the TensorBoard check and users' dashboards name them): change them only on
//! purpose.

use crate::data::datasets::DatasetKind;

/// G's loss.
pub const LOSS_G: &str = "loss/generator";
/// D's total loss.
pub const LOSS_D: &str = "loss/discriminator";
/// D's term on real images with right labels.
pub const D_REAL_RIGHT: &str = "loss/d_real_right";
/// D's term on real images with wrong labels.
pub const D_REAL_WRONG: &str = "loss/d_real_wrong";
/// D's term on generated images.
pub const D_FAKE: &str = "loss/d_fake";
/// The mode-seeking term in G's loss (only when it is on).
pub const MODE_SEEKING: &str = "loss/mode_seeking";
/// Its ratio of image to noise distances (only when it is on).
pub const MODE_SEEKING_RATIO: &str = "loss/mode_seeking_ratio";
/// D's mean probability on real images with right labels.
pub const P_REAL_RIGHT: &str = "probabilities/p_real_right";
/// D's mean probability on real images with wrong labels.
pub const P_REAL_WRONG: &str = "probabilities/p_real_wrong";
/// D's mean probability on generated images.
pub const P_FAKE: &str = "probabilities/p_fake";
/// Training speed between summaries.
pub const STEPS_PER_SECOND: &str = "perf/steps_per_second";

/// The judge's conditional accuracy.
pub const CONDITIONAL_ACCURACY: &str = "eval/conditional_accuracy";
/// The judge's MNIST score.
pub const MNIST_SCORE: &str = "eval/mnist_score";
/// Frechet distance of judge features, samples vs real test images.
pub const FRECHET_DISTANCE: &str = "eval/frechet_distance";
/// The same, real train vs real test: the floor of the above.
pub const FRECHET_FLOOR: &str = "eval/frechet_distance_real_floor";
/// Within-digit diversity, samples / real.
pub const DIVERSITY_RATIO: &str = "eval/diversity_ratio";
/// 1 when the diversity ratio is below the collapse threshold.
pub const COLLAPSE_ALARM: &str = "eval/collapse_alarm";
/// How many generated samples each `eval/*` point scored.
pub const EVAL_SAMPLES: &str = "eval/samples";

/// The sample grid: rows of fixed noise, one column per digit.
pub const SAMPLES_ALL: &str = "samples/all";
/// A batch of real training images.
pub const REAL_BATCH: &str = "real/batch";
/// The resolved config as text.
pub const CONFIG_TEXT: &str = "config";

/// `eval/conditional_accuracy_digit_d` (`..._class_d` on a dataset of other things).
pub fn conditional_accuracy_class(dataset: DatasetKind, d: usize) -> String {
    format!("eval/conditional_accuracy_{}_{d}", dataset.class_word())
}

/// `samples/digit_d` (`samples/class_d` on a dataset of other things).
pub fn samples_class(dataset: DatasetKind, d: usize) -> String {
    format!("samples/{}_{d}", dataset.class_word())
}

/// `weights/<net>/<param>`.
pub fn weights(net: &str, param: &str) -> String {
    format!("weights/{net}/{param}")
}

/// D's three loss terms, in the article's order.
pub const D_TERMS: [&str; 3] = [D_REAL_RIGHT, D_REAL_WRONG, D_FAKE];
/// The three probabilities the article tells you to watch.
pub const PROBABILITIES: [&str; 3] = [P_REAL_RIGHT, P_REAL_WRONG, P_FAKE];

/// `loss/level_<side>/generator`: G's loss at one LAPGAN level.
pub fn level_loss_g(side: usize) -> String {
    format!("loss/level_{side}/generator")
}

/// `loss/level_<side>/discriminator`: D's loss at one LAPGAN level.
pub fn level_loss_d(side: usize) -> String {
    format!("loss/level_{side}/discriminator")
}

/// `probabilities/level_<side>/p_real`: D's mean probability on real images (level 7) or
/// real residuals with right labels at one LAPGAN level.
pub fn level_p_real(side: usize) -> String {
    format!("probabilities/level_{side}/p_real")
}

/// `probabilities/level_<side>/p_real_wrong`: the same with wrong labels.
pub fn level_p_real_wrong(side: usize) -> String {
    format!("probabilities/level_{side}/p_real_wrong")
}

/// `probabilities/level_<side>/p_fake`: the same on generated ones.
pub fn level_p_fake(side: usize) -> String {
    format!("probabilities/level_{side}/p_fake")
}

/// `samples/level_<side>`: LAPGAN's images at a coarser level on the run's fixed noise,
/// shown at 28 x 28 (each pixel repeated); the finest level is `samples/all`.
pub fn samples_level(side: usize) -> String {
    format!("samples/level_{side}")
}

/// `loss/level_<side>/mode_seeking`: the mode-seeking term in a LAPGAN level's G loss
/// (level 7, only when `mode_seeking` is on).
pub fn level_mode_seeking(side: usize) -> String {
    format!("loss/level_{side}/mode_seeking")
}

/// `loss/level_<side>/mode_seeking_ratio`: its ratio of image to noise distances.
pub fn level_mode_seeking_ratio(side: usize) -> String {
    format!("loss/level_{side}/mode_seeking_ratio")
}
