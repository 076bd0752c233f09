//! `outerloop analyze RUN_DIR` and `outerloop compare RUN_DIR...`: reports with
//! embedded SVG figures, written as Markdown, one self-contained HTML page and JSON.

use std::path::{Path, PathBuf};

use clap::Args;

use crate::analysis::doc::Doc;
use crate::analysis::novelty::Thresholds;
use crate::analysis::run_data::RunData;
use crate::analysis::{Options, analyze, compare, render};
use crate::cli::out::outln;
use crate::diagnostic::InputError;
use crate::store::atomic::write_atomic;

/// Flags of `analyze`.
#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// A run folder.
    pub dir: PathBuf,
    /// Output folder (default: RUN_DIR/analysis).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Fresh episodes per task for novelty and live genes.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub episodes: u32,
    /// Fresh episodes per held-out task and budget for the scaling curves.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub scaling_episodes: u32,
    /// Mechanisms in the novelty table, champion included.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=50))]
    pub top: u64,
    /// Structural distance (0..1) to every library mechanism a new mechanism must reach.
    #[arg(long, default_value_t = 0.3)]
    pub structural_threshold: f64,
    /// Behavioural distance (0..1) to every library mechanism a new mechanism must reach.
    #[arg(long, default_value_t = 0.05)]
    pub behavioural_threshold: f64,
    /// Skip the search-step scaling curves (the slowest section).
    #[arg(long)]
    pub no_scaling: bool,
    /// Held-out tasks or suites, comma-separated (default: suite:gpt-heldout for GPT
    /// runs minus the run's own tasks; other instances for BBOB runs).
    #[arg(long, value_name = "LIST")]
    pub held_out: Option<String>,
    /// Also evaluate the champion on these live tasks (comma-separated), e.g.
    /// gpt-live:records: real trials, so only the champion, the reference and the best
    /// library mechanism run there.
    #[arg(long, value_name = "LIST")]
    pub live: Option<String>,
    /// Episodes per live task.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub live_episodes: u32,
}

/// Flags of `compare`.
#[derive(Debug, Args)]
pub struct CompareArgs {
    /// Two or more run folders (for example the arms of an ablation).
    #[arg(required = true, num_args = 2..)]
    pub dirs: Vec<PathBuf>,
    /// Output folder.
    #[arg(long, default_value = "comparison")]
    pub out: PathBuf,
    /// Common fresh episodes per task.
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u32).range(2..=1000))]
    pub episodes: u32,
    /// Seed of the common episodes and of the bootstrap.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Score the champions on these tasks or suites instead of the runs' own tasks,
    /// e.g. `suite:gpt-heldout` for runs evolved on `suite:gpt-train` (budgets are
    /// converted to full-trial equivalents).
    #[arg(long, value_name = "LIST")]
    pub tasks: Option<String>,
}

fn threshold(value: f64, flag: &str) -> Result<f64, InputError> {
    if (0.0..=1.0).contains(&value) {
        Ok(value)
    } else {
        Err(InputError::Usage {
            message: format!("--{flag} {value} is out of range"),
            hint: Some("distances lie between 0 and 1".into()),
        })
    }
}

/// Expand a comma-separated task list (suites allowed) into task names.
fn task_list(list: &str) -> Result<Vec<String>, InputError> {
    crate::objective::registry::expand_task_list(&[list]).map_err(|e| {
        InputError::usage(e.to_string(), format!("task names: {}", crate::objective::registry::TASK_FORMS))
    })
}

/// Write a document's Markdown, HTML, figures and JSON; returns the HTML path.
/// `analyze` on a model-swarm run folder: replay the finished run (recorded training
/// loaded, everything else redone and checked against the log) and write its report, with
/// a figure of each seed's model lineage, into `out` (default `DIR/analysis`).
fn swarm(dir: &Path, out: Option<PathBuf>) -> anyhow::Result<()> {
    crate::objective::gpt::init_process_threads();
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let report = crate::swarm::run::analyze(
        dir,
        &crate::exec::Workers { executor: crate::exec::Executor::local(), threads },
        &|_| {},
    )
    .map_err(|e| match e {
        crate::swarm::SwarmError::Input(input) => anyhow::Error::from(input),
        other => anyhow::Error::from(other),
    })?;
    let out = out.unwrap_or_else(|| dir.join("analysis"));
    crate::input::output_dir(&out)?;
    // The run's own writer: the replayed report is the run's, file for file.
    crate::swarm::run::write_report(&out, &report, crate::swarm::outputs::Outputs::Write)?;
    outln!("model-swarm report: {} (and report.md, report.json, lineage figures)", out.join("report.html").display());
    Ok(())
}

