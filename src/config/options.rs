//! The value types of the config's keys that name a choice: G's output activation and
//! noise, D's normalisation and activation. The models give them their behaviour.

use serde::{Deserialize, Serialize};

/// G's last activation; the data is scaled to its range.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputActivation {
    /// tanh, data in [-1, 1] (DCGAN's advice; the default).
    #[default]
    Tanh,
    /// sigmoid, data in [0, 1] (the article's TensorFlow code).
    Sigmoid,
}

impl OutputActivation {
    /// `(low, high)` of the pixel range this activation produces.
    pub fn range(self) -> (f32, f32) {
        match self {
            OutputActivation::Tanh => (-1.0, 1.0),
            OutputActivation::Sigmoid => (0.0, 1.0),
        }
    }
}

/// The distribution of the noise vector z.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoiseKind {
    /// U(-1, 1), the article's choice (the default).
    #[default]
    Uniform,
    /// N(0, 1).
    Normal,
}

/// D's normalisation after its first two convolutions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum DNorm {
    /// BatchNorm (the article).
    #[default]
    Batch,
    /// None.
    None,
}

/// The adversarial loss of D and G.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum AdversarialLoss {
    /// Binary cross-entropy on D's logit; G's is the non-saturating BCE(D(G(z)), 1) (the article).
    #[default]
    Bce,
    /// Hinge: D's terms max(0, 1 - D(x)) for real and max(0, 1 + D(x)) for the rest; G's is
    /// -D(G(z)) (Lim & Ye 2017; SAGAN, BigGAN).
    Hinge,
}

/// D's activation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// max(0, x) (the article).
    #[default]
    Relu,
    /// max(0.2 x, x).
    #[value(name = "leaky_relu")]
    LeakyRelu,
}
