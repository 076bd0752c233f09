//! Episode batches as plain data (genome texts, task names, seeds): a worker anywhere
//! turns one into the same results ([`run_batch`]). An [`EpisodeBatch`] is an
//! `exec::Work`; [`super::evaluator::Evaluator`] sends one to its executor when that
//! runs remotely, and runs jobs here ([`run_jobs_locally`]) otherwise.

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::diagnosis::{TraceStats, trace_stats};
use crate::exec::Work;
use crate::genome::interp::LiveCounts;
use crate::genome::{Limits, Program, load};
use crate::inner::{FaultPolicy, run_inner_with};
use crate::objective::Objective;
use crate::objective::registry::objective_by_name;

/// The outcome of one episode.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpisodeResult {
    /// Task index.
    pub task: usize,
    /// Episode seed.
    pub seed: u64,
    /// Final regret (final score when the optimum is unknown).
    pub regret: f64,
    /// Final score.
    pub final_score: f64,
    /// Area over the convergence curve, when the task knows its optimum.
    pub aocc: Option<f64>,
    /// Trace statistics for diagnosis.
    pub stats: TraceStats,
    /// Live-gene counts.
    pub live: LiveCounts,
    /// Compute spent.
    pub spent: f64,
}

/// Run jobs in this process, on the rayon pool; results in job order.
pub fn run_jobs_locally(
    jobs: &[(&Program, usize, u64)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
    execution: FaultPolicy,
) -> Vec<EpisodeResult> {
    jobs.par_iter()
        .map(|&(prog, task, seed)| {
            let objective = tasks[task].as_ref();
            let trace = run_inner_with(prog, objective, seed, budget, execution);
            EpisodeResult {
                task,
                seed,
                regret: trace.outcome.regret.unwrap_or(trace.outcome.final_score),
                final_score: trace.outcome.final_score,
                aocc: trace.outcome.aocc,
                stats: trace_stats(&trace),
                live: trace.live,
                spent: trace.outcome.spent,
            }
        })
        .collect()
}

/// One episode of a batch: a mechanism (canonical genome text), a task (index into the
/// batch's task names) and an episode seed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeJob {
    /// Canonical genome text.
    pub genome: String,
    /// Index into [`EpisodeBatch::tasks`].
    pub task: usize,
    /// Episode seed.
    pub seed: u64,
}

/// A batch of episodes as a worker receives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpisodeBatch {
    /// The jobs, in the order their results must come back.
    pub jobs: Vec<EpisodeJob>,
    /// Task names (`objective_by_name` rebuilds each).
    pub tasks: Vec<String>,
    /// Compute budget per episode.
    pub budget: f64,
    /// Whether faults are healed (`true`) or crash the episode.
    pub self_heal: bool,
}

/// Why a batch could not be run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// A genome or task of the batch does not load (a batch file from another build).
    #[error("job {job}: {message}")]
    Job {
        /// Job index.
        job: usize,
        /// What failed.
        message: String,
    },
}

impl Work for EpisodeBatch {
    type Output = EpisodeResult;
    const KIND: &'static str = "episodes";

    fn len(&self) -> usize {
        self.jobs.len()
    }

    /// Episodes run on the rayon pool (sized by the caller), not on `threads`.
    fn run(&self, range: std::ops::Range<usize>, _threads: usize) -> Result<Vec<EpisodeResult>, String> {
        if range.end > self.jobs.len() {
            return Err(format!("jobs {range:?} of a batch of {}", self.jobs.len()));
        }
        run_batch(self, range).map_err(|e| e.to_string())
    }
}

/// Run `batch.jobs[range]` in this process; results in job order.
pub fn run_batch(batch: &EpisodeBatch, range: std::ops::Range<usize>) -> Result<Vec<EpisodeResult>, BatchError> {
    let tasks: Vec<Box<dyn Objective>> = batch
        .tasks
        .iter()
        .enumerate()
        .map(|(i, name)| objective_by_name(name).map_err(|e| BatchError::Job { job: i, message: e.to_string() }))
        .collect::<Result<_, _>>()?;
    let mut programs = Vec::with_capacity(range.len());
    for j in range.clone() {
        let job = &batch.jobs[j];
        let message = |m: String| BatchError::Job { job: j, message: m };
        let genome = load(&job.genome, &Limits::default()).map_err(|d| message(format!("{d:?}")))?;
        let program = Program::compile(&genome, Limits::default()).map_err(|d| message(format!("{d:?}")))?;
        if job.task >= tasks.len() {
            return Err(message(format!("task index {} out of range", job.task)));
        }
        programs.push(program);
    }
    let jobs: Vec<(&Program, usize, u64)> =
        range.clone().zip(&programs).map(|(j, p)| (p, batch.jobs[j].task, batch.jobs[j].seed)).collect();
    let execution = FaultPolicy::from_self_heal(batch.self_heal);
    Ok(run_jobs_locally(&jobs, &tasks, batch.budget, execution))
}

/// The batch of `jobs` on `tasks`, as a worker receives it.
pub fn batch_of(
    jobs: &[(&Program, usize, u64)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
    execution: FaultPolicy,
) -> EpisodeBatch {
    EpisodeBatch {
        jobs: jobs
            .iter()
            .map(|&(p, task, seed)| EpisodeJob { genome: crate::genome::syntax::print(p.genome()), task, seed })
            .collect(),
        tasks: tasks.iter().map(|t| t.name().to_string()).collect(),
        budget,
        self_heal: execution == FaultPolicy::SelfHealing,
    }
}
