//! Counter-based seeding: every random draw of a run is a pure function of
//! (config seed, stream, index), so a resumed run needs no RNG state beyond its step and
//! the same seed gives the same run.

use rand::rngs::StdRng;
use rand::SeedableRng;

/// Independent random streams of a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u64)]
pub enum Stream {
    /// Model initialisation: [`INIT_WEIGHTS`], [`INIT_SPECTRAL`].
    Init = 1,
    /// Order of the training set in one epoch (index = epoch).
    Shuffle = 2,
    /// Wrong labels of one batch (index = step).
    WrongLabels = 3,
    /// Noise and labels of one training step (index = step).
    Step = 4,
    /// The fixed noise of the sample grids.
    FixedNoise = 5,
    /// Anything a tool draws outside training (generation, evaluation).
    Tool = 6,
}

/// Index in [`Stream::Init`] of the seed of every weight (G's, then D's).
pub const INIT_WEIGHTS: u64 = 0;
/// Index in [`Stream::Init`] of D's spectral-norm power-iteration vectors.
pub const INIT_SPECTRAL: u64 = 1;

/// SplitMix64's finaliser: a bijective mix, so distinct inputs never collide.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d049bb133111eb);
    z ^ (z >> 31)
}

/// The generator for draw `index` of `stream` under `seed`.
pub fn stream_rng(seed: u64, stream: Stream, index: u64) -> StdRng {
    StdRng::seed_from_u64(mix(mix(mix(seed) ^ stream as u64) ^ index))
}

/// Index in [`Stream::Step`] of D update number `index` (noise, labels of that update).
pub fn d_step(index: u64) -> u64 {
    2 * index
}

/// Index in [`Stream::Step`] of G's update at `step`.
pub fn g_step(step: u64) -> u64 {
    2 * step + 1
}
