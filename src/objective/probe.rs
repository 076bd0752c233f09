//! The probe task: a fixed, cheap, multi-fidelity 4-D function used for behavioural
//! fingerprints. It must never change, or every stored fingerprint would shift.

use super::{Objective, TrialResult, TrialStatus, fidelity_level};
use crate::space::{Config, Knob, SearchSpace};

const CENTRE: [f64; 4] = [0.31, 0.72, 0.55, 0.18];
const WEIGHT: [f64; 4] = [1.0, 3.0, 10.0, 30.0];
const LEVELS: [f64; 4] = [0.125, 0.25, 0.5, 1.0];

/// A rugged ill-conditioned bowl on `[0, 1]^4` with a fidelity bias.
#[derive(Debug, Clone)]
pub struct Probe {
    space: SearchSpace,
}

impl Default for Probe {
    fn default() -> Self {
        let knobs = (0..4).map(|i| Knob::linear(&format!("x{i}"), 0.0, 1.0)).collect();
        Probe { space: SearchSpace::new(knobs).unwrap_or_else(|_| unreachable!("fixed valid space")) }
    }
}

impl Probe {
    fn value(x: &[f64]) -> f64 {
        x.iter()
            .zip(CENTRE.iter().zip(WEIGHT))
            .map(|(xi, (c, w))| {
                let d = xi - c;
                w * d * d + 0.05 * (1.0 - (6.0 * std::f64::consts::PI * d).cos())
            })
            .sum()
    }
}

impl Objective for Probe {
    fn name(&self) -> &str {
        "probe"
    }
    fn space(&self) -> &SearchSpace {
        &self.space
    }
    fn fidelities(&self) -> &[f64] {
        &LEVELS
    }
    fn score(&self, config: &Config, fidelity: f64, _seed: u64) -> TrialResult {
        let x = self.space.encode(config);
        let f = Self::value(&x);
        let bias = 0.5 + 0.5 * x.iter().map(|v| (v - 0.5).abs()).sum::<f64>();
        let top = fidelity_level(&LEVELS, fidelity);
        let curve: Vec<(f64, f64)> = LEVELS[..=top].iter().map(|&l| (l, f + (1.0 - l) * bias)).collect();
        TrialResult { score: curve[top].1, curve, cost: LEVELS[top], status: TrialStatus::Ok }
    }
    fn full_cost(&self) -> f64 {
        1.0
    }
    fn optimum(&self) -> Option<f64> {
        Some(0.0)
    }
    /// The probe never fails on its own; an injected failure scores like BBOB's.
    fn failure_score(&self) -> f64 {
        crate::objective::bbob::FAILURE_SCORE
    }
}
