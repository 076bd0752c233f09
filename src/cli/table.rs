//! `outerloop table`: build (resumably) and summarise tables of real GPT trials.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::out::outln;
use crate::diagnostic::InputError;
use crate::objective::gpt::design::TableSpec;
use crate::objective::gpt::limits::{MAX_BUDGET_GFLOP, MAX_JOBS, MAX_SEEDS};
use crate::objective::gpt::suite::shipped_table;
use crate::objective::gpt::table::{BuildPlan, GptTable, Table, TableError, build};
use crate::objective::gpt::table_stats::table_stats;
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
    Build(Box<BuildArgs>),
    /// Summarise a table: size, best configs, per-seed noise.
    Show(ShowArgs),
}

/// Flags of `outerloop table build`.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Table spec (TOML with a [grid] of knob value lists, or a [design] with a [space]).
    #[arg(long, alias = "space", value_name = "FILE")]
    pub spec: PathBuf,
    /// Budget of a full trial in GFLOP of training (required unless the spec sets `budget`).
    #[arg(long)]
    pub budget: Option<f64>,
    /// Seeds per config, 0..K (default: the spec's `seeds`, else 3).
    #[arg(long)]
    pub seeds: Option<u64>,
    /// Output table (appended to when it exists with the same settings).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Trials run in parallel, one thread each.
    #[arg(long, default_value_t = default_jobs())]
    pub jobs: usize,
    /// Run only the first N configs of the design (grow a table in steps).
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Train on a named corpus (synthetic, shakespeare, records) or a text file, instead
    /// of the spec's `corpus` or the synthetic default.
    #[arg(long, value_name = "NAME|FILE")]
    pub corpus: Option<String>,
    /// Synthetic corpus skills, comma-separated.
    #[arg(long, value_name = "LIST", conflicts_with = "corpus")]
    pub skills: Option<String>,
    /// Where the trials run (`--jobs` threads here, or Slurm array tasks).
    #[command(flatten)]
    pub executor: super::executor::ExecutorArgs,
}

/// Flags of `outerloop table show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// A shipped table's name (see `outerloop task list`) or a table file; omit for the
    /// small embedded synthetic grid (`gpt-table`).
    pub table: Option<String>,
    /// How many of the best configs to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

