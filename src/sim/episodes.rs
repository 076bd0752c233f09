//! Fixed episodes for measuring mechanisms outside the evolution (the summary's held-out
//! section, the analysis): the run's tasks (or held-out variants of them) on seeds no
//! claim or verification used, gains against the run's reference mechanism, and scores
//! for budget curves.

use super::episode_batch::EpisodeResult;
use super::evaluator::Evaluator;
use crate::exec::Executor;
use crate::genome::interp::Program;
use crate::genome::{Genome, Limits, load};
use crate::inner::FaultPolicy;
use crate::objective::Objective;
use crate::objective::registry::objective_by_name;
use crate::rng;
use crate::scenario::Scenario;

/// The held-out variant of a task: BBOB tasks move to another instance (a different
/// optimum, rotation and conditioning), other tasks keep their name and differ only by
/// their fresh seeds. Returns the name and how it was held out.
pub fn held_out_task(name: &str) -> (String, &'static str) {
    if let Some(rest) = name.strip_prefix("bbob-") {
        let parts: Vec<String> = rest
            .split('-')
            .map(|p| match p.strip_prefix('i').and_then(|i| i.parse::<u64>().ok()) {
                Some(i) => format!("i{}", i + 100),
                None => p.to_string(),
            })
            .collect();
        return (format!("bbob-{}", parts.join("-")), "instance + 100");
    }
    (name.to_string(), "same task, fresh seeds")
}

/// A set of episodes: tasks, one seed list shared by every mechanism, and the
/// evaluator that runs them (self-healing, in this process).
pub struct Episodes {
    /// Task names.
    pub names: Vec<String>,
    /// `(task index, seed)` pairs, the same for every mechanism (common random numbers).
    pub jobs: Vec<(usize, u64)>,
    evaluator: Evaluator,
}

impl Episodes {
    /// `per_task` fresh seeds for each named task, derived from `root` and `purpose`.
    pub fn new(names: &[String], root: u64, purpose: &str, per_task: u32) -> Result<Self, String> {
        let tasks = names.iter().map(|n| objective_by_name(n).map_err(|e| e.to_string())).collect::<Result<_, _>>()?;
        let jobs = (0..names.len())
            .flat_map(|t| (0..per_task).map(move |k| (t, rng::derive(root, purpose, &[t as u64, k as u64]))))
            .collect();
        // Budgets are per call: the evaluator's own is never used here.
        let evaluator = Evaluator::new(tasks, f64::NAN, FaultPolicy::SelfHealing, Executor::local());
        Ok(Episodes { names: names.to_vec(), jobs, evaluator })
    }

    /// The objectives, in name order.
    pub fn tasks(&self) -> &[Box<dyn Objective>] {
        self.evaluator.tasks()
    }

    /// Run one program on every episode at `budget`, self-healing; results in episode
    /// order.
    pub fn run(&self, prog: &Program, budget: f64) -> Vec<EpisodeResult> {
        self.run_with(prog, budget, FaultPolicy::SelfHealing)
    }

    /// [`Episodes::run`] under a given fault `policy` (self-healing or crashing on the
    /// first fault).
    pub fn run_with(&self, prog: &Program, budget: f64, policy: FaultPolicy) -> Vec<EpisodeResult> {
        let jobs: Vec<(&Program, usize, u64)> = self.jobs.iter().map(|&(t, s)| (prog, t, s)).collect();
        // Only a remote executor can fail, and the analysis runs in this process.
        self.evaluator.run_at(&jobs, budget, policy).unwrap_or_else(|e| unreachable!("a local batch failed: {e}"))
    }

    /// Per-episode gains of `results` over `reference` results on the same episodes.
    pub fn gains(&self, results: &[EpisodeResult], reference: &[EpisodeResult]) -> Vec<f64> {
        self.evaluator.paired_gains(results, reference)
    }

    /// Index of the result set (one per mechanism, each on these episodes) with the
    /// lowest mean log10 regret; the first on ties.
    pub fn lowest_mean_log_regret(&self, results: &[Vec<EpisodeResult>]) -> usize {
        let mean = |i: usize| crate::stats::mean(&self.log_regrets(&results[i]));
        (0..results.len()).min_by(|&a, &b| mean(a).total_cmp(&mean(b)).then(a.cmp(&b))).unwrap_or(0)
    }

    /// Per-episode log10 regret, floored at each task's resolution (lower is better).
    pub fn log_regrets(&self, results: &[EpisodeResult]) -> Vec<f64> {
        results.iter().map(|r| (r.regret.max(0.0) + self.tasks()[r.task].resolution()).log10()).collect()
    }
}

/// Median true regret of a set of episode results.
pub fn median_regret(results: &[EpisodeResult]) -> f64 {
    crate::stats::median(&results.iter().map(|r| r.regret).collect::<Vec<_>>())
}

/// Parse and compile a genome text, with a readable error.
pub fn compile_text(text: &str) -> Result<(Genome, Program), String> {
    let genome = load(text, &Limits::default()).map_err(|d| format!("{:?}", d.first().map(|d| &d.message)))?;
    let prog = compile(&genome)?;
    Ok((genome, prog))
}

/// Compile a checked genome with the simulation's limits.
pub fn compile(genome: &Genome) -> Result<Program, String> {
    Program::compile(genome, Limits::default()).map_err(|d| format!("{:?}", d.first().map(|d| &d.message)))
}

/// The analysis root seed of a scenario: every analysis stream derives from it.
pub fn analysis_root(sc: &Scenario) -> u64 {
    rng::derive(sc.seed, "analysis", &[])
}
