//! The evaluator: the one owner of running episodes. It holds the tasks, the budget,
//! the fault policy, the executor and (in a simulation) the reference mechanism with
//! its cached regrets, and runs `(program, task, seed)` jobs, returning their results
//! in job order or the executor's failure. The sim's evaluate, verify and report, the
//! analysis and the reproductions all run episodes through it.
//!
//! In a simulation it is a resource. A system whose batch fails records the failure
//! ([`Evaluator::fail`]) and returns; the schedule skips the rest of the tick
//! ([`healthy`]) and [`super::Simulation::tick`] returns the failure, so no made-up
//! result ever reaches the world and the driver never persists the tick.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use bevy_ecs::prelude::*;

use super::episode_batch::{EpisodeResult, batch_of, run_jobs_locally};
use crate::exec::Executor;
use crate::genome::interp::{LiveCounts, Program};
use crate::inner::FaultPolicy;
use crate::inner::trace::aocc_regret;
use crate::objective::Objective;
use crate::scenario::choices::EpisodeScore;

/// A batch of episodes that could not be run: the executor's final error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{0}")]
pub struct EvaluationError(pub String);

/// Episodes finished by every evaluator of this process, for progress displays. Write
/// only for computations: nothing that decides or measures anything reads it, so it
/// cannot influence a result.
pub static EPISODES_DONE: AtomicU64 = AtomicU64::new(0);

/// Wall-clock nanoseconds every evaluator of this process spent running episodes, for
/// the benchmark that separates the outer loop's own overhead from inner-loop work
/// (write only, like [`EPISODES_DONE`]).
pub static EPISODE_NANOS: AtomicU64 = AtomicU64::new(0);

/// The reference mechanism and its regret per `(task index, episode seed)` at the
/// evaluator's budget, computed once per episode.
#[derive(Debug, Clone)]
struct Reference {
    program: Program,
    regrets: BTreeMap<(usize, u64), f64>,
}

/// Runs episodes; see the module documentation.
#[derive(Resource)]
pub struct Evaluator {
    tasks: Vec<Box<dyn Objective>>,
    budget: f64,
    policy: FaultPolicy,
    executor: Executor,
    reference: Option<Reference>,
    failure: Option<EvaluationError>,
    score: EpisodeScore,
}

impl Evaluator {
    /// An evaluator of `tasks` at `budget` per episode under `policy`, running its
    /// batches on `executor`.
    pub fn new(tasks: Vec<Box<dyn Objective>>, budget: f64, policy: FaultPolicy, executor: Executor) -> Self {
        Evaluator { tasks, budget, policy, executor, reference: None, failure: None, score: EpisodeScore::FinalRegret }
    }

    /// The same evaluator scoring each episode by `score` (`inner.score`): with
    /// [`EpisodeScore::Aocc`] every result's `regret` is the regret equivalent of its AOCC
    /// where the task knows its optimum, so fitness, claims, verification and the
    /// reference's cache all measure whole convergence curves.
    pub fn scored_by(mut self, score: EpisodeScore) -> Self {
        self.score = score;
        self
    }

    /// The same evaluator measuring gains against `reference`, whose regrets start from
    /// `cached` (a checkpoint's).
    pub fn with_reference(mut self, reference: Program, cached: BTreeMap<(usize, u64), f64>) -> Self {
        self.reference = Some(Reference { program: reference, regrets: cached });
        self
    }

    /// The tasks, in scenario order.
    pub fn tasks(&self) -> &[Box<dyn Objective>] {
        &self.tasks
    }

    /// The budget per episode.
    pub fn budget(&self) -> f64 {
        self.budget
    }

    /// How episodes meet genome faults and failed trials.
    pub fn policy(&self) -> FaultPolicy {
        self.policy
    }

    /// The reference mechanism, if this evaluator has one.
    pub fn reference(&self) -> Option<&Program> {
        self.reference.as_ref().map(|r| &r.program)
    }