/// A table error as a located input error (exit 2) where the input is at fault.
pub fn table_error(e: TableError) -> anyhow::Error {
    match e {
        TableError::Format { path, line, message } => {
            InputError::file_line(path, line, message, "see the table format in scenarios/tables/README.md").into()
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
        TableAction::Build(a) => run_build(*a),
        TableAction::Show(a) => run_show(a),
    }
}

fn run_build(a: BuildArgs) -> anyhow::Result<()> {
    let text = crate::input::read_text(&a.spec)?;
    let spec = TableSpec::parse(&a.spec, &text)
        .map_err(|e| InputError::file(e.path, e.message, "see the spec format in scenarios/tables/README.md"))?;
    let budget = a.budget.or(spec.budget).ok_or_else(|| {
        InputError::usage("no budget: the spec has no `budget` and --budget is missing", "e.g. --budget 20")
    })?;
    let seeds = a.seeds.or(spec.seeds).unwrap_or(3);
    if !(budget.is_finite() && budget > 0.0 && budget <= MAX_BUDGET_GFLOP && (1..=MAX_SEEDS).contains(&seeds)) {
        return Err(InputError::usage(
            format!("--budget must be positive and at most {MAX_BUDGET_GFLOP}, --seeds from 1 to {MAX_SEEDS}"),
            "e.g. --budget 20 --seeds 3",
        )
        .into());
    }
    if !(1..=MAX_JOBS).contains(&a.jobs) {
        return Err(InputError::usage(
            format!("--jobs {} is not from 1 to {MAX_JOBS}", a.jobs),
            "e.g. --jobs 2 (trials run in parallel, one thread each)",
        )
        .into());
    }
    let corpus = match (&a.corpus, &spec.corpus) {
        (Some(name), _) => super::trial::load_corpus_named(name)?,
        (None, Some(source)) if a.skills.is_none() => source.load().map_err(|e| {
            InputError::file(&a.spec, e, "the spec's `corpus` names a corpus or a readable file from the spec's folder")
        })?,
        (None, _) => super::trial::load_corpus(None, a.skills.as_deref())?,
    };
    corpus
        .check_context(spec.context)
        .map_err(|e| InputError::usage(e.to_string(), "use a longer corpus or a shorter context"))?;
    outln!(
        "table build: {} configs x {} seeds, budget {} GFLOP, context {}, corpus {} -> {}",
        a.limit.unwrap_or(usize::MAX).min(spec.configs.len()),
        seeds,
        budget,
        spec.context,
        corpus.name(),
        a.out.display()
    );
    // Slurm batch files go beside the table, in a hidden folder of its own.
    let name = a.out.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "table".into());
    let executor = a.executor.build(&a.out.with_file_name(format!(".{name}.batches")))?;
    let plan = BuildPlan { spec, budget, seeds, jobs: a.jobs, out: a.out.clone(), limit: a.limit };
    let start = std::time::Instant::now();
    // A bar with ETA (its length is known once the build has counted what is left);
    // under -v a line per trial instead.
    let bar = super::progress::bar(0, "trials");
    let progress = |done: usize, total: usize, config: &str| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        super::progress::step_line(|| format!("[{done}/{total}] {:.0}s {config}", start.elapsed().as_secs_f64()));
    };
    let report = build(&plan, &corpus, &executor, &progress).map_err(table_error)?;
    bar.finish_and_clear();
    outln!(
        "done: {} trials existed, {} run now, {} in the table ({:.0}s)",
        report.existing,
        report.ran,
        report.total,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_show(a: ShowArgs) -> anyhow::Result<()> {
    let objective = match &a.table {
        None => shipped_table("synthetic").map_err(table_error)?,
        Some(name) if !name.contains('/') && !name.ends_with(".tsv") => shipped_table(name).map_err(table_error)?,
        Some(path) => {
            let path = PathBuf::from(path);
            GptTable::new(&format!("gpt-table:{}", path.display()), Table::load(&path).map_err(table_error)?)
        }
    };
    let table = objective.table();
    for (k, v) in &table.header {
        outln!("{k:<12} {v}");
    }
    let stats = table_stats(&objective, a.top);
    outln!(
        "rows         {} trials of {} configs ({} in the design), {} failed, {:.0} trial-seconds",
        stats.trials,
        stats.configs,
        table.configs.len(),
        stats.failed,
        stats.seconds
    );
    outln!(
        "noise        seed sd {:.4} bpb (median over configs); resolution {:.4} bpb (median standard error of a seed mean)",
        stats.seed_sd,
        stats.resolution
    );
    // A partly built table may hold fewer than 100 configs: "-" rather than NaN.
    let gap = |g: f64| if g.is_nan() { "-".to_string() } else { format!("+{g:.4}") };
    outln!(
        "top spread   2nd best {}, 10th {}, 100th {} bpb behind the best",
        gap(stats.gaps[0]),
        gap(stats.gaps[1]),
        gap(stats.gaps[2])
    );
    outln!(
        "answer error leave-one-out nearest-config answer: mean abs error {:.4} bpb, Spearman {:.3}",
        stats.loo_mae,
        stats.loo_spearman
    );
    outln!(
        "corners      best of all 2^{} all-bounds configs (nearest-config answers) ranks {} of {} (regret {:.4} bpb)",
        table.space.dim().min(16),
        stats.corner_rank,
        stats.configs,
        stats.corner_regret
    );
    outln!(
        "             best of {k} random corners: expected regret {:.4} bpb; best of {k} random configs: {:.4} bpb",
        stats.corners_k_regret,
        stats.random_k_regret,
        k = crate::objective::gpt::table_stats::BUDGET_MATCHED
    );
    for (i, r) in stats.fidelity_ranks.iter().enumerate() {
        outln!(
            "{:<13}at {}: rank correlation with full fidelity (Spearman over configs' seed means) {:.3}; its best config ranks {} at full fidelity (regret {:.4} bpb)",
            if i == 0 { "fidelity" } else { "" },
            r.fidelity,
            r.spearman,
            r.best_there_rank,
            r.best_there_regret
        );
    }
    outln!("best configs (seed mean at full fidelity):");
    let space = &table.space;
    for (id, mean) in &stats.top {
        let sd = {
            let finals: Vec<f64> = table.rows_of(*id).iter().filter_map(|r| r.curve.last().copied()).collect();
            let m = finals.iter().sum::<f64>() / finals.len().max(1) as f64;
            (finals.iter().map(|f| (f - m).powi(2)).sum::<f64>() / finals.len().max(1) as f64).sqrt()
        };
        let config = table.config(*id).map(|c| space.describe(&c)).unwrap_or_default();
        outln!("  {mean:.4} ± {sd:.4}  #{id:<5} {config}");
    }
    Ok(())
}
