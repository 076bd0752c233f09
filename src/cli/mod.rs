//! Command-line interface: one file per subcommand, flags defined once with their help.
//!
//! Only this module prints or uses `anyhow`.

#![expect(clippy::print_stdout, reason = "the CLI is the one place that prints results")]

pub mod load;
pub mod mech;
pub mod report;
pub mod trial;

use clap::{Parser, Subcommand};

/// outerloop: evolve the search mechanisms of an inner research loop.
#[derive(Debug, Parser)]
#[command(name = "outerloop", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one GPT trial and print its score, curve, cost and time.
    Trial(trial::TrialArgs),
    /// Check, format, run and compare mechanism genomes.
    Mech(mech::MechArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Trial(args) => trial::run(args),
        Command::Mech(args) => mech::run(args),
    }
}
