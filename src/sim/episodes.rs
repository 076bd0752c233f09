//! Episodes: inner runs of mechanisms on (task, seed) pairs, run in parallel and
//! gathered in a fixed order, and fitness relative to the reference mechanism.

pub use crate::scenario::choices::Aggregate;
use std::sync::atomic::{AtomicU64, Ordering};

use super::diagnosis::TraceStats;
pub use super::executor::{EpisodeResult, run_jobs_locally};
use super::resources::ReferenceCache;
use crate::genome::interp::{LiveCounts, Program};
use crate::inner::Execution;
use crate::objective::Objective;
use crate::rng;

/// The three disjoint kinds of episode seeds. Each is one stream shared by every
/// mechanism (common random numbers make comparisons paired), ordered in blocks of one
/// episode per task so that any prefix of whole blocks weighs every task equally.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeedKind {
    /// Selection: claims and the race that extends them.
    Claim,
    /// Verification of would-be elites; elites and the champion are chosen on these.
    Verify,
    /// The final report of the champion: never used to choose anything.
    Report,
}

impl SeedKind {
    fn purpose(self) -> &'static str {
        match self {
            SeedKind::Claim => "claim",
            SeedKind::Verify => "verify",
            SeedKind::Report => "report",
        }
    }
}

/// Episodes `blocks.start..blocks.end` of a kind: block `k` holds one episode per task.
pub fn episode_blocks(root: u64, kind: SeedKind, tasks: usize, blocks: std::ops::Range<u32>) -> Vec<(usize, u64)> {
    blocks
        .flat_map(|k| (0..tasks).map(move |t| (t, rng::derive(root, kind.purpose(), &[t as u64, k as u64]))))
        .collect()
}

/// The shared claim episodes: `per_task` blocks, the same for every mechanism.
pub fn claim_episodes(root: u64, tasks: usize, per_task: u32) -> Vec<(usize, u64)> {
    episode_blocks(root, SeedKind::Claim, tasks, 0..per_task)
}

/// The report episodes of the final champion.
pub fn report_episodes(root: u64, tasks: usize, per_task: u32) -> Vec<(usize, u64)> {
    episode_blocks(root, SeedKind::Report, tasks, 0..per_task)
}

/// Wall-clock nanoseconds spent inside [`run_jobs`] by this process, for benchmarks
/// that separate the outer loop's own overhead from inner-loop work. Never read by the
/// simulation itself, so it cannot influence a run.
pub static EPISODE_NANOS: AtomicU64 = AtomicU64::new(0);

/// Episodes finished by [`run_jobs`] in this process, for progress displays (read,
/// never used by the simulation).
pub static EPISODES_DONE: AtomicU64 = AtomicU64::new(0);

/// Run every `(program, task, seed)` job under `execution` (self-healing or crashing
/// on the first fault); results come back in job order.
pub fn run_jobs(
    jobs: &[(&Program, usize, u64)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
    execution: Execution,
) -> Vec<EpisodeResult> {
    let started = std::time::Instant::now();
    let out = match crate::exec::remote() {
        Some(_) if !jobs.is_empty() => {
            let batch = super::executor::batch_of(jobs, tasks, budget, execution);
            match crate::exec::execute(&batch, 1, &mut |_, _| {}) {
                Ok(results) => results,
                Err(message) => {
                    crate::exec::record_failure(message);
                    placeholders(jobs)
                }
            }
        }
        _ => run_jobs_locally(jobs, tasks, budget, execution),
    };
    EPISODE_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    EPISODES_DONE.fetch_add(jobs.len() as u64, Ordering::Relaxed);
    out
}

/// Finite stand-ins for the results of a batch whose executor failed: the tick goes on
/// without panicking, and the run folder refuses to persist it (`exec::take_failure`).
fn placeholders(jobs: &[(&Program, usize, u64)]) -> Vec<EpisodeResult> {
    jobs.iter()
        .map(|&(prog, task, seed)| EpisodeResult {
            task,
            seed,
            regret: 1.0,
            final_score: 1.0,
            stats: TraceStats::default(),
            live: LiveCounts { evaluated: vec![0; prog.len()], reached: vec![0; prog.len()] },
            spent: 0.0,
        })
        .collect()
}

/// Make sure the reference's regret (run under `execution`, like every mechanism) is
/// cached for every episode; returns the compute spent on new reference runs.
pub fn ensure_reference(
    cache: &mut ReferenceCache,
    reference: &Program,
    episodes: &[(usize, u64)],
    tasks: &[Box<dyn Objective>],
    budget: f64,
    execution: Execution,
) -> f64 {
    let missing: Vec<(usize, u64)> = episodes.iter().copied().filter(|e| !cache.0.contains_key(e)).collect();
    let jobs: Vec<(&Program, usize, u64)> = missing.iter().map(|&(t, s)| (reference, t, s)).collect();
    let results = run_jobs(&jobs, tasks, budget, execution);
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
    }

    #[test]
    fn aggregates_weigh_tasks_equally_or_take_the_worst() {
        // Two tasks, block order: task 0 at even positions, task 1 at odd ones.
        let g = [1.0, -1.0, 3.0, -1.0];
        assert_eq!(Aggregate::Mean.fitness(&g, 2), 0.5);
        assert_eq!(Aggregate::WorstTask.fitness(&g, 2), -1.0);
        // Whole blocks: the mean of task means is the mean of the episodes.
        assert_eq!(Aggregate::Mean.fitness(&g, 2), crate::stats::mean(&g));
    }

    #[test]
    fn seed_kinds_are_disjoint_and_blocks_are_prefixes() {
        let claim = claim_episodes(7, 3, 4);
        let verify = episode_blocks(7, SeedKind::Verify, 3, 0..4);
        let report = report_episodes(7, 3, 4);
        for (a, b) in [(&claim, &verify), (&claim, &report), (&verify, &report)] {
            assert!(a.iter().all(|x| !b.contains(x)));
        }
        // Block k holds one episode per task, and more blocks extend the same sequence.
        assert_eq!(claim[..3].iter().map(|e| e.0).collect::<Vec<_>>(), vec![0, 1, 2]);
        assert_eq!(&claim_episodes(7, 3, 6)[..12], &claim[..]);
        assert_eq!(episode_blocks(7, SeedKind::Claim, 3, 2..4), claim[6..].to_vec());
    }
}