    /// The reference's cached regrets, by `(task index, episode seed)`.
    pub fn reference_regrets(&self) -> impl Iterator<Item = ((usize, u64), f64)> + '_ {
        self.reference.iter().flat_map(|r| r.regrets.iter().map(|(&k, &v)| (k, v)))
    }

    /// Run every job at the evaluator's budget; results in job order.
    pub fn run(&self, jobs: &[(&Program, usize, u64)]) -> Result<Vec<EpisodeResult>, EvaluationError> {
        self.run_at(jobs, self.budget, self.policy)
    }

    /// Run every job at `budget` under `policy` (the analysis's budget curves and
    /// crash-on-fault measurements); results in job order.
    pub fn run_at(
        &self,
        jobs: &[(&Program, usize, u64)],
        budget: f64,
        policy: FaultPolicy,
    ) -> Result<Vec<EpisodeResult>, EvaluationError> {
        if let Some(failure) = &self.failure {
            return Err(failure.clone());
        }
        let started = std::time::Instant::now();
        let out = if self.executor.is_remote() && !jobs.is_empty() {
            let batch = batch_of(jobs, &self.tasks, budget, policy);
            self.executor.execute(&batch, 1, &mut |_, _| {}).map_err(EvaluationError)?
        } else {
            run_jobs_locally(jobs, &self.tasks, budget, policy)
        };
        EPISODE_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
        EPISODES_DONE.fetch_add(jobs.len() as u64, Ordering::Relaxed);
        Ok(match self.score {
            EpisodeScore::FinalRegret => out,
            EpisodeScore::Aocc => out
                .into_iter()
                .map(|r| match r.aocc {
                    Some(a) => EpisodeResult { regret: aocc_regret(a), ..r },
                    None => r,
                })
                .collect(),
        })
    }

    /// Make sure the reference's regret is cached for every episode (run under the same
    /// policy as every mechanism); returns the compute spent on new reference runs.
    /// Without a reference nothing is run.
    pub fn ensure_reference(&mut self, episodes: &[(usize, u64)]) -> Result<f64, EvaluationError> {
        let Some(reference) = &self.reference else { return Ok(0.0) };
        let missing: Vec<(usize, u64)> =
            episodes.iter().copied().filter(|e| !reference.regrets.contains_key(e)).collect();
        let jobs: Vec<(&Program, usize, u64)> = missing.iter().map(|&(t, s)| (&reference.program, t, s)).collect();
        let results = self.run(&jobs)?;
        let regrets = &mut self.reference.as_mut().expect("checked above").regrets;
        let mut spent = 0.0;
        for r in results {
            spent += r.spent;
            regrets.insert((r.task, r.seed), r.regret);
        }
        Ok(spent)
    }

    /// Per-episode gains of `results` over the cached reference (an episode the
    /// reference has not run counts as a tie).
    pub fn gains(&self, results: &[EpisodeResult]) -> Vec<f64> {
        results
            .iter()
            .map(|r| {
                let cached = self.reference.as_ref().and_then(|c| c.regrets.get(&(r.task, r.seed)));
                gain(r.regret, cached.copied().unwrap_or(r.regret), self.tasks[r.task].resolution())
            })
            .collect()
    }

    /// Per-episode gains of `results` over `reference` results on the same episodes.
    pub fn paired_gains(&self, results: &[EpisodeResult], reference: &[EpisodeResult]) -> Vec<f64> {
        results.iter().zip(reference).map(|(r, b)| gain(r.regret, b.regret, self.tasks[r.task].resolution())).collect()
    }

    /// Record a failed batch: the first failure stands, later runs refuse to start, and
    /// the schedule skips what is left of the tick.
    pub fn fail(&mut self, failure: EvaluationError) {
        self.failure.get_or_insert(failure);
    }

    /// The failure recorded since the last call, if any (the tick that saw it must not
    /// be persisted).
    pub fn take_failure(&mut self) -> Option<EvaluationError> {
        self.failure.take()
    }
}

impl Evaluator {
    /// Whether no batch has failed since the last [`Evaluator::take_failure`].
    pub fn is_healthy(&self) -> bool {
        self.failure.is_none()
    }
}

