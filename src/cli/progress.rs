//! Progress on standard error for long commands: `-q` hides it, `-v` turns bars into one
//! line per step (for logs), and bars show the elapsed time and an ETA. Results never
//! depend on it; it writes nothing to standard output.

use std::sync::atomic::{AtomicU8, Ordering};

use indicatif::{ProgressBar, ProgressStyle};

/// How much a command says while it works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verbosity {
    /// `-q`: errors only.
    Quiet,
    /// Progress bars.
    Normal,
    /// `-v`: one line per step.
    Verbose,
}

static LEVEL: AtomicU8 = AtomicU8::new(1);

/// Set the process's verbosity from the global flags.
pub fn set(quiet: bool, verbose: u8) {
    let level = if quiet {
        0
    } else if verbose > 0 {
        2
    } else {
        1
    };
    LEVEL.store(level, Ordering::Relaxed);
}

/// The process's verbosity.
pub fn verbosity() -> Verbosity {
    match LEVEL.load(Ordering::Relaxed) {
        0 => Verbosity::Quiet,
        1 => Verbosity::Normal,
        _ => Verbosity::Verbose,
    }
}

/// A bar of `len` steps named `what`, with elapsed time and ETA (hidden under `-q` and
/// under `-v`, which logs lines instead: see [`step_line`]).
pub fn bar(len: u64, what: &str) -> ProgressBar {
    if verbosity() != Verbosity::Normal {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {what} {{pos}}/{{len}} [{{elapsed_precise}}, ETA {{eta}}] {{wide_bar}} {{msg}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Under `-v`, print one progress line to standard error.
pub fn step_line(line: impl FnOnce() -> String) {
    if verbosity() == Verbosity::Verbose {
        eprintln!("{}", line());
    }
}
