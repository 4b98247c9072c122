//! How training reports its progress: a bar on a terminal, plain lines elsewhere.

use crate::models::trainee::StepReport;

/// How progress is shown.
pub trait Progress {
    /// Called after every step.
    fn step(&mut self, step: u64, total: u64, stats: &dyn StepReport);
    /// Called at every summary with the measured speed.
    fn summary(&mut self, step: u64, total: u64, stats: &dyn StepReport, steps_per_second: f64);
    /// Called once at the end.
    fn finish(&mut self) {}
}

/// A progress bar on a terminal.
pub struct Bar(indicatif::ProgressBar);

impl Bar {
    /// A bar over `total` steps (a resumed run's bar jumps to its step at the first step).
    pub fn new(total: u64) -> Self {
        let bar = indicatif::ProgressBar::new(total);
        bar.set_style(
            indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {per_sec} eta {eta} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        Self(bar)
    }
}

impl Progress for Bar {
    fn step(&mut self, step: u64, _: u64, stats: &dyn StepReport) {
        self.0.set_position(step);
        if step.is_multiple_of(10) {
            self.0.set_message(stats.line());
        }
    }
    fn summary(&mut self, _: u64, _: u64, _: &dyn StepReport, _: f64) {}
    fn finish(&mut self) {
        self.0.finish();
    }
}

/// Plain lines at every summary (for logs and CI).
pub struct Lines;

impl Progress for Lines {
    fn step(&mut self, _: u64, _: u64, _: &dyn StepReport) {}
    fn summary(&mut self, step: u64, total: u64, stats: &dyn StepReport, sps: f64) {
        let eta = total.saturating_sub(step) as f64 / sps.max(1e-9);
        eprintln!("step {step}/{total} {sps:.2} steps/s eta {eta:.0}s {}", stats.line());
    }
}
