//! Command-line interface: one file per subcommand, flags defined once with their help.
//!
//! Only this module prints (standard output through [`out`], never `println!`, which
//! clippy's `print_stdout` refuses everywhere) or uses `anyhow`.

pub mod analyze;
pub mod executor;
pub mod export;
pub mod inspect;
pub mod interrupt;
pub mod live_server;
pub mod lm;
pub mod load;
pub mod mech;
pub mod out;
pub mod progress;
pub mod report;
pub mod reproduce;
pub mod run;
pub mod swarm;
pub mod table;
pub mod task;
pub mod trial;
pub mod watch;
pub mod worker;

use clap::{Args, Parser, Subcommand};

use crate::diagnostic::InputError;

/// The most worker threads a command accepts (far above any machine's cores; a larger
/// number is a typo, and the system may not be able to start them).
pub const MAX_THREADS: usize = 1024;

/// The `--threads` flag, defined once for every command that takes it.
#[derive(Debug, Clone, Copy, Args)]
pub struct Threads {
    /// Worker threads (default: every core). Results do not depend on it.
    #[arg(long = "threads", value_name = "N")]
    pub threads: Option<usize>,
}

impl Threads {
    /// The number of workers: the flag, else every core; 0 or more than
    /// [`MAX_THREADS`] is a usage error.
    pub fn count(self) -> Result<usize, InputError> {
        match self.threads {
            Some(0) => Err(InputError::usage("--threads must be at least 1", "e.g. --threads 2")),
            Some(n) if n > MAX_THREADS => Err(InputError::usage(
                format!("--threads {n} is more than {MAX_THREADS}"),
                "results do not depend on it; one per core is fastest",
            )),
            Some(n) => Ok(n),
            None => Ok(std::thread::available_parallelism().map_or(1, |n| n.get())),
        }
    }

    /// Size the global worker pool (episode batches) when the flag is given.
    pub fn configure_pool(self) -> Result<(), InputError> {
        if let Some(n) = self.threads {
            self.count()?;
            // Fails if the pool was already built (the first configuration stands) or
            // the system cannot start that many threads.
            if let Err(e) = rayon::ThreadPoolBuilder::new().num_threads(n).build_global()
                && rayon::current_num_threads() != n
                && !e.to_string().contains("already")
            {
                return Err(InputError::usage(format!("cannot start {n} worker threads: {e}"), "use fewer --threads"));
            }
        }
        Ok(())
    }
}

/// outerloop: evolve the search mechanisms of an inner research loop.
#[derive(Debug, Parser)]
#[command(name = "outerloop", version, about, long_about = None)]
pub struct Cli {
    /// Print no progress, only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print progress as one line per step instead of a bar (for logs).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train one GPT trial and print its score, curve, cost and time.
    Trial(trial::TrialArgs),
    /// Build and summarise tables of real GPT trials (the `gpt-table` objective).
    Table(table::TableArgs),
    /// List the task suite; serve a task to external optimizers (ask/tell on stdin/stdout).
    Task(task::TaskArgs),
    /// Check, format, list, run and tabulate mechanism genomes.
    Mech(mech::MechArgs),
    /// Run a scenario: evolve mechanisms and write a run folder.
    Run(run::RunArgs),
    /// Resume a run folder from its latest checkpoint.
    Resume(run::ResumeArgs),
    /// Show a run folder's population and champion lineage.
    Inspect(inspect::InspectArgs),
    /// Export a run's mechanisms, events and ancestry graph (csv, json, graphml, dot).
    Export(export::ExportArgs),
    /// Write a report on a run: progress, lineage, novelty, live genes, attribution, scaling.
    Analyze(analyze::AnalyzeArgs),
    /// Compare runs (e.g. ablation arms) on common episodes, with factorial effects.
    Compare(analyze::CompareArgs),
    /// Run a model-swarm scenario: PSO in the weight space of trained GPT experts.
    Swarm(swarm::SwarmArgs),
    /// Reproduce the field's claims: run the scenario sets, write REPRODUCTIONS.md.
    Reproduce(reproduce::ReproduceArgs),
    /// Serve a live view of a run (ancestry, history, progress) on 127.0.0.1.
    Watch(watch::WatchArgs),
    /// Train and serve the mechanism language model (an OpenAI-compatible endpoint for the LLM proposer).
    Lm(lm::LmArgs),
    /// Run one array task of an episode batch (what the Slurm executor submits).
    #[command(hide = true)]
    Worker(worker::WorkerArgs),
}

/// Run a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    progress::set(cli.quiet, cli.verbose);
    match cli.command {
        Command::Trial(args) => trial::run(args),
        Command::Table(args) => table::run(args),
        Command::Task(args) => task::run(args),
        Command::Mech(args) => mech::run(args),
        Command::Run(args) => run::run(args),
        Command::Resume(args) => run::resume(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Export(args) => export::run(args),
        Command::Analyze(args) => analyze::run(args),
        Command::Compare(args) => analyze::compare_runs(args),
        Command::Swarm(args) => swarm::run(args),
        Command::Reproduce(args) => reproduce::run(args),
        Command::Watch(args) => watch::run(args),
        Command::Lm(args) => lm::run(args),
        Command::Worker(args) => worker::run(args),
    }
}
