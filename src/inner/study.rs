//! The one inner-loop core: a [`Study`] owns one episode's budget accounting, fidelity
//! choice, trial seeds and history. Whoever chooses the points drives it: a mechanism
//! (`run_inner`) or an external optimizer over the ask/tell protocol (`task serve`), so
//! both spend a budget the same way by construction.
//!
//! A step is: [`Study::can_afford`] (does the cheapest trial still fit?), [`Study::ask`]
//! (the level a requested fidelity runs at, lowered until the budget left pays for it),
//! then [`Study::evaluate`] (score the point on the objective with the seed of its trial
//! index, and tell it) or, for a trial scored elsewhere, [`Study::tell`] with its result.

use super::trace::{Outcome, outcome};
use crate::genome::ast::Recommend;
use crate::history::{History, Source, Trial};
use crate::objective::{Objective, TrialResult, fidelity_level};
use crate::rng;

/// The most trials one episode runs, whatever its budget (validation refuses budgets
/// that would allow more: see [`max_budget`]).
pub const MAX_TRIALS: usize = 100_000;

/// Slack on budget comparisons, so that costs summed in floating point still fit a
/// budget that is an exact multiple of them.
const BUDGET_SLACK: f64 = 1e-9;

/// The largest budget an episode on `objective` may have: [`MAX_TRIALS`] of its
/// cheapest trials.
pub fn max_budget(objective: &dyn Objective) -> f64 {
    MAX_TRIALS as f64 * cheapest_trial(objective)
}

/// The cost of `objective`'s cheapest trial (lowest fidelity): a budget below it runs
/// no trial at all.
pub fn cheapest_trial(objective: &dyn Objective) -> f64 {
    objective.fidelities().first().copied().unwrap_or(1.0) * objective.full_cost()
}

/// The fidelity level a trial runs at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grant {
    /// Index into the objective's fidelities.
    pub level: usize,
    /// Whether the requested level was lowered to fit the budget left.
    pub lowered: bool,
}

/// One episode on one objective: the budget, what it has spent and the trials so far.
pub struct Study<'a> {
    objective: &'a dyn Objective,
    seed: u64,
    budget: f64,
    history: History,
    spent: f64,
}

impl<'a> Study<'a> {
    /// An episode of `objective` with `seed` and `budget` cost units, no trial run yet.
    pub fn new(objective: &'a dyn Objective, seed: u64, budget: f64) -> Self {
        Study { objective, seed, budget, history: History::new(objective.fidelities().len()), spent: 0.0 }
    }

    /// Start over as episode `seed`: empty history, nothing spent.
    pub fn reset(&mut self, seed: u64) {
        *self = Study::new(self.objective, seed, self.budget);
    }

