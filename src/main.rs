//! The `outerloop` command: parse flags, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

/// Exit status of a command whose output pipe was closed (128 + SIGPIPE, as a shell
/// reports a tool killed by it).
const EXIT_BROKEN_PIPE: i32 = 141;

fn main() -> ExitCode {
    quiet_on_broken_pipe();
    let cli = outerloop::cli::Cli::parse();
    match outerloop::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => outerloop::cli::report::exit_with(&err),
    }
}

/// `outerloop ... | head` closes standard output early. Rust ignores SIGPIPE, so the
/// next `println!` panics; stop quietly instead, as other Unix tools do.
fn quiet_on_broken_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if message.contains("Broken pipe") {
            std::process::exit(EXIT_BROKEN_PIPE);
        }
        default(info)
    }));
}