/// Relative gain of a mechanism over the reference on one episode: log10 of the ratio
/// of regrets, each floored at the task's resolution (positive = better than reference).
pub fn gain(mech_regret: f64, ref_regret: f64, resolution: f64) -> f64 {
    let r = resolution.max(1e-300);
    ((ref_regret.max(0.0) + r) / (mech_regret.max(0.0) + r)).log10()
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
    use std::sync::Arc;

    use crate::exec::FailingExecutor;
    use crate::genome::{Limits, load};
    use crate::objective::registry::objective_by_name;

    fn program(text: &str) -> Program {
        Program::compile(&load(text, &Limits::default()).unwrap(), Limits::default()).unwrap()
    }

    fn evaluator(executor: Executor) -> Evaluator {
        let tasks = vec![objective_by_name("bbob-f1-i1-d3").unwrap()];
        let reference = program(
            &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/mechanisms/uniform-random.mech"))
                .unwrap(),
        );
        Evaluator::new(tasks, 20.0, FaultPolicy::SelfHealing, executor).with_reference(reference, BTreeMap::new())
    }

    #[test]
    fn gain_is_log_ratio_with_floor() {
        assert!((gain(1.0, 10.0, 1e-8) - 1.0).abs() < 1e-6);
        assert!(gain(10.0, 1.0, 1e-8) < 0.0);
        assert_eq!(gain(0.0, 0.0, 1e-3), 0.0);
    }

    #[test]
    fn the_reference_runs_once_per_episode_and_is_its_own_tie() {
        let mut ev = evaluator(Executor::local());
        let episodes = [(0, 11), (0, 12)];
        assert!(ev.ensure_reference(&episodes).unwrap() > 0.0);
        assert_eq!(ev.ensure_reference(&episodes).unwrap(), 0.0, "cached: nothing runs again");
        assert_eq!(ev.reference_regrets().count(), 2);
        let reference = ev.reference().unwrap().clone();
        let jobs: Vec<(&Program, usize, u64)> = episodes.iter().map(|&(t, s)| (&reference, t, s)).collect();
        let results = ev.run(&jobs).unwrap();
        assert_eq!(ev.gains(&results), vec![0.0, 0.0]);
    }

    #[test]
    fn aocc_scoring_replaces_each_regret_by_its_aocc_equivalent() {
        let final_regret = evaluator(Executor::local());
        let aocc = evaluator(Executor::local()).scored_by(EpisodeScore::Aocc);
        let reference = final_regret.reference().unwrap().clone();
        let jobs: Vec<(&Program, usize, u64)> = (0..3).map(|s| (&reference, 0, s)).collect();
        let (plain, curve) = (final_regret.run(&jobs).unwrap(), aocc.run(&jobs).unwrap());
        for (p, c) in plain.iter().zip(&curve) {
            let a = p.aocc.expect("BBOB knows its optimum");
            assert_eq!((c.aocc, c.regret), (Some(a), aocc_regret(a)));
            // The curve's geometric mean is never below the final best-so-far regret.
            assert!(c.regret >= p.regret.clamp(1e-8, 1e2) * (1.0 - 1e-9), "{} vs {}", c.regret, p.regret);
        }
    }

    #[test]
    fn a_failed_batch_is_an_error_that_stops_later_runs_until_taken() {
        let mut ev = evaluator(Executor::remote(Arc::new(FailingExecutor("the cluster is down"))));
        let err = ev.ensure_reference(&[(0, 1)]).unwrap_err();
        assert!(err.0.contains("the cluster is down"), "{err}");
        assert_eq!(ev.reference_regrets().count(), 0, "no made-up regret is cached");
        ev.fail(err.clone());
        ev.fail(EvaluationError("later".into()));
        assert_eq!(ev.run(&[]).unwrap_err(), err, "a failed evaluator refuses work");
        assert_eq!(ev.take_failure(), Some(err), "the first failure stands");
        assert!(ev.take_failure().is_none());
        assert!(ev.run_at(&[], 1.0, FaultPolicy::SelfHealing).unwrap().is_empty());
    }
}
