//! Where a training step's wall time goes, phase by phase, for `make bench`.

use std::time::{Duration, Instant};

/// One part of a training step.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    /// Copying the real batch, drawing labels and noise.
    Data,
    /// G's forward passes (D's step and G's step).
    GForward,
    /// D's forward passes and the losses.
    DForward,
    /// Every backward pass.
    Backward,
    /// Adam on both networks, the moving average of G, D's power iteration.
    Optimiser,
}

impl Phase {
    /// Every phase, in the order `make bench` prints them.
    pub const ALL: [Phase; 5] = [
        Phase::Data,
        Phase::GForward,
        Phase::DForward,
        Phase::Backward,
        Phase::Optimiser,
    ];

    /// The phase's name in `make bench`'s output.
    pub fn name(self) -> &'static str {
        match self {
            Phase::Data => "data",
            Phase::GForward => "g_forward",
            Phase::DForward => "d_forward",
            Phase::Backward => "backward",
            Phase::Optimiser => "optimiser",
        }
    }
}

/// Wall time per phase, summed over the steps since the last [`PhaseTimes::reset`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PhaseTimes {
    total: [Duration; Phase::ALL.len()],
    /// Wait for the device at every phase boundary. A GPU runs asynchronously: without
    /// this a phase is charged for the launches only and the wait lands wherever the host
    /// next reads a value. Off by default, since it serialises host and device.
    pub synchronised: bool,
}

impl PhaseTimes {
    /// Adds the time since `*mark` to `phase` and moves the mark to now.
    pub fn lap(&mut self, phase: Phase, mark: &mut Instant) {
        let now = Instant::now();
        self.total[phase as usize] += now - *mark;
        *mark = now;
    }

    /// The time spent in `phase`.
    pub fn get(&self, phase: Phase) -> Duration {
        self.total[phase as usize]
    }

    /// Starts counting from zero (keeps [`PhaseTimes::synchronised`]).
    pub fn reset(&mut self) {
        self.total = Default::default();
    }
}