    /// The objective.
    pub fn objective(&self) -> &'a dyn Objective {
        self.objective
    }

    /// The episode's seed.
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// The budget in cost units.
    pub fn budget(&self) -> f64 {
        self.budget
    }

    /// Cost units spent so far.
    pub fn spent(&self) -> f64 {
        self.spent
    }

    /// Cost units left (never negative).
    pub fn remaining(&self) -> f64 {
        (self.budget - self.spent).max(0.0)
    }

    /// The share of the budget spent, at most 1 (what the language's `budget-used` reads).
    pub fn budget_used(&self) -> f64 {
        (self.spent / self.budget).min(1.0)
    }

    /// The trials so far.
    pub fn history(&self) -> &History {
        &self.history
    }

    /// Whether another trial may start: the cheapest level still fits the budget left
    /// and the episode has run fewer than [`MAX_TRIALS`].
    pub fn can_afford(&self) -> bool {
        self.fits(cheapest_trial(self.objective)) && self.history.len() < MAX_TRIALS
    }

    fn fits(&self, cost: f64) -> bool {
        self.spent + cost <= self.budget + BUDGET_SLACK
    }

    /// The level a trial requested at `fidelity` runs at: the level `fidelity` snaps up
    /// to, lowered while the budget left cannot pay for it (the lowest level always
    /// runs; check [`Study::can_afford`] first).
    pub fn ask(&self, fidelity: f64) -> Grant {
        let levels = self.objective.fidelities();
        let requested = fidelity_level(levels, fidelity);
        let mut level = requested;
        while level > 0 && !self.fits(levels[level] * self.objective.full_cost()) {
            level -= 1;
        }
        Grant { level, lowered: level != requested }
    }

    /// Score the snapped unit `point` at `level` on the objective, with the seed the
    /// episode gives the next trial index, and record it. Returns the trial and the
    /// objective's result (its learning curve included).
    pub fn evaluate(&mut self, point: Vec<f64>, level: usize, source: Source) -> (&Trial, TrialResult) {
        let o = self.objective;
        let config = o.space().decode(&point);
        let seed = rng::derive(self.seed, "trial", &[self.history.len() as u64]);
        let result = o.score(&config, o.fidelities()[level], seed);
        let trial = self.tell(point, level, &result, source);
        (trial, result)
    }

    /// Record a trial of the snapped unit `point` at `level` scored as `result`, and
    /// charge its cost. A non-positive or non-finite cost is charged as the level's
    /// nominal cost (a cost of zero would let a broken objective loop forever); a
    /// non-finite score is recorded as the worst score.
    pub fn tell(&mut self, point: Vec<f64>, level: usize, result: &TrialResult, source: Source) -> &Trial {
        let nominal = self.objective.fidelities()[level] * self.objective.full_cost();
        let cost = if result.cost > 0.0 && result.cost.is_finite() { result.cost } else { nominal };
        let score = if result.score.is_finite() { result.score } else { f64::MAX };
        self.spent += cost;
        self.history.push(Trial { point, level, score, cost, status: result.status, improved: false, source })
    }

    /// The episode's outcome under `rule`: the recommended config's true score and
    /// regret, and what was observed and spent.
    pub fn outcome(&self, rule: Recommend) -> Outcome {
        let o = self.objective;
        let space = o.space();
        outcome(self.history.trials(), self.budget, o.optimum(), rule, |t| o.true_score(&space.decode(&t.point)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::registry::objective_by_name;

    #[test]
    fn a_study_lowers_the_fidelity_to_fit_and_stops_when_the_cheapest_trial_does_not() {
        let task = objective_by_name("gpt-table").unwrap();
        let levels = task.fidelities().to_vec();
        let full = task.full_cost();
        // Room for one full trial and one at the lowest level, not two full ones.
        let budget = full * (1.0 + levels[0]);
        let mut study = Study::new(task.as_ref(), 7, budget);
        let point = vec![0.5; task.space().dim()];
        assert!(study.can_afford());
        assert_eq!(study.ask(1.0), Grant { level: levels.len() - 1, lowered: false });
        let snapped = task.space().snap(&point);
        study.evaluate(snapped.clone(), levels.len() - 1, Source::Propose);
        assert!(study.can_afford());
        assert_eq!(study.ask(1.0), Grant { level: 0, lowered: true });
        study.evaluate(snapped, 0, Source::Propose);
        assert!(!study.can_afford());
        assert!((study.spent() - budget).abs() < 1e-9 && study.remaining() < 1e-9);
        assert_eq!(study.budget_used(), 1.0);
        // The trial seeds are the episode's: a fresh study replays the same scores.
        let first = study.history().trials()[0].score;
        study.reset(7);
        assert_eq!(study.history().len(), 0);
        let (again, _) = study.evaluate(task.space().snap(&point), levels.len() - 1, Source::Propose);
        assert_eq!(again.score, first);
    }

    #[test]
    fn broken_costs_and_scores_are_charged_and_recorded_safely() {
        let task = objective_by_name("bbob-f1-i1-d2").unwrap();
        let mut study = Study::new(task.as_ref(), 1, 10.0);
        let result = |cost: f64, score: f64| TrialResult {
            score,
            curve: Vec::new(),
            cost,
            status: crate::objective::TrialStatus::Ok,
        };
        let top = task.fidelities().len() - 1;
        for (cost, score) in [(0.0, 1.0), (f64::NAN, f64::NAN), (-3.0, f64::INFINITY)] {
            let t = study.tell(vec![0.5, 0.5], top, &result(cost, score), Source::Propose);
            assert_eq!(t.cost, task.full_cost());
            assert!(t.score.is_finite());
        }
        assert_eq!(study.spent(), 3.0 * task.full_cost());
    }
}
