//! Ctrl-C and SIGTERM: the first asks the training loop to stop after the current step
//! (it writes a checkpoint and the pending summaries, then says how to resume); the
//! second stops the process at once.

use std::sync::atomic::{AtomicU32, Ordering};

static REQUESTS: AtomicU32 = AtomicU32::new(0);

/// The exit status of a process stopped by a signal (128 + SIGINT, as shells report it).
pub const EXIT_CODE: i32 = 130;

/// Installs the handler (once per process; later calls do nothing).
pub fn install() {
    // An error only means a handler is already installed: this one, by an earlier call.
    let _ = ctrlc::set_handler(|| {
        if REQUESTS.fetch_add(1, Ordering::SeqCst) >= 1 {
            eprintln!("\ncgan: second interrupt: stopping now (the last checkpoint on disk is kept)");
            std::process::exit(EXIT_CODE);
        }
        eprintln!("\ncgan: interrupt: finishing this step and writing a checkpoint (interrupt again to stop at once)");
    });
}

/// Whether a stop was asked for.
pub fn requested() -> bool {
    REQUESTS.load(Ordering::SeqCst) > 0
}
