//! Episodes: inner runs of mechanisms on (task, seed) pairs, run in parallel and
//! gathered in a fixed order, and fitness relative to the reference mechanism.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;

use super::diagnosis::{TraceStats, trace_stats};
use super::resources::ReferenceCache;
use crate::genome::interp::{LiveCounts, Program};
use crate::inner::run_inner;
use crate::objective::Objective;
use crate::rng;

/// The outcome of one episode.
#[derive(Debug, Clone, PartialEq)]
pub struct EpisodeResult {
    /// Task index.
    pub task: usize,
    /// Episode seed.
    pub seed: u64,
    /// Final regret (final score when the optimum is unknown).
    pub regret: f64,
    /// Final score.
    pub final_score: f64,
    /// Trace statistics for diagnosis.
    pub stats: TraceStats,
    /// Live-gene counts.
    pub live: LiveCounts,
    /// Compute spent.
    pub spent: f64,
}

/// The shared claim episodes: `per_task` seeds for every task, the same for every
/// mechanism (common random numbers make claims comparable).
pub fn claim_episodes(root: u64, tasks: usize, per_task: u32) -> Vec<(usize, u64)> {
    (0..tasks)
        .flat_map(|t| (0..per_task).map(move |k| (t, rng::derive(root, "claim", &[t as u64, k as u64]))))
        .collect()
}

/// Fresh verification episodes for one mechanism: never used by any claim.
pub fn verify_episodes(root: u64, id: u64, tasks: usize, per_task: u32) -> Vec<(usize, u64)> {
    (0..tasks)
        .flat_map(|t| (0..per_task).map(move |k| (t, rng::derive(root, "verify", &[id, t as u64, k as u64]))))
        .collect()
}

/// Wall-clock nanoseconds spent inside [`run_jobs`] by this process, for benchmarks
/// that separate the outer loop's own overhead from inner-loop work. Never read by the
/// simulation itself, so it cannot influence a run.
pub static EPISODE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Run every `(program, task, seed)` job; results come back in job order.
pub fn run_jobs(jobs: &[(&Program, usize, u64)], tasks: &[Box<dyn Objective>], budget: f64) -> Vec<EpisodeResult> {
    let started = std::time::Instant::now();
    let out = run_jobs_inner(jobs, tasks, budget);
    EPISODE_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

fn run_jobs_inner(jobs: &[(&Program, usize, u64)], tasks: &[Box<dyn Objective>], budget: f64) -> Vec<EpisodeResult> {
    jobs.par_iter()
        .map(|&(prog, task, seed)| {
            let objective = tasks[task].as_ref();
            let trace = run_inner(prog, objective, seed, budget);
            EpisodeResult {
                task,
                seed,
                regret: trace.outcome.regret.unwrap_or(trace.outcome.final_score),
                final_score: trace.outcome.final_score,
                stats: trace_stats(&trace),
                live: trace.live,
                spent: trace.outcome.spent,
            }
        })
        .collect()
}

/// Make sure the reference's regret is cached for every episode; returns the compute
/// spent on new reference runs.
pub fn ensure_reference(
    cache: &mut ReferenceCache,
    reference: &Program,
    episodes: &[(usize, u64)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
) -> f64 {
    let missing: Vec<(usize, u64)> = episodes.iter().copied().filter(|e| !cache.0.contains_key(e)).collect();
    let jobs: Vec<(&Program, usize, u64)> = missing.iter().map(|&(t, s)| (reference, t, s)).collect();
    let results = run_jobs(&jobs, tasks, budget);
    let mut spent = 0.0;
    for r in results {
        spent += r.spent;
        cache.0.insert((r.task, r.seed), r.regret);
    }
    spent
}

/// Relative gain of a mechanism over the reference on one episode: log10 of the ratio
/// of regrets, each floored at the task's resolution (positive = better than reference).
pub fn gain(mech_regret: f64, ref_regret: f64, resolution: f64) -> f64 {
    let r = resolution.max(1e-300);
    ((ref_regret.max(0.0) + r) / (mech_regret.max(0.0) + r)).log10()
}

/// Per-episode gains of results against the cached reference.
pub fn gains(results: &[EpisodeResult], cache: &ReferenceCache, tasks: &[Box<dyn Objective>]) -> Vec<f64> {
    results
        .iter()
        .map(|r| {
            let reference = cache.0.get(&(r.task, r.seed)).copied().unwrap_or(r.regret);
            gain(r.regret, reference, tasks[r.task].resolution())
        })
        .collect()
}

/// Mean and sample standard deviation.
pub fn mean_sd(xs: &[f64]) -> (f64, f64) {
    let n = xs.len();
    if n == 0 {
        return (f64::NAN, f64::NAN);
    }
    let mean = xs.iter().sum::<f64>() / n as f64;
    if n == 1 {
        return (mean, 0.0);
    }
    let var = xs.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / (n - 1) as f64;
    (mean, var.sqrt())
}

/// Sum live-gene counts of several episodes.
pub fn sum_live(results: &[EpisodeResult]) -> LiveCounts {
    let n = results.first().map(|r| r.live.evaluated.len()).unwrap_or(0);
    let mut total = LiveCounts { evaluated: vec![0; n], reached: vec![0; n] };
    for r in results {
        for i in 0..n.min(r.live.evaluated.len()) {
            total.evaluated[i] += r.live.evaluated[i];
            total.reached[i] += r.live.reached[i];
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gain_is_log_ratio_with_floor() {
        assert!((gain(1.0, 10.0, 1e-8) - 1.0).abs() < 1e-6);
        assert!(gain(10.0, 1.0, 1e-8) < 0.0);
        assert_eq!(gain(0.0, 0.0, 1e-3), 0.0);
        assert!((mean_sd(&[1.0, 3.0]).1 - 2f64.sqrt()).abs() < 1e-12);
    }
}
