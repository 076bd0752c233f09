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

/// A spinner counting the inner-loop episodes this process finishes while `work` runs
/// (`analyze` and `compare` run several batches whose total depends on the run, so it
/// shows the count and the elapsed time rather than an ETA); lines every 5 s under
/// `-v`, nothing under `-q`.
pub fn counting_episodes<T>(what: &str, work: impl FnOnce() -> T) -> T {
    use crate::sim::evaluator::EPISODES_DONE;
    let start = EPISODES_DONE.load(Ordering::Relaxed);
    let level = verbosity();
    if level == Verbosity::Quiet {
        return work();
    }
    let bar = bar(0, what);
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {what}: {{msg}} episodes run [{{elapsed_precise}}]"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let done = std::sync::atomic::AtomicBool::new(false);
    let out = std::thread::scope(|s| {
        s.spawn(|| {
            let began = std::time::Instant::now();
            let mut last_line = 0u64;
            while !done.load(Ordering::Relaxed) {
                let n = EPISODES_DONE.load(Ordering::Relaxed) - start;
                bar.set_message(n.to_string());
                bar.tick();
                let secs = began.elapsed().as_secs();
                if level == Verbosity::Verbose && secs >= last_line + 5 {
                    last_line = secs;
                    eprintln!("[{secs:>5} s] {what}: {n} episodes run");
                }
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
        });
        let out = work();
        done.store(true, Ordering::Relaxed);
        out
    });
    bar.finish_and_clear();
    out
}
