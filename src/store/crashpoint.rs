//! Simulated crashes for tests: every file-system step of the run folder (create, write,
//! fsync, rename, truncate) passes a crash point, and a test can arm the calling thread
//! to "die" at its N-th step. From then on every step on that thread fails with
//! [`Crashed`] and the error paths skip their clean-up (a killed process cleans up
//! nothing), so the folder is left exactly as a `kill -9` at that instant would leave it.
//!
//! The counter is thread-local: the run folder is written only by the thread that drives
//! the run, and tests running side by side do not disturb each other. Disarmed (the
//! default, and always outside tests that arm it) a crash point is one thread-local read.

use std::cell::Cell;
use std::io;

thread_local! {
    /// `(steps taken, crash at this step)`; `None` when disarmed.
    static ARMED: Cell<Option<(u64, u64)>> = const { Cell::new(None) };
}

/// The error a simulated crash returns.
#[derive(Debug, thiserror::Error)]
#[error("simulated crash at a file-system step (test hook)")]
pub struct Crashed;

/// Arm this thread to crash at its `step`-th crash point (1-based) from now on.
pub fn arm(step: u64) {
    ARMED.with(|a| a.set(Some((0, step.max(1)))));
}

/// Disarm this thread and return how many crash points it passed since [`arm`].
pub fn disarm() -> u64 {
    ARMED.with(|a| a.take().map(|(n, _)| n).unwrap_or(0))
}

/// Whether this thread has crashed (a step at or past the armed one was reached).
pub fn crashed() -> bool {
    ARMED.with(|a| a.get().is_some_and(|(n, at)| n >= at))
}

/// A crash point: counts the step and fails once the armed step is reached.
pub fn step() -> io::Result<()> {
    ARMED.with(|a| match a.get() {
        None => Ok(()),
        Some((n, at)) => {
            let n = n + 1;
            a.set(Some((n, at)));
            if n >= at { Err(io::Error::other(Crashed)) } else { Ok(()) }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fails_from_the_armed_step_on() {
        assert!(step().is_ok(), "disarmed");
        arm(3);
        assert!(step().is_ok() && step().is_ok());
        assert!(!crashed());
        assert!(step().is_err() && step().is_err());
        assert!(crashed());
        assert_eq!(disarm(), 4);
        assert!(step().is_ok() && !crashed());
    }
}
