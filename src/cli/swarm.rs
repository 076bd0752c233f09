//! `outerloop swarm SCENARIO` (also reached by `outerloop run` on a scenario with
//! `kind = "model-swarm"`): train the experts, run the model swarm and the merge
//! baselines, print the report table and where the run folder is.

use std::path::{Path, PathBuf};
use std::time::Instant;

use clap::Args;

use crate::cli::out::{out, outln};
use crate::exec::Workers;
use crate::swarm::{SwarmError, scenario};

/// Flags of `swarm`.
#[derive(Debug, Args)]
pub struct SwarmArgs {
    /// Model-swarm scenario file (TOML with `kind = "model-swarm"`).
    pub scenario: PathBuf,
    /// Output folder (default: the scenario's `out`, else populations/<name>).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Worker threads.
    #[command(flatten)]
    pub threads: super::Threads,
    /// Where the training and scoring batches run.
    #[command(flatten)]
    pub executor: super::executor::ExecutorArgs,
}

/// Run `outerloop swarm`.
pub fn run(args: SwarmArgs) -> anyhow::Result<()> {
    run_file(&args.scenario, args.out, args.threads, &args.executor)
}

/// Run a model-swarm scenario file (shared with `outerloop run`).
pub fn run_file(
    path: &Path,
    out: Option<PathBuf>,
    threads: super::Threads,
    executor: &super::executor::ExecutorArgs,
) -> anyhow::Result<()> {
    crate::objective::gpt::init_process_threads();
    let threads = threads.count()?;
    let sc = scenario::load(path)?;
    let dir = out
        // A path the file names is relative to the file's folder.
        .or_else(|| sc.out.as_ref().map(|o| path.parent().unwrap_or(Path::new("")).join(o)))
        .unwrap_or_else(|| PathBuf::from("populations").join(&sc.name));
    let workers = Workers { executor: executor.build(&dir.join("batches"))?, threads };
    drive(&sc, &dir, |progress, stop| crate::swarm::run::run_until(&sc, &dir, &workers, progress, Some(stop)))
}

/// Resume a stopped model-swarm run folder (shared with `outerloop resume`).
pub fn resume_dir(dir: &Path, threads: super::Threads, executor: &super::executor::ExecutorArgs) -> anyhow::Result<()> {
    crate::objective::gpt::init_process_threads();
    let threads = threads.count()?;
    let sc = scenario::load(&dir.join("scenario.toml"))?;
    let workers = Workers { executor: executor.build(&dir.join("batches"))?, threads };
    drive(&sc, dir, |progress, stop| {
        crate::swarm::run::resume_until(dir, &workers, progress, Some(stop)).map(|(_, report)| report)
    })
}

/// Show progress while `work` runs, then print the report and where the files are.
fn drive(
    sc: &scenario::SwarmScenario,
    dir: &Path,
    work: impl FnOnce(
        crate::swarm::run::Progress,
        std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> Result<crate::swarm::SwarmReport, SwarmError>,
) -> anyhow::Result<()> {
    let started = Instant::now();
    // One step per phase message: the two training phases, then per seed the swarm's
    // start, each iteration (at most max_iters: patience may stop it sooner) and the test.
    let steps = 2 + sc.seeds * (sc.pso.max_iters + 2);
    let bar = super::progress::bar(steps as u64, "swarm steps");
    let progress = |msg: &str| {
        bar.inc(1);
        bar.set_message(msg.to_string());
        super::progress::step_line(|| format!("[{:>7.1} s] {msg}", started.elapsed().as_secs_f64()));
    };
    // Bad input (a used output folder) goes up as an `InputError`, so it exits with 2;
    // a Ctrl-C stop as `Interrupted`, exit 130.
    let report = work(&progress, super::interrupt::on_ctrl_c()).map_err(|e| match e {
        SwarmError::Input(input) => anyhow::Error::from(input),
        SwarmError::Stopped => {
            bar.abandon();
            anyhow::Error::from(super::report::Interrupted(format!(
                "interrupted: the last step is saved; resume with `outerloop resume {}`",
                dir.display()
            )))
        }
        other => anyhow::Error::from(other),
    })?;
    bar.finish_and_clear();
    out!("{}", report.markdown());
    outln!(
        "results in {}: report.md report.json events.jsonl scenario.toml seed-*/{{*.safetensors, lineage.graphml, lineage.dot}}",
        dir.display()
    );
    outln!("finished in {:.1} s", started.elapsed().as_secs_f64());
    Ok(())
}
