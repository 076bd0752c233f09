//! The `outerloop` command: parse flags, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = outerloop::cli::Cli::parse();
    let code = match outerloop::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => outerloop::cli::report::exit_with(&err),
    };
    // What is still buffered must reach its file too: a failure here is the command's
    // (every write goes through `cli::out`, which ends the process cleanly on failure).
    outerloop::cli::out::flush();
    code
}
