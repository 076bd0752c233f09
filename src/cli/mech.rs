//! `outerloop mech ...`: check, format and run mechanism genomes; list the library;
//! produce the library-versus-BBOB table.

use std::fmt::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::load::load_genome;
use crate::cli::out::{out, outln};
use crate::diagnostic::InputError;
use crate::genome::hash::structural_hash;
use crate::genome::library::LIBRARY;
use crate::genome::{Limits, Program, syntax};
use crate::inner::league::{League, league_seed, run_league};
use crate::inner::mech_serve::MechServer;
use crate::inner::run_inner;
use crate::inner::trace::render_gene_report;
use crate::objective::Objective;
use crate::objective::bbob::{BbobObjective, FunctionGroup, group_of};
use crate::objective::command::spec::TrialSpace;
use crate::objective::registry::{expand_task_list, expand_tasks, objective_by_name, task_hint};
use crate::store::atomic::write_atomic;

/// Work with mechanism genomes.
#[derive(Debug, Args)]
pub struct MechArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: MechCommand,
}

/// The `mech` subcommands. FILE is a path or `lib:NAME` for a library mechanism.
#[derive(Debug, Subcommand)]
pub enum MechCommand {
    /// Parse and type-check genome files.
    Check {
        /// Genome files (or `lib:NAME`).
        #[arg(required = true)]
        files: Vec<String>,
    },
    /// Print a genome in canonical form.
    Fmt {
        /// Genome file (or `lib:NAME`).
        file: String,
        /// Rewrite the file in place (atomically) instead of printing.
        #[arg(long)]
        write: bool,
    },
    /// Run a mechanism on a task and print the trace summary and live-gene report.
    Run {
        /// Genome file (or `lib:NAME`).
        file: String,
        /// Task or suite name, e.g. bbob-f8-i1-d5, gpt-table:records-s, gpt-live:records,
        /// suite:gpt-heldout (a suite runs every task in turn).
        #[arg(long)]
        task: String,
        /// Compute budget (full-trial equivalents on BBOB and the suite's GPT tasks,
        /// GFLOP on the small grid `gpt-table`).
        #[arg(long, default_value_t = 100.0)]
        budget: f64,
        /// Episode seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Also print every trial.
        #[arg(long)]
        trials: bool,
    },
    /// Serve a mechanism as an optimizer for your own objective: ask for a trial, run it
    /// anywhere, tell its result (JSON lines on stdin/stdout; the Python package's
    /// transport). Same trials as `mech run` on a task with that space and levels.
    Serve {
        /// Genome file (or `lib:NAME`).
        file: String,
        /// The search space: a TOML file with a `[space]` table (a command spec `cmd:`
        /// tasks use will do: its space, fidelities and failure score are taken).
        #[arg(long, value_name = "FILE", conflicts_with = "space_json", required_unless_present = "space_json")]
        space: Option<PathBuf>,
        /// The search space as JSON, e.g. '{"lr": {"log": [1e-4, 0.1]}, "act": ["relu", "tanh"]}'.
        #[arg(long, value_name = "JSON")]
        space_json: Option<String>,
        /// Fidelity levels with --space-json: increasing budget fractions ending at 1.
        #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "1")]
        fidelities: Vec<f64>,
        /// The score of a failed trial with --space-json.
        #[arg(long, default_value_t = f64::MAX)]
        failure_score: f64,
        /// Budget of the episode in full trials.
        #[arg(long)]
        budget: f64,
        /// Episode seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// List the seed library.
    List,
    /// Print the language reference: every primitive with its signature and meaning
    /// (Markdown, generated from the primitive table).
    Prims,
    /// Run every library mechanism on the 24 BBOB functions (or on `--tasks`) and print
    /// the median final regret per function group (Markdown).
    Table {
        /// Run on these tasks or suites instead of BBOB (comma-separated), e.g.
        /// suite:gpt-heldout; `--budget` is then in the tasks' units.
        #[arg(long, value_name = "LIST")]
        tasks: Option<String>,
        /// Add these mechanisms (files or lib:NAME, repeatable), e.g. an evolved champion.
        #[arg(long = "mech", value_name = "FILE")]
        extra: Vec<String>,
        /// Also write one row per (mechanism, task, episode) as tab-separated values:
        /// the episode seeds there are the ones `task serve` takes for peers.
        #[arg(long, value_name = "FILE")]
        tsv: Option<PathBuf>,
        /// Dimension of the BBOB functions.
        #[arg(long, default_value_t = 5)]
        dim: usize,
        /// Budget in evaluations.
        #[arg(long, default_value_t = 500.0)]
        budget: f64,
        /// Seeds per (mechanism, function).
        #[arg(long, default_value_t = 15)]
        seeds: u32,
        /// BBOB instance.
        #[arg(long, default_value_t = 1)]
        instance: u32,
        /// Also write the table to this file (atomically).
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

fn space_hint() -> String {
    format!("write each knob as {}", crate::space_spec::KNOB_FORMS)
}

/// Run a `mech` subcommand.
pub fn run(args: MechArgs) -> anyhow::Result<()> {
    let limits = Limits::default();
    match args.command {
        MechCommand::Check { files } => {
            for f in &files {
                let (g, _) = load_genome(f, &limits)?;
                outln!("{f}: ok ({} nodes, structural hash {:016x})", g.size(), structural_hash(&g));
            }
        }
        MechCommand::Fmt { file, write } => {
            let (g, source) = load_genome(&file, &limits)?;
            let text = syntax::print_with_comments(&g, &source);
            if write {
                if file.starts_with("lib:") {
                    return Err(
                        InputError::usage("library mechanisms cannot be rewritten", "copy it to a file first").into()
                    );
                }
                write_atomic(file.as_ref(), text.as_bytes())?;
                outln!("{file}: formatted");
            } else {
                out!("{text}");
            }
        }
        MechCommand::Run { file, task, budget, seed, trials } => {
            let tasks = expand_tasks(&task).map_err(|e| InputError::usage(e.to_string(), task_hint(&e)))?;
            if tasks.len() > 1 {
                for t in tasks {
                    outln!("== {t}");
                    run(MechArgs { command: MechCommand::Run { file: file.clone(), task: t, budget, seed, trials } })?;
                }
                return Ok(());
            }
            let (g, _) = load_genome(&file, &limits)?;
            if !(budget.is_finite() && budget > 0.0) {
                return Err(InputError::usage(
                    format!("budget {budget} is not a positive number"),
                    "e.g. --budget 100",
                )
                .into());
            }
            let objective = objective_by_name(&task).map_err(|e| InputError::usage(e.to_string(), task_hint(&e)))?;
            let cheapest = crate::inner::run::cheapest_trial(objective.as_ref());
            let most = crate::inner::run::max_budget(objective.as_ref());
            if budget + 1e-9 < cheapest || budget > most {
                return Err(InputError::usage(
                    format!("budget {budget} is outside what an episode of {task} can spend"),
                    format!("use a budget from {cheapest} (its cheapest trial) to {most}"),
                )
                .into());
            }
            let prog = Program::compile(&g, limits).map_err(|d| InputError::Source {
                path: file.clone().into(),
                text: syntax::print(&g),
                diagnostics: d,
            })?;
            let trace = run_inner(&prog, objective.as_ref(), seed, budget);
            out!("{}", trace.summary());
            if trials {
                let space = objective.space();
                for (i, t) in trace.trials.iter().enumerate() {
                    outln!(
                        "  #{i:<4} {:<8} level {} score {:.6e} {} {}{}",
                        t.source.as_str(),
                        t.level,
                        t.score,
                        t.status.as_str(),
                        space.describe(&space.decode(&t.point)),
                        if t.improved { "  *" } else { "" }
                    );
                }
            }
            out!("{}", render_gene_report(&g, &trace.live));
            if let Some(note) = objective.failure_note() {
                outln!("note: {note}");
            }
        }
        MechCommand::Serve { file, space, space_json, fidelities, failure_score, budget, seed } => {
            let (g, _) = load_genome(&file, &limits)?;
            let prog = Program::compile(&g, limits).map_err(|d| InputError::Source {
                path: file.clone().into(),
                text: syntax::print(&g),
                diagnostics: d,
            })?;
            let (space, levels, failure_score) = match (space, space_json) {
                (Some(path), _) => {
                    let t = TrialSpace::load(&path).map_err(|e| {
                        InputError::file(
                            &path,
                            format!("{}{}", e.at.map(|(l, c)| format!("{l}:{c}: ")).unwrap_or_default(), e.message),
                            space_hint(),
                        )
                    })?;
                    (t.space, t.fidelities, t.failure_score)
                }
                (None, Some(text)) => {
                    let bad = |m: String| InputError::usage(format!("--space-json: {m}"), space_hint());
                    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
                    let space = crate::space_spec::space_from_json(&value).map_err(|e| bad(e.to_string()))?;
                    if !crate::objective::command::spec::valid_levels(&fidelities) {
                        return Err(InputError::usage(
                            format!("--fidelities {fidelities:?} are not increasing budget fractions ending at 1"),
                            "e.g. --fidelities 0.25,0.5,1",
                        )
                        .into());
                    }
                    (space, fidelities, failure_score)
                }
                (None, None) => unreachable!("clap requires --space or --space-json"),
            };
            if !(budget.is_finite() && budget >= levels[0] && budget <= 1e6) {
                return Err(InputError::usage(
                    format!("--budget {budget} is not a number of full trials from the cheapest level to 1e6"),
                    "e.g. --budget 50",
                )
                .into());
            }
            let mut server = MechServer::new(&file, prog, space, levels, failure_score, seed, budget);
            super::task::serve_lines(&server.hello(), |line| server.handle(line))?;
        }
        MechCommand::Prims => out!("{}", crate::genome::reference::markdown()),
        MechCommand::List => {
            for (name, text) in LIBRARY {
                let first = text.lines().find(|l| l.starts_with(';')).unwrap_or("").trim_start_matches(';').trim();
                outln!("lib:{name:<24} {first}");
            }
        }
        MechCommand::Table { tasks: Some(list), extra, tsv, budget, seeds, out, .. } => {
            let table = task_table(&list, &extra, budget, seeds, tsv.as_deref())?;
            out!("{table}");
            if let Some(path) = out {
                write_atomic(&path, table.as_bytes())?;
                outln!("\ntable written to {}", path.display());
            }
        }
        MechCommand::Table { dim, budget, seeds, instance, out, .. } => {
            let table = library_table(dim, budget, seeds, instance)?;
            out!("{table}");
            if let Some(path) = out {
                write_atomic(&path, table.as_bytes())?;
                outln!("\ntable written to {}", path.display());
            }
        }
    }
    Ok(())
}

/// The compiled seed library.
fn library_programs() -> anyhow::Result<Vec<(String, Program)>> {
    let limits = Limits::default();
    LIBRARY
        .iter()
        .map(|(n, t)| {
            let g = crate::genome::load(t, &limits).map_err(|d| anyhow::anyhow!("library mechanism {n}: {d:?}"))?;
            let p = Program::compile(&g, limits).map_err(|d| anyhow::anyhow!("library mechanism {n}: {d:?}"))?;
            Ok((n.to_string(), p))
        })
        .collect()
}

/// The library (and `extra` mechanisms) on named tasks: median true regret per task,
/// the geometric mean over tasks, and optionally every episode as TSV.
fn task_table(
    list: &str,
    extra: &[String],
    budget: f64,
    seeds: u32,
    tsv: Option<&std::path::Path>,
) -> anyhow::Result<String> {
    if !(budget.is_finite() && budget > 0.0) || seeds == 0 {
        return Err(InputError::usage(
            "--budget must be positive and --seeds at least 1",
            "e.g. --budget 15 --seeds 10",
        )
        .into());
    }
    let names = expand_task_list(&[list]).map_err(|e| InputError::usage(e.to_string(), task_hint(&e)))?;
    let tasks: Vec<Box<dyn Objective>> = names
        .iter()
        .map(|n| objective_by_name(n).map_err(|e| InputError::usage(e.to_string(), task_hint(&e))))
        .collect::<Result<_, _>>()?;
    let mut mechanisms = library_programs()?;
    let limits = Limits::default();
    for file in extra {
        let (g, _) = load_genome(file, &limits)?;
        let p = Program::compile(&g, limits).map_err(|d| InputError::Source {
            path: file.into(),
            text: syntax::print(&g),
            diagnostics: d,
        })?;
        mechanisms.push((file.clone(), p));
    }
    let started = std::time::Instant::now();
    let league = league_with_progress(&mechanisms, &tasks, budget, seeds);
    let secs = started.elapsed().as_secs_f64();
    if let Some(path) = tsv {
        let mut rows = String::from("mechanism\ttask\tepisode\tseed\tbudget\tregret\taocc\n");
        for (m, mech) in league.mechanisms.iter().enumerate() {
            for (t, task) in league.tasks.iter().enumerate() {
                for (s, (regret, aocc)) in league.regrets[m][t].iter().zip(&league.aoccs[m][t]).enumerate() {
                    let seed = league_seed(0, t, s);
                    let _ = writeln!(rows, "{mech}\t{task}\t{s}\t{seed}\t{budget}\t{regret}\t{aocc}");
                }
            }
        }
        write_atomic(path, rows.as_bytes())?;
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Tasks {}, budget {budget} per episode, {seeds} episodes per task (common seeds); {} runs in {secs:.1} s\n",
        names.join(", "),
        league.mechanisms.len() * league.tasks.len() * seeds as usize
    );
    let _ = writeln!(
        s,
        "Median true regret (bits per byte above the task's best config; the recommended config's seed mean) per task, and the geometric mean over tasks of the median regret floored at each task's resolution. Lower is better.\n"
    );
    let _ = write!(s, "| mechanism |");
    for t in &league.tasks {
        let _ = write!(s, " {t} |");
    }
    let _ = writeln!(s, " geo. mean |\n|---|{}---|", "---|".repeat(league.tasks.len()));
    for (m, name) in league.mechanisms.iter().enumerate() {
        let _ = write!(s, "| {name} |");
        let mut log_sum = 0.0;
        for (t, task) in tasks.iter().enumerate() {
            let med = league.median(m, t);
            log_sum += med.max(task.resolution()).ln();
            let _ = write!(s, " {med:.4} |");
        }
        let _ = writeln!(s, " {:.4} |", (log_sum / tasks.len() as f64).exp());
    }
    Ok(s)
}

/// Run the library on all 24 BBOB functions and render the Markdown report.
fn library_table(dim: usize, budget: f64, seeds: u32, instance: u32) -> anyhow::Result<String> {
    let mechanisms = library_programs()?;
    let tasks: Vec<Box<dyn Objective>> = (1..=24u8)
        .map(|f| {
            BbobObjective::from_name(&format!("bbob-f{f}-i{instance}-d{dim}"))
                .map(|o| Box::new(o) as Box<dyn Objective>)
                .map_err(|e| InputError::usage(e.to_string(), "use --dim 2, 3, 5, 10, 20 or 40"))
        })
        .collect::<Result<_, _>>()?;
    let started = std::time::Instant::now();
    let league = league_with_progress(&mechanisms, &tasks, budget, seeds);
    Ok(render_table(&league, dim, budget, seeds, instance, started.elapsed().as_secs_f64()))
}

/// [`run_league`] with a progress bar over its episodes (`-v`: a line per mechanism).
fn league_with_progress(
    mechanisms: &[(String, Program)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
    seeds: u32,
) -> League {
    let per_mechanism = (tasks.len() * seeds as usize) as u64;
    let total = mechanisms.len() as u64 * per_mechanism;
    let bar = super::progress::bar(total, "episodes");
    let finished = std::sync::atomic::AtomicU64::new(0);
    let league = run_league(mechanisms, tasks, budget, seeds, 0, &|| {
        bar.inc(1);
        let n = finished.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if n.is_multiple_of(per_mechanism.max(1)) {
            super::progress::step_line(|| format!("{n}/{total} episodes done"));
        }
    });
    bar.finish_and_clear();
    league
}

fn render_table(league: &League, dim: usize, budget: f64, seeds: u32, instance: u32, secs: f64) -> String {
    let groups = [
        FunctionGroup::Separable,
        FunctionGroup::Moderate,
        FunctionGroup::IllConditioned,
        FunctionGroup::Multimodal,
        FunctionGroup::WeakStructure,
    ];
    let members =
        |g: FunctionGroup| -> Vec<usize> { (1..=24u8).filter(|&f| group_of(f) == g).map(|f| f as usize - 1).collect() };
    let baseline = league.mechanisms.iter().position(|m| m == "uniform-random").unwrap_or(0);
    let mut s = String::new();
    let _ = writeln!(
        s,
        "BBOB d={dim}, instance {instance}, budget {budget} evaluations, {seeds} seeds; {} runs in {secs:.1} s\n",
        league.mechanisms.len() * league.tasks.len() * seeds as usize
    );
    let _ =
        writeln!(s, "Median final regret per function, geometric mean over each group's functions (lower is better).");
    let _ = writeln!(
        s,
        "`wins` = functions (of 24) where the mechanism beats uniform-random: lower median and one-sided Mann-Whitney p < 0.05.\n"
    );
    let _ = write!(s, "| mechanism |");
    for g in groups {
        let _ = write!(s, " {} (f{}) |", g.name(), range_label(&members(g)));
    }
    let _ = writeln!(s, " all | wins |");
    let _ = writeln!(s, "|---|{}---|---|", "---|".repeat(groups.len()));
    let all: Vec<usize> = (0..24).collect();
    for (m, name) in league.mechanisms.iter().enumerate() {
        let _ = write!(s, "| {name} |");
        for g in groups {
            let _ = write!(s, " {:.2e} |", league.group_score(m, &members(g)));
        }
        let wins = if m == baseline { "-".to_string() } else { league.clear_wins(m, baseline, 0.05).len().to_string() };
        let _ = writeln!(s, " {:.2e} | {wins} |", league.group_score(m, &all));
    }
    let _ = writeln!(s, "\nPer-function median final regret:\n");
    let _ = write!(s, "| f |");
    for name in &league.mechanisms {
        let _ = write!(s, " {name} |");
    }
    let _ = writeln!(s, "\n|---|{}", "---|".repeat(league.mechanisms.len()));
    for t in 0..league.tasks.len() {
        let _ = write!(s, "| f{} |", t + 1);
        for m in 0..league.mechanisms.len() {
            let _ = write!(s, " {:.2e} |", league.median(m, t));
        }
        let _ = writeln!(s);
    }
    s
}

fn range_label(fs: &[usize]) -> String {
    match (fs.first(), fs.last()) {
        (Some(a), Some(b)) => format!("{}-{}", a + 1, b + 1),
        _ => String::new(),
    }
}
