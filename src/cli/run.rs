//! `outerloop run SCENARIO` and `outerloop resume DIR`: drive a run to its end with a
//! progress bar, then print the summary.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::cli::out::{out, outln};
use crate::diagnostic::InputError;
use crate::driver::{Driven, Run, Stops};
use crate::exec::Executor;
use crate::scenario;
use crate::scenario::overrides::{self, Override};

/// Flags of `run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// Scenario file (TOML).
    pub scenario: PathBuf,
    /// Output folder (default: the scenario's `out`, else populations/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Override the scenario's root seed (a replicate: same scenario, another seed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Override the scenario's number of ticks.
    #[arg(long)]
    pub ticks: Option<u32>,
    /// Override a scenario key, e.g. `--set inner.seeds=4` (repeatable; checked like the file).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Worker threads.
    #[command(flatten)]
    pub threads: super::Threads,
    /// Where episode batches run.
    #[command(flatten)]
    pub executor: super::executor::ExecutorArgs,
    /// Run K replicates: the scenario with seeds S, S+1, ..., S+K-1 (S is --seed or the
    /// file's seed), each in OUT/seed-<s>; finished replicates are kept, interrupted ones
    /// resumed. Compare them with `outerloop compare OUT/seed-*`.
    #[arg(long, value_name = "K")]
    pub replicates: Option<u32>,
    /// Replace a run already in the output folder (its files are deleted first; other
    /// files there are kept), e.g. a damaged one or one of another scenario.
    #[arg(long)]
    pub force: bool,
    /// Stop after this many ticks (the run stays resumable), for testing.
    #[arg(long, hide = true)]
    pub stop_after: Option<u32>,
    /// Read the language-model proposer's replies from this record of an earlier run's
    /// exchanges (its run folder, or the `llm/` folder in it) before asking the
    /// endpoint (repeatable): a rerun that needs no endpoint.
    #[arg(long, value_name = "FOLDER")]
    pub llm_replay: Vec<PathBuf>,
}

/// Flags of `resume`.
#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// A run folder written by `run`.
    pub dir: PathBuf,
    /// Worker threads.
    #[command(flatten)]
    pub threads: super::Threads,
    /// Where episode batches run.
    #[command(flatten)]
    pub executor: super::executor::ExecutorArgs,
    /// Read the language-model proposer's replies from this record of another run's
    /// exchanges too (its run folder, or the `llm/` folder in it; repeatable).
    #[arg(long, value_name = "FOLDER")]
    pub llm_replay: Vec<PathBuf>,
}

/// The `llm/` records named by `--llm-replay` (a run folder names the record in it).
fn replay_records(folders: &[PathBuf]) -> Result<Vec<PathBuf>, InputError> {
    folders
        .iter()
        .map(|f| {
            let inner = f.join(crate::llm::record::FOLDER);
            if inner.is_dir() {
                Ok(inner)
            } else if f.is_dir() {
                Ok(f.clone())
            } else {
                Err(InputError::file(
                    f,
                    "--llm-replay names no folder",
                    "name a run folder (or the `llm/` folder in it) holding recorded exchanges",
                ))
            }
        })
        .collect()
}

/// Run `outerloop run`.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Ok(text) = crate::input::read_text(&args.scenario)
        && crate::swarm::is_swarm_scenario(&text)
    {
        let outer_loop_only = [
            (args.seed.is_some(), "--seed"),
            (args.ticks.is_some(), "--ticks"),
            (!args.set.is_empty(), "--set"),
            (args.replicates.is_some(), "--replicates"),
            (args.force, "--force"),
            (args.stop_after.is_some(), "--stop-after"),
            (!args.llm_replay.is_empty(), "--llm-replay"),
        ];
        if let Some((_, flag)) = outer_loop_only.iter().find(|(given, _)| *given) {
            return Err(crate::diagnostic::InputError::usage(
                format!(
                    "{flag} applies to outer-loop scenarios, not to the model-swarm scenario {}",
                    args.scenario.display()
                ),
                "edit the swarm scenario's keys instead (seed, seeds, ...), or choose another --out folder",
            )
            .into());
        }
        return super::swarm::run_file(&args.scenario, args.out, args.threads, &args.executor);
    }
    args.threads.configure_pool()?;
    if let Some(k) = args.replicates {
        return run_replicates(args.clone(), k);
    }
    let scenario = load_with_overrides(&args)?;
    let dir = args.out.clone().unwrap_or_else(|| scenario.out.clone());
    let records = replay_records(&args.llm_replay)?;
    let executor = prepare_folder(&args, &dir)?;
    let mut run = Run::start(scenario, Some(dir), executor)?;
    run.replay_from(&records);
    drive(run, args.stop_after)
}

/// Before a run starts in `dir`: the executor for it and, with `--force`, the run
/// already there deleted.
fn prepare_folder(args: &RunArgs, dir: &Path) -> anyhow::Result<Executor> {
    let executor = args.executor.build(&dir.join("batches"))?;
    if args.force {
        crate::store::run_dir::remove_run(dir)?;
    }
    Ok(executor)
}

/// The most replicates one `run --replicates` makes.
const MAX_REPLICATES: u32 = 1000;

