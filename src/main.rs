//! The `outerloop` command: parse flags, call the library, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = outerloop::cli::Cli::parse();
    match outerloop::cli::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => outerloop::cli::report::exit_with(&err),
    }
}