fn write_doc(out: &Path, stem: &str, doc: &Doc, json: &impl serde::Serialize) -> anyhow::Result<PathBuf> {
    crate::input::output_dir(out)?;
    for (file, svg) in doc.figures() {
        write_atomic(&out.join(file), svg.as_bytes())?;
    }
    write_atomic(&out.join(format!("{stem}.md")), doc.markdown().as_bytes())?;
    write_atomic(&out.join(format!("{stem}.json")), (serde_json::to_string_pretty(json)? + "\n").as_bytes())?;
    let html = out.join(format!("{stem}.html"));
    write_atomic(&html, doc.html().as_bytes())?;
    Ok(html)
}

/// Run `outerloop analyze`.
pub fn run(args: AnalyzeArgs) -> anyhow::Result<()> {
    if let Ok(text) = crate::input::read_text(&args.dir.join("scenario.toml"))
        && crate::swarm::is_swarm_scenario(&text)
    {
        return swarm(&args.dir, args.out.clone());
    }
    let opts = Options {
        episodes: args.episodes,
        scaling_episodes: args.scaling_episodes,
        top: args.top as usize,
        thresholds: Thresholds {
            structural: threshold(args.structural_threshold, "structural-threshold")?,
            behavioural: threshold(args.behavioural_threshold, "behavioural-threshold")?,
        },
        scaling: !args.no_scaling,
        held_out: args.held_out.as_deref().map(task_list).transpose()?,
        live: args.live.as_deref().map(task_list).transpose()?.unwrap_or_default(),
        live_episodes: args.live_episodes,
    };
    let data = RunData::load(&args.dir)?;
    let report = super::progress::counting_episodes("analysing", || analyze(&data, &opts))?;
    let doc = render::render(&report, &data)?;
    let out = args.out.unwrap_or_else(|| args.dir.join("analysis"));
    let html = write_doc(&out, "report", &doc, &report)?;
    if let Some(c) = &report.champion {
        outln!(
            "champion #{} fitness {:+.3}{}",
            c.id,
            c.fitness.unwrap_or(f64::NAN),
            if c.verified { " (verified)" } else { " (NOT verified)" }
        );
    }
    if let Some(n) = report.novelty.as_ref().and_then(|n| n.rows.first()) {
        outln!(
            "novelty: nearest library mechanism {} (structural {:.3}, behavioural {:.3}), versus it {}: {}",
            n.nearest,
            n.structural,
            n.behavioural,
            n.versus_nearest.signed(),
            if n.is_new { "NEW" } else { "not new" }
        );
    }
    if let Some(g) = &report.genes {
        outln!("live genes: {} of {} fired", g.genes.len() - g.dead.len(), g.genes.len());
    }
    outln!("report: {}\n        {}", html.display(), out.join("report.md").display());
    Ok(())
}

/// Run `outerloop compare`.
pub fn compare_runs(args: CompareArgs) -> anyhow::Result<()> {
    let runs = args.dirs.iter().map(|d| RunData::load(d)).collect::<Result<Vec<_>, _>>()?;
    let tasks = args.tasks.as_deref().map(task_list).transpose()?;
    let comparison = super::progress::counting_episodes("comparing", || {
        compare::compare(&runs, tasks.as_deref(), args.episodes, args.seed)
    })?;
    let doc = compare::render(&comparison)?;
    let html = write_doc(&args.out, "comparison", &doc, &comparison)?;
    for r in &comparison.runs {
        outln!(
            "{:<24} champion {:>8}  common episodes {}",
            r.name,
            r.champion.map_or("-".into(), |i| format!("#{i}")),
            r.common.map_or("-".into(), |i| i.signed())
        );
    }
    if !comparison.group_pairs.is_empty() {
        // Replicates: the numbers that carry run-to-run variance.
        for g in &comparison.groups {
            outln!(
                "scenario {:<15} {} run(s)  mean over runs {}",
                g.name,
                g.runs.len(),
                g.common.map_or("-".into(), |i| i.signed())
            );
        }
    }
    outln!("design: {}", comparison.design);
    outln!("comparison: {}", html.display());
    Ok(())
}
