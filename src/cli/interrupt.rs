//! Ctrl-C for the commands that drive a run (`run`, `resume`, a swarm's steps): the first
//! press asks the driver to stop after the step under way is saved; a second ends the
//! process at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// A flag Ctrl-C sets: the run stops after the tick (a swarm run: the step) under way is
/// saved. A second Ctrl-C ends the process at once (the folder resumes from the last
/// saved tick).
pub fn on_ctrl_c() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let seen = flag.clone();
    // Fails only if a handler is already set (a second run in this process): keep it.
    let _ = ctrlc::set_handler(move || {
        if seen.swap(true, Ordering::SeqCst) {
            std::process::exit(i32::from(super::report::EXIT_INTERRUPTED));
        }
        eprintln!("\nCtrl-C: finishing the step under way (Ctrl-C again to stop at once)");
    });
    flag
}
