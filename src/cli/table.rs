//! `outerloop table`: build (resumably) and summarise tables of real GPT trials.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::diagnostic::InputError;
use crate::objective::Objective;
use crate::objective::gpt::table::{BuildPlan, GptTable, Grid, Table, TableError, build};
use crate::objective::gpt::{self};

/// Flags of `outerloop table`.
#[derive(Debug, Args)]
pub struct TableArgs {
    /// What to do with tables.
    #[command(subcommand)]
    pub action: TableAction,
}

/// Table actions.
#[derive(Debug, Subcommand)]
pub enum TableAction {
    /// Run real trials over a grid and append them to a table (resumable).
    Build(BuildArgs),
    /// Summarise a table: size, best configs, per-seed noise.
    Show(ShowArgs),
}

/// Flags of `outerloop table build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Grid file (TOML with a [grid] table of knob value lists).
    #[arg(long, value_name = "FILE")]
    pub space: PathBuf,
    /// Budget of a full trial in GFLOP of training.
    #[arg(long)]
    pub budget: f64,
    /// Seeds per config (0..K).
    #[arg(long, default_value_t = 3)]
    pub seeds: u64,
    /// Output table (appended to when it exists with the same settings).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Trials run in parallel, one thread each.
    #[arg(long, default_value_t = default_jobs())]
    pub jobs: usize,
    /// Train on this text file instead of the synthetic corpus.
    #[arg(long, value_name = "FILE")]
    pub corpus: Option<PathBuf>,
    /// Synthetic corpus skills, comma-separated.
    #[arg(long, value_name = "LIST", conflicts_with = "corpus")]
    pub skills: Option<String>,
}

/// Flags of `outerloop table show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The table (omit for the embedded synthetic table).
    pub file: Option<PathBuf>,
    /// How many of the best configs to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

fn table_error(e: TableError) -> anyhow::Error {
    match e {
        TableError::Format { path, message } => {
            InputError::file(path, message, "see the grid format in the `outerloop table build` docs").into()
        }
        TableError::Mismatch { path, key, found, wanted } => InputError::file(
            path,
            format!("existing table has {key} `{found}`, this build asks for `{wanted}`"),
            "use the same settings to resume, or write to a new --out file",
        )
        .into(),
        e => anyhow::Error::new(e),
    }
}

/// Run `outerloop table`.
pub fn run(args: TableArgs) -> anyhow::Result<()> {
    gpt::init_process_threads();
    match args.action {
        TableAction::Build(a) => run_build(a),
        TableAction::Show(a) => run_show(a),
    }
}

fn run_build(a: BuildArgs) -> anyhow::Result<()> {
    if !(a.budget.is_finite() && a.budget > 0.0) || a.seeds == 0 {
        return Err(InputError::usage(
            "--budget must be positive and --seeds at least 1",
            "e.g. --budget 20 --seeds 3",
        )
        .into());
    }
    let text = std::fs::read_to_string(&a.space)
        .map_err(|e| InputError::file(a.space.clone(), e.to_string(), "pass a readable grid TOML file"))?;
    let grid = Grid::parse(&a.space, &text).map_err(table_error)?;
    let corpus = super::trial::load_corpus(a.corpus.as_ref(), a.skills.as_deref())?;
    corpus
        .check_context(grid.context)
        .map_err(|e| InputError::usage(e.to_string(), "use a longer corpus or a shorter context"))?;
    println!(
        "table build: {} configs x {} seeds, budget {} GFLOP, context {}, corpus {} -> {}",
        grid.len(),
        a.seeds,
        a.budget,
        grid.context,
        corpus.name(),
        a.out.display()
    );
    let plan = BuildPlan { grid, budget: a.budget, seeds: a.seeds, jobs: a.jobs, out: a.out.clone() };
    let start = std::time::Instant::now();
    let progress = |done: usize, total: usize, config: &str| {
        if done.is_multiple_of(25) || done == total {
            println!("[{done}/{total}] {:.0}s {config}", start.elapsed().as_secs_f64());
        }
    };
    let report = build(&plan, &corpus, &progress).map_err(table_error)?;
    println!(
        "done: {} trials existed, {} run now, {} in the table ({:.0}s)",
        report.existing,
        report.ran,
        report.total,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_show(a: ShowArgs) -> anyhow::Result<()> {
    let table = match &a.file {
        Some(path) => Table::load(path).map_err(table_error)?,
        None => Table::embedded().map_err(table_error)?,
    };
    for (k, v) in &table.header {
        println!("{k:<12} {v}");
    }
    let objective = GptTable::new("gpt-table", table);
    let table = objective.table();
    let seconds: f64 = table.rows.iter().map(|r| r.seconds).sum();
    println!("rows         {} ({} configs, {:.0} trial-seconds)", table.rows.len(), table.grid.len(), seconds);
    let mut means: Vec<(f64, f64, Vec<usize>)> = (0..table.grid.len())
        .map(|i| table.grid.indices(i))
        .filter_map(|idx| {
            let rows = table.rows_for(&idx);
            if rows.is_empty() {
                return None;
            }
            let finals: Vec<f64> = rows.iter().map(|r| r.curve.last().copied().unwrap_or(gpt::FAILURE_BPB)).collect();
            let mean = finals.iter().sum::<f64>() / finals.len() as f64;
            let sd = (finals.iter().map(|f| (f - mean).powi(2)).sum::<f64>() / finals.len() as f64).sqrt();
            Some((mean, sd, idx))
        })
        .collect();
    means.sort_by(|a, b| a.0.total_cmp(&b.0));
    let space = objective.space();
    for (mean, sd, idx) in means.iter().take(a.top) {
        let config = crate::inner::space::Config {
            values: space
                .knobs()
                .iter()
                .zip(idx)
                .map(|(k, &i)| k.decode((i as f64 + 0.5) / k.cells().unwrap_or(1) as f64))
                .collect(),
        };
        println!("{mean:.4} ± {sd:.4}  {}", space.describe(&config));
    }
    Ok(())
}
