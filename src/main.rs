//! The `outerloop` command: parse flags, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// Exit status of a command whose output pipe was closed (128 + SIGPIPE, as a shell
/// reports a tool killed by it).
const EXIT_BROKEN_PIPE: i32 = 141;

/// Exit status of a command that could not write its standard output (a full disk,
/// `>/dev/full`): an I/O failure, reported in one line.
const EXIT_OUTPUT_FAILED: i32 = 1;

fn main() -> ExitCode {
    clean_exit_on_output_errors();
    let cli = outerloop::cli::Cli::parse();
    let code = match outerloop::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => outerloop::cli::report::exit_with(&err),
    };
    // What is still buffered must reach its file too: a failure here is the command's.
    if let Err(e) = std::io::Write::flush(&mut std::io::stdout()) {
        output_failed(&e.to_string());
    }
    code
}

/// Every write to standard output goes through `print!`/`println!`, which panic when the
/// write fails. `outerloop ... | head` closes the pipe early (Rust ignores SIGPIPE): stop
/// quietly with 141, as other Unix tools do. Any other failure (`>/dev/full`, a full
/// disk) ends the command with one line on stderr and exit 1, never a panic message.
fn clean_exit_on_output_errors() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if let Some(error) = message.strip_prefix("failed printing to stdout: ") {
            output_failed(error);
        }
        default(info)
    }));
}

/// End the process for a failed write to standard output (see
/// [`clean_exit_on_output_errors`]).
fn output_failed(error: &str) -> ! {
    if error.contains("Broken pipe") {
        std::process::exit(EXIT_BROKEN_PIPE);
    }
    eprintln!("error: cannot write to standard output: {error}");
    std::process::exit(EXIT_OUTPUT_FAILED);
}
