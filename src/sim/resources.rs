//! Resources of the simulation world.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::prelude::*;

use super::events::Event;
use crate::scenario::Scenario;
use crate::stats::wilson;

/// The validated scenario, as the systems read it (`Settings`, not `Config`: a `space::Config`
/// is one assignment of the knobs).
#[derive(Resource, Debug, Clone)]
pub struct Settings(pub Scenario);

/// The current tick and the next mechanism id.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Clock {
    /// Current tick (0-based).
    pub tick: u32,
    /// Next mechanism id.
    pub next_id: u64,
}

impl Clock {
    /// Take a fresh mechanism id.
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Known structural hashes and fingerprint hashes, mapped to the first mechanism id.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Structural hash -> mechanism id.
    pub structures: BTreeMap<u64, u64>,
    /// Fingerprint hash -> mechanism id.
    pub behaviours: BTreeMap<u64, u64>,
}

pub use super::operators::{Credit, OperatorStats};

/// One hall-of-fame entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HallEntry {
    /// Mechanism id in its run.
    pub id: u64,
    /// Canonical genome text.
    pub genome: String,
    /// Verified fitness.
    pub verified: f64,
}

/// What this run leaves for the next: hall of fame and failure signatures.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Lessons {
    /// Best verified mechanisms, best first (bounded).
    pub hall_of_fame: Vec<HallEntry>,
    /// Structural hashes of children that did clearly worse than their parent.
    pub failures: BTreeSet<u64>,
}

/// Events of the current tick, not yet written.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct EventQueue(pub Vec<Event>);

/// The debate's track record: precision of its accepts, the improvement rate of the
/// audited rejections, and the calibration of the pragmatist's predictions.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DebateStats {
    /// Accepted proposals evaluated.
    pub accepted: u64,
    /// Accepted proposals that beat their parent.
    pub accepted_improved: u64,
    /// Rejected proposals evaluated anyway.
    pub audited: u64,
    /// Audited rejected proposals that beat their parent.
    pub audited_improved: u64,
    /// Predictions scored against their outcome (accepted and audited children).
    pub scored: u64,
    /// Sum of squared errors of the pragmatist's predicted probabilities (Brier).
    pub brier_sum: f64,
    /// Sum of squared errors of the running base rate, the no-skill forecast.
    pub base_brier_sum: f64,
}

impl DebateStats {
    /// Precision: fraction of accepted proposals that improved.
    pub fn precision(&self) -> Option<f64> {
        (self.accepted > 0).then(|| self.accepted_improved as f64 / self.accepted as f64)
    }

    /// Fraction of rejected (audited) proposals that would have improved.
    pub fn false_rejection_rate(&self) -> Option<f64> {
        (self.audited > 0).then(|| self.audited_improved as f64 / self.audited as f64)
    }

    /// The debate's value: precision minus the audited rejections' improvement rate,
    /// with Newcombe's 95% interval (from the two Wilson intervals). `None` until both
    /// sides have been measured.
    pub fn value(&self) -> Option<(f64, f64, f64)> {
        let (p1, p2) = (self.precision()?, self.false_rejection_rate()?);
        let (l1, u1) = wilson(self.accepted_improved, self.accepted);
        let (l2, u2) = wilson(self.audited_improved, self.audited);
        let d = p1 - p2;
        Some((
            d,
            d - ((p1 - l1).powi(2) + (u2 - p2).powi(2)).sqrt(),
            d + ((u1 - p1).powi(2) + (p2 - l2).powi(2)).sqrt(),
        ))
    }

    /// Mean Brier score of the pragmatist and of the no-skill base rate.
    pub fn brier(&self) -> Option<(f64, f64)> {
        (self.scored > 0).then(|| (self.brier_sum / self.scored as f64, self.base_brier_sum / self.scored as f64))
    }

    /// Improvement rate of every scored child so far (Laplace-smoothed): the base rate
    /// the pragmatist must beat.
    pub fn base_rate(&self) -> f64 {
        (self.accepted_improved + self.audited_improved + 1) as f64 / (self.accepted + self.audited + 2) as f64
    }
}

/// How many proposals per tick the debate may reject (the proposer writes that many
/// beyond the evaluation slots); it follows the debate's measured value.
#[derive(Resource, Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DebateBudget {
    /// Extra proposals per tick.
    pub extra: usize,
}

impl DebateBudget {
    /// Audits needed before the budget moves.
    pub const MIN_AUDITS: u64 = 10;