/// `run --replicates K`: K runs of one scenario differing only in their seed.
fn run_replicates(args: RunArgs, k: u32) -> anyhow::Result<()> {
    if k == 0 || k > MAX_REPLICATES {
        return Err(InputError::usage(
            format!("--replicates {k} is not from 1 to {MAX_REPLICATES}"),
            "e.g. --replicates 5",
        )
        .into());
    }
    let base = load_with_overrides(&args)?;
    let root = args.out.clone().unwrap_or_else(|| base.out.clone());
    let first = base.seed;
    let Some(last) = first.checked_add(u64::from(k) - 1).filter(|s| *s < 1 << 63) else {
        return Err(InputError::usage("the replicates' seeds would overflow", "use a smaller --seed").into());
    };
    for seed in first..=last {
        let dir = root.join(format!("seed-{seed}"));
        let one = RunArgs { seed: Some(seed), out: Some(dir.clone()), replicates: None, ..args.clone() };
        let scenario = load_with_overrides(&one)?;
        let executor = prepare_folder(&one, &dir)?;
        let mut run = if dir.join(crate::store::run_dir::files::SUMMARY).exists() {
            outln!("replicate seed {seed}: finished earlier in {}", dir.display());
            continue;
        } else if dir.join(crate::store::run_dir::files::CHECKPOINT).exists() {
            Run::resume(&dir, executor)?
        } else {
            Run::start(scenario, Some(dir), executor)?
        };
        run.replay_from(&replay_records(&args.llm_replay)?);
        outln!("\n== replicate seed {seed} ({} of {k})", seed - first + 1);
        drive(run, args.stop_after)?;
    }
    outln!(
        "\n{k} replicates in {}/seed-{first}..seed-{last}; compare them with `outerloop compare {}/seed-*`",
        root.display(),
        root.display()
    );
    Ok(())
}

/// The scenario file with `--seed`, `--ticks` and `--set` applied (the file as it is
/// when none is given). Overridden scenarios are named `<file> (with overrides)` in
/// messages, whose line numbers refer to the overridden text they show.
fn load_with_overrides(args: &RunArgs) -> Result<scenario::Scenario, InputError> {
    let mut overrides = Vec::new();
    if let Some(seed) = args.seed {
        let seed = i64::try_from(seed)
            .map_err(|_| InputError::usage(format!("--seed {seed} is too large"), "use a seed below 2^63"))?;
        overrides.push(Override { key: "seed".into(), value: toml::Value::Integer(seed) });
    }
    if let Some(ticks) = args.ticks {
        overrides.push(Override { key: "ticks".into(), value: toml::Value::Integer(i64::from(ticks)) });
    }
    for flag in &args.set {
        overrides.push(Override::parse(flag)?);
    }
    if overrides.is_empty() {
        return scenario::load(&args.scenario);
    }
    let text = crate::input::read_text(&args.scenario)?;
    let text = overrides::apply(&args.scenario, &text, &overrides)?;
    let base = args.scenario.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let label = PathBuf::from(format!("{} (with overrides)", args.scenario.display()));
    scenario::parse_in(&label, &text, base)
}

/// Run `outerloop resume`.
pub fn resume(args: ResumeArgs) -> anyhow::Result<()> {
    if let Ok(text) = crate::input::read_text(&args.dir.join("scenario.toml"))
        && crate::swarm::is_swarm_scenario(&text)
    {
        return super::swarm::resume_dir(&args.dir, args.threads, &args.executor);
    }
    args.threads.configure_pool()?;
    let records = replay_records(&args.llm_replay)?;
    let executor = args.executor.build(&args.dir.join("batches"))?;
    let mut run = Run::resume(&args.dir, executor)?;
    run.replay_from(&records);
    drive(run, None)
}

/// Drive `run` with a progress bar (a line per tick under `-v`), stopping after
/// `stop_after` ticks or at Ctrl-C, then print the summary and where the files are.
fn drive(mut run: Run, stop_after: Option<u32>) -> anyhow::Result<()> {
    let started = Instant::now();
    let total = run.scenario().ticks as u64;
    let bar = super::progress::bar(total, "tick");
    bar.set_position(run.sim().ticks_done() as u64);
    let interrupted = super::interrupt::on_ctrl_c();
    let stops = Stops { after: stop_after, flag: Some(interrupted.as_ref()) };
    let oracle = run.oracle();
    let driven = crate::driver::drive(&mut run, stops, |r| {
        for notice in oracle.iter().flat_map(|o| o.notices()) {
            bar.suspend(|| eprintln!("warning: {notice}"));
        }
        bar.inc(1);
        bar.set_message(format!("population {} best verified {:+.3}", r.population, r.best_verified));
        super::progress::step_line(|| {
            format!(
                "tick {}/{total}: population {} best verified {:+.3} compute {:.0} ({:.1} s)",
                r.tick + 1,
                r.population,
                r.best_verified,
                r.compute,
                started.elapsed().as_secs_f64()
            )
        });
    })?;
    let summary = match driven {
        Driven::Finished(summary) => summary,
        Driven::StoppedAfter(steps) => {
            bar.abandon();
            outln!("stopped after {steps} ticks; resume with `outerloop resume {}`", run.dir().display());
            return Ok(());
        }
        Driven::Interrupted => {
            bar.abandon();
            return Err(super::report::Interrupted(format!(
                "interrupted: tick {} of {} is saved; resume with `outerloop resume {}`",
                run.sim().ticks_done(),
                run.scenario().ticks,
                run.dir().display()
            ))
            .into());
        }
    };
    bar.finish_and_clear();
    out!("{summary}");
    outln!(
        "\nresults in {}: summary.txt metrics.csv events.jsonl ancestry.dot checkpoint.bin lessons.bin scenario.toml",
        run.dir().display()
    );
    outln!("finished in {:.1} s", started.elapsed().as_secs_f64());
    outln!("report (novelty, live genes, scaling): outerloop analyze {}", run.dir().display());
    Ok(())
}
