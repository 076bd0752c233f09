//! Standard output: the one path every command writes its results through ([`outln!`],
//! [`out!`], [`flush`]). A write that fails ends the command cleanly instead of
//! panicking as `println!` does: `outerloop ... | head` closes the pipe early (Rust
//! ignores SIGPIPE), so a broken pipe stops quietly with 141, as other Unix tools do;
//! any other failure (`>/dev/full`, a full disk) is one line on stderr and exit 1.
//! Every file the command was writing is written atomically, so stopping here loses
//! nothing already written.

use std::io::Write;

/// Exit status of a command whose output pipe was closed (128 + SIGPIPE, as a shell
/// reports a tool killed by it).
pub const EXIT_BROKEN_PIPE: i32 = 141;

/// Exit status of a command that could not write its standard output: an I/O failure.
pub const EXIT_OUTPUT_FAILED: i32 = 1;

/// Write `args` to standard output, or end the process as the module says.
pub fn write(args: std::fmt::Arguments) {
    if let Err(e) = std::io::stdout().lock().write_fmt(args) {
        failed(&e);
    }
}

/// Flush standard output (what is still buffered must reach its file too), or end the
/// process as the module says.
pub fn flush() {
    if let Err(e) = std::io::stdout().lock().flush() {
        failed(&e);
    }
}

/// End the process for a failed write to standard output.
fn failed(error: &std::io::Error) -> ! {
    if error.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(EXIT_BROKEN_PIPE);
    }
    // Stderr may be gone too: then the exit status says it.
    let _ = writeln!(std::io::stderr(), "error: cannot write to standard output: {error}");
    std::process::exit(EXIT_OUTPUT_FAILED);
}

/// `println!` through [`write`].
macro_rules! outln {
    () => {
        $crate::cli::out::write(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` through [`write`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::cli::out::write(format_args!($($arg)*))
    };
}

pub(crate) use {out, outln};
