//! Objectives: things that score a config at a fidelity with a seed.
//!
//! The inner loop only talks to [`Objective`]. Scores are *lower is better*
//! (regret on BBOB, validation bits per byte for GPT trials). Budgets are counted in
//! compute units reported by the objective itself, so a cheap low-fidelity probe costs
//! less than a full trial.

pub mod bbob;
pub mod command;
pub mod faults;
pub mod gpt;
pub mod probe;
pub mod registry;

pub use crate::history::TrialStatus;
pub use crate::space::fidelity_level;
use crate::space::{Config, SearchSpace};

/// Result of one trial.
#[derive(Debug, Clone, PartialEq)]
pub struct TrialResult {
    /// Final score at the requested fidelity, lower is better. Finite even for failed
    /// trials (they get the objective's failure score).
    pub score: f64,
    /// Learning curve: `(fidelity, score)` at each of the objective's fidelity levels up
    /// to the requested one.
    pub curve: Vec<(f64, f64)>,
    /// Compute spent, in the objective's budget units.
    pub cost: f64,
    /// Whether the trial succeeded.
    pub status: TrialStatus,
}

/// Something that scores configs. Implementations must be deterministic functions of
/// `(config, fidelity, seed)`.
pub trait Objective: Send + Sync {
    /// Short name used in traces, e.g. `bbob-f8-i1-d5`.
    fn name(&self) -> &str;
    /// The search space configs come from.
    fn space(&self) -> &SearchSpace;
    /// The fidelity levels, increasing fractions of a full trial ending in `1.0`.
    fn fidelities(&self) -> &[f64];
    /// Score `config` at `fidelity` (snapped up to the nearest level) with `seed`.
    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult;
    /// Cost of one full-fidelity trial in budget units.
    fn full_cost(&self) -> f64;
    /// What one unit of budget carried over between tasks buys, in this task's budget
    /// units (how a held-out report sizes its budget): a full trial by default; BBOB
    /// counts `d` full evaluations, as the field scales budgets with the dimension.
    fn budget_unit(&self) -> f64 {
        self.full_cost()
    }
    /// The best score attainable, when known (used for regret).
    fn optimum(&self) -> Option<f64>;
    /// The true score of a recommended config: what the config is worth, not what one
    /// draw of it showed (a table's seed mean at full fidelity, or a fresh re-evaluation
    /// for live trials). `None` when the objective cannot tell, in which case the best
    /// observed score stands in.
    fn true_score(&self, _config: &Config) -> Option<f64> {
        None
    }
    /// Regret below which differences carry no meaning (noise or grid resolution);
    /// relative fitness floors regrets at this value.
    fn resolution(&self) -> f64 {
        1e-8
    }
    /// The score a failed (diverged or invalid) trial gets.
    fn failure_score(&self) -> f64 {
        f64::MAX
    }
    /// What went wrong with this objective's failed trials, in words, when it knows more
    /// than their status (a command objective keeps its program's first error).
    fn failure_note(&self) -> Option<String> {
        None
    }
    /// A hash of the user's files this task reads (a command's spec, program and data),
    /// when it reads any: a run records it and refuses to resume on changed files.
    fn input_identity(&self) -> Option<u64> {
        None
    }
}
