//! The pragmatist's learned prediction: will a proposal beat its parent?
//!
//! An online logistic regression over features the panel can see before compute is
//! spent (the operator, its credit under the diagnosis, the diagnosis itself, the
//! parent's fitness, rank, spread and trace statistics, the child's structural and behavioural distance
//! from its parent, novelty, risk, the nearest evaluated neighbour's fitness). It learns
//! from the run's own evaluated children (accepted and audited), one stochastic gradient
//! step per labelled child in id order, so it is deterministic; its weights are part of
//! the checkpoint and travel to `inherit`ing runs in the lessons file.

use bevy_ecs::prelude::Component;

use super::components::{AgentKind, Lineage};
use super::diagnosis::Diagnosis;
use super::operators::{MadeBy, Operator};

/// Number of proposer operators (one indicator feature each).
const OPERATORS: usize = 17;
/// Number of features (bias included).
pub const FEATURES: usize = 21 + OPERATORS;
/// The pragmatist's prediction for a debated proposal, kept until its evaluation
/// labels it (then the predictor learns from it and the prediction is scored).
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The features the panel saw.
    pub features: [f64; FEATURES],
    /// Predicted probability of beating the parent.
    pub probability: f64,
}

/// Step size of the online gradient step.
const LEARNING_RATE: f64 = 0.1;
/// L2 penalty per step (keeps rare features from running away).
const L2: f64 = 1e-3;

/// What the panel saw of one proposal, for the pragmatist's prediction.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Signals {
    /// Beta-posterior success rate of the operator under the parent's diagnosis.
    pub operator_credit: f64,
    /// Sigmoid of (nearest evaluated neighbour's fitness - parent fitness).
    pub neighbour: f64,
    /// The innovator's novelty score.
    pub novelty: f64,
    /// The contrarian's risk score.
    pub risk: f64,
    /// Fraction of the panel's reference population fitter than the parent (0 = the
    /// parent is the fittest: its claim is the most likely to have been lucky).
    pub parent_rank: f64,
}

/// The feature vector of a proposal.
pub fn features(lineage: &Lineage, signals: Signals) -> [f64; FEATURES] {
    let p = &lineage.parent;
    let spread = if p.claim.len() > 1 { crate::stats::mean_sd(&p.claim).1 } else { 0.0 };
    let mut x = [0.0; FEATURES];
    x[0] = 1.0;
    x[1] = signals.operator_credit;
    x[2] = signals.neighbour;
    x[3] = signals.novelty;
    x[4] = signals.risk.min(2.0);
    x[5] = lineage.parent_fitness.unwrap_or(0.0).clamp(-2.0, 2.0);
    x[6] = spread.min(2.0);
    x[7] = p.structural;
    x[8] = p.behavioural.min(1.0);
    x[9] = p.traits.stagnation;
    x[10] = p.traits.repeats;
    x[11] = p.traits.failures;
    x[12] = p.traits.diversity;
    x[13] = f64::from(u8::from(lineage.agent == AgentKind::Recombiner));
    // Indicators: the diagnosis (14..20), then the proposer's operator (21..).
    debug_assert_eq!(14 + Diagnosis::ALL.len(), 20);
    if let Some(d) = lineage.diagnosis {
        x[14 + d.index()] = 1.0;
    }
    x[20] = signals.parent_rank;
    let ops = Operator::all();
    debug_assert_eq!(ops.len(), OPERATORS);
    if lineage.agent == AgentKind::Proposer
        && let MadeBy::Operator(op) = lineage.operator
        && let Some(k) = ops.iter().position(|o| *o == op)
    {
        x[21 + k] = 1.0;
    }
    x
}

/// Logistic regression weights, learned online.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Predictor {
    /// One weight per feature.
    pub weights: Vec<f64>,
    /// Labelled children learned from.
    pub updates: u64,
}

impl Default for Predictor {
    fn default() -> Self {
        Predictor { weights: vec![0.0; FEATURES], updates: 0 }
    }
}

impl Predictor {
    /// Predicted probability that the proposal beats its parent.
    pub fn predict(&self, x: &[f64; FEATURES]) -> f64 {
        // Weights learnt over another feature set (an older operator list) mean nothing
        // here: no opinion until the first update resets them.
        if self.weights.len() != FEATURES {
            return 0.5;
        }
        let z: f64 = self.weights.iter().zip(x).map(|(w, v)| w * v).sum();
        1.0 / (1.0 + (-z.clamp(-30.0, 30.0)).exp())
    }

    /// One gradient step on the log loss of a labelled child.
    pub fn learn(&mut self, x: &[f64; FEATURES], improved: bool) {
        if self.weights.len() != FEATURES {
            *self = Predictor::default();
        }
        let err = self.predict(x) - f64::from(u8::from(improved));
        for (w, v) in self.weights.iter_mut().zip(x) {
            *w -= LEARNING_RATE * (err * v + L2 * *w);
        }
        self.updates += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_separable_signal_and_is_calibrated_on_noise() {
        let mut m = Predictor::default();
        let mut x = [0.0; FEATURES];
        x[0] = 1.0;
        for i in 0..4000 {
            x[3] = f64::from(i % 2);
            m.learn(&x, i % 2 == 1);
        }
        x[3] = 1.0;
        let yes = m.predict(&x);
        x[3] = 0.0;
        assert!(yes > 0.8 && m.predict(&x) < 0.2, "{yes}");
        // Pure noise at a 25% base rate: the prediction converges to the base rate.
        let mut m = Predictor::default();
        for i in 0..4000 {
            m.learn(&x, i % 4 == 0);
        }
        assert!((m.predict(&x) - 0.25).abs() < 0.05);
    }
}
