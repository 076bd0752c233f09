//! `outerloop run SCENARIO` and `outerloop resume DIR`: drive a run to its end with a
//! progress bar, then print the summary.

use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use crate::scenario;
use crate::store::run_dir::Run;

/// Flags of `run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Output folder (default: the scenario's `out`, else populations/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads.
    #[command(flatten)]
    pub threads: super::Threads,
    /// Stop after this many ticks (the run stays resumable), for testing.
    #[arg(long, hide = true)]
    pub stop_after: Option<u32>,
}

/// Flags of `resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// A run folder written by `run`.
    pub dir: PathBuf,
    /// Worker threads.
    #[command(flatten)]
    pub threads: super::Threads,
}

/// Run `outerloop run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Ok(text) = std::fs::read_to_string(&args.scenario)
        && crate::swarm::is_swarm_scenario(&text)
    {
        return super::swarm::run_file(&args.scenario, args.out, args.threads);
    }
    args.threads.configure_pool()?;
    let scenario = scenario::load(&args.scenario)?;
    let run = Run::start(scenario, args.out)?;
    drive(run, args.stop_after)
}

/// Run `outerloop resume`.
pub fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    args.threads.configure_pool()?;
    let run = Run::resume(&args.dir)?;
    drive(run, None)
}

fn drive(mut run: Run, stop_after: Option<u32>) -> anyhow::Result<()> {
    let started = Instant::now();
    let total = run.scenario().ticks as u64;
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{spinner} tick {pos}/{len} [{elapsed_precise}] {wide_bar} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(run.sim().ticks_done() as u64);
    let mut steps = 0;
    while !run.finished() {
        if stop_after.is_some_and(|n| steps >= n) {
            bar.abandon();
            println!("stopped after {steps} ticks; resume with `outerloop resume {}`", run.dir().display());
            return Ok(());
        }
        let row = run.step()?;
        steps += 1;
        bar.inc(1);
        if let Some(r) = row {
            bar.set_message(format!("population {} best verified {:+.3}", r.population, r.best_verified));
        }
    }
    bar.finish_and_clear();
    let summary = run.finish()?;
    print!("{summary}");
    println!(
        "\nresults in {}: summary.txt metrics.csv events.jsonl ancestry.dot checkpoint.bin lessons.bin scenario.toml",
        run.dir().display()
    );
    println!("finished in {:.1} s", started.elapsed().as_secs_f64());
    println!("report (novelty, live genes, scaling): outerloop analyze {}", run.dir().display());
    Ok(())
}
