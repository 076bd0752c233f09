//! `outerloop task`: list the task suite, and serve a task to external optimizers over
//! the ask/tell protocol ([`crate::inner::serve`]).

use std::io::BufRead;

use clap::{Args, Subcommand};

use crate::cli::out::outln;
use crate::diagnostic::InputError;
use crate::inner::serve::Server;
use crate::objective::gpt::suite::{SHIPPED, Split, shipped_table};
use crate::objective::registry::{Suite, objective_by_name, task_hint};

/// Flags of `outerloop task`.
#[derive(Debug, Args)]
pub struct TaskArgs {
    /// What to do.
    #[command(subcommand)]
    pub action: TaskAction,
}

/// Task actions.
#[derive(Debug, Subcommand)]
pub enum TaskAction {
    /// List the shipped GPT tables (split, size, best value, resolution) and the suites.
    List,
    /// Serve a task on stdin/stdout with the line-based ask/tell protocol (JSON lines).
    Serve(ServeArgs),
}

/// Flags of `outerloop task serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Task name (see `outerloop task list`).
    pub task: String,
    /// Budget of an episode in the task's cost units (GFLOP for GPT tasks).
    #[arg(long, default_value_t = 300.0)]
    pub budget: f64,
    /// Seed of the first episode (`{"op":"reset","seed":S}` starts another).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// Run `outerloop task`.
pub fn run(args: TaskArgs) -> anyhow::Result<()> {
    crate::objective::gpt::init_process_threads();
    match args.action {
        TaskAction::List => list(),
        TaskAction::Serve(a) => serve(a),
    }
}

fn list() -> anyhow::Result<()> {
    outln!("| task | split | corpus | budget | context | configs | trials | best (bpb) | resolution |");
    outln!("|---|---|---|---|---|---|---|---|---|");
    for t in SHIPPED {
        let split = match t.split {
            Split::Quickstart => "quickstart",
            Split::Train => "train",
            Split::HeldOut => "held-out",
            Split::HeldOutXl => "held-out-xl",
        };
        match shipped_table(t.name) {
            Ok(obj) => {
                use crate::objective::Objective;
                let table = obj.table();
                let corpus = table.header_value("corpus").and_then(|c| c.split(' ').next()).unwrap_or("?");
                outln!(
                    "| gpt-table:{} | {split} | {corpus} | {} | {} | {} | {} | {:.4} | {:.4} |",
                    t.name,
                    table.budget,
                    table.context,
                    table.tabulated(),
                    table.rows.len(),
                    obj.optimum().unwrap_or(f64::NAN),
                    obj.resolution()
                );
            }
            Err(_) => outln!("| gpt-table:{} | {split} | - | - | - | 0 | 0 | not built | - |", t.name),
        }
    }
    outln!();
    for s in Suite::ALL {
        let tasks = s.tasks();
        if tasks.len() > 8 {
            outln!("suite:{:<28} {} tasks: {} ... {}", s.name(), tasks.len(), tasks[0], tasks[tasks.len() - 1]);
        } else {
            outln!("suite:{:<28} {}", s.name(), tasks.join(" "));
        }
    }
    outln!(
        "\nlive: gpt-live:<corpus>[:b<gflop>][:c<context>][:e<eval bytes>] (corpora: synthetic, shakespeare, records)"
    );
    outln!("trial cache for live tasks: {}", crate::objective::gpt::live::default_cache_dir().display());
    Ok(())
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    if !(a.budget.is_finite() && a.budget > 0.0) {
        return Err(InputError::usage(format!("--budget {} must be positive", a.budget), "e.g. --budget 300").into());
    }
    let objective = objective_by_name(&a.task).map_err(|e| InputError::usage(e.to_string(), task_hint(&e)))?;
    let mut server = Server::new(objective.as_ref(), a.budget, a.seed);
    // One reply per request line, flushed at once: the client waits for it.
    serve_lines(&server.hello(), |line| server.handle(line))
}

/// A line protocol on stdin/stdout: print `hello`, then one reply per non-empty request
/// line, each flushed at once (the client waits for it), until stdin ends.
pub(crate) fn serve_lines(hello: &str, mut handle: impl FnMut(&str) -> String) -> anyhow::Result<()> {
    outln!("{hello}");
    crate::cli::out::flush();
    let stdin = std::io::stdin();
    for line in stdin.lock().split(b'\n') {
        let line = line?;
        // Bytes that are not UTF-8 are a bad request like any other, not a crash.
        let text = String::from_utf8_lossy(&line);
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        outln!("{}", handle(text));
        crate::cli::out::flush();
    }
    Ok(())
}