    /// Grow while the value interval is above zero; shrink (not below one, so the debate
    /// keeps being measured) while the value's estimate is not positive.
    pub fn follow(&mut self, stats: &DebateStats, max_extra: usize) {
        if stats.audited < Self::MIN_AUDITS {
            return;
        }
        let Some((d, lo, _)) = stats.value() else { return };
        if lo > 0.0 {
            self.extra = (self.extra + 1).min(max_extra);
        } else if d <= 0.0 {
            self.extra = self.extra.saturating_sub(1).max(1);
        }
    }
}

/// Evaluations and verified wins of the children of each creating agent: the
/// recombiner's share of the evaluation slots follows its measured yield.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AgentYield {
    /// Proposer children evaluated and verified wins.
    pub proposer: Credit,
    /// Recombiner children evaluated and verified wins.
    pub recombiner: Credit,
}

impl AgentYield {
    /// Pseudo-evaluations of the configured share before the yields are measured.
    const PRIOR: f64 = 20.0;

    /// Recombiner slots out of `total`, starting at `configured` and moving toward the
    /// share of verified wins per evaluation the recombiner measurably earns.
    pub fn recombiner_slots(&self, total: usize, configured: usize) -> usize {
        if total < 2 {
            return configured.min(total);
        }
        let rate = |c: Credit| (c.wins as f64 + 0.5) / (c.trials as f64 + 1.0);
        let measured = rate(self.recombiner) / (rate(self.recombiner) + rate(self.proposer));
        let n = self.recombiner.trials as f64;
        let share = (n * measured + Self::PRIOR * configured as f64 / total as f64) / (n + Self::PRIOR);
        ((share * total as f64).round() as usize).clamp(1, total - 1)
    }
}

/// One row of the metrics table, written at the end of every tick.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricsRow {
    /// Tick.
    pub tick: u32,
    /// Live mechanisms.
    pub population: usize,
    /// Best verified fitness so far (NaN when none).
    pub best_verified: f64,
    /// Best claimed fitness among live mechanisms.
    pub best_claimed: f64,
    /// Median best-known fitness of live mechanisms.
    pub median_fitness: f64,
    /// Mechanisms evaluated this tick.
    pub evaluated: usize,
    /// Mechanisms verified this tick.
    pub verified: usize,
    /// Mean claimed-minus-verified gap this tick (NaN when none verified).
    pub verifier_gap: f64,
    /// Debate precision so far (NaN before any evaluation).
    pub debate_precision: f64,
    /// Extra proposals the debate may reject next tick.
    pub debate_extra: usize,
    /// Inner compute spent so far.
    pub compute: f64,
}

/// Metrics rows and the running compute total.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// One row per tick.
    pub rows: Vec<MetricsRow>,
    /// Inner compute spent so far.
    pub compute: f64,
    /// Evaluations in the current tick.
    pub tick_evaluated: usize,
    /// Verifications in the current tick and their gaps.
    pub tick_gaps: Vec<f64>,
    /// Distinct mechanisms verified so far (the pool a champion is the best of).
    pub verified_mechanisms: u64,
}

/// The pragmatist's learned predictor.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Pragmatist(pub super::predictor::Predictor);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_debate_budget_follows_the_measured_value() {
        let good = DebateStats {
            accepted: 400,
            accepted_improved: 120,
            audited: 40,
            audited_improved: 2,
            ..Default::default()
        };
        let useless = DebateStats {
            accepted: 400,
            accepted_improved: 40,
            audited: 40,
            audited_improved: 8,
            ..Default::default()
        };
        let unmeasured = DebateStats { audited: 5, ..good };
        let mut b = DebateBudget { extra: 2 };
        b.follow(&unmeasured, 6);
        assert_eq!(b.extra, 2, "fewer than MIN_AUDITS audits move nothing");
        b.follow(&good, 6);
        assert_eq!(b.extra, 3);
        for _ in 0..10 {
            b.follow(&good, 6);
        }
        assert_eq!(b.extra, 6, "capped at max_extra");
        for _ in 0..10 {
            b.follow(&useless, 6);
        }
        assert_eq!(b.extra, 1, "never below one, so the debate stays measured");
    }

    #[test]
    fn the_recombiner_share_follows_its_verified_yield() {
        let start = AgentYield::default();
        assert_eq!(start.recombiner_slots(7, 1), 1);
        let fertile =
            AgentYield { proposer: Credit { trials: 600, wins: 6 }, recombiner: Credit { trials: 200, wins: 20 } };
        assert!(fertile.recombiner_slots(7, 1) >= 4);
        let barren =
            AgentYield { proposer: Credit { trials: 600, wins: 30 }, recombiner: Credit { trials: 200, wins: 0 } };
        assert_eq!(barren.recombiner_slots(7, 3), 1, "at least one slot each");
    }
}
