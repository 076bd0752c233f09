//! Injected faults: `<task>+diverge<P>` wraps any objective so that every config whose
//! first knob, in unit coordinates, lies above `1 - P` diverges, like a learning rate
//! set too high (on the GPT suite the first knob is the learning rate).
//!
//! A diverged trial gets the wrapped objective's failure score at every level of its
//! curve, status [`TrialStatus::Diverged`], and the cost the wrapped objective charges
//! for that config and fidelity. Everything else (space, fidelities, optimum, true
//! score, resolution) is the wrapped objective's.

use super::{Objective, TrialResult, TrialStatus};
use crate::space::{Config, SearchSpace};

/// The suffix that introduces the modifier, e.g. `+diverge0.15`.
pub const DIVERGE_PREFIX: &str = "+diverge";

/// Parse the `P` of `+diverge<P>` (the text after the prefix): a decimal strictly
/// between 0 and 1.
pub fn parse_diverge_fraction(text: &str) -> Result<f64, String> {
    let bad =
        || format!("`{DIVERGE_PREFIX}{text}`: the diverging fraction must be a decimal in (0, 1), e.g. +diverge0.15");
    let p: f64 = text.parse().map_err(|_| bad())?;
    if p.is_finite() && p > 0.0 && p < 1.0 { Ok(p) } else { Err(bad()) }
}

/// An objective whose configs diverge where the first knob's unit coordinate is above
/// `1 - fraction`.
pub struct Diverging {
    inner: Box<dyn Objective>,
    fraction: f64,
    name: String,
}

impl Diverging {
    /// Wrap `inner`; `suffix` is the modifier as written (e.g. `+diverge0.15`), appended
    /// to the wrapped objective's name. `fraction` must lie in (0, 1).
    pub fn new(inner: Box<dyn Objective>, fraction: f64, suffix: &str) -> Self {
        let name = format!("{}{suffix}", inner.name());
        Diverging { inner, fraction, name }
    }

    /// The fraction of the first knob's unit range, at its top, that diverges.
    pub fn fraction(&self) -> f64 {
        self.fraction
    }

    /// Whether `config` lies in the diverging region.
    pub fn diverges(&self, config: &Config) -> bool {
        let first = self.inner.space().knobs().first().map(|k| k.encode(config.values[0]));
        first.is_some_and(|u| u > 1.0 - self.fraction)
    }
}

impl Objective for Diverging {
    fn name(&self) -> &str {
        &self.name
    }

    fn space(&self) -> &SearchSpace {
        self.inner.space()
    }

    fn fidelities(&self) -> &[f64] {
        self.inner.fidelities()
    }

    fn budget_unit(&self) -> f64 {
        self.inner.budget_unit()
    }

    fn score(&self, config: &Config, fidelity: f64, seed: u64) -> TrialResult {
        let result = self.inner.score(config, fidelity, seed);
        if !self.diverges(config) {
            return result;
        }
        let fail = self.inner.failure_score();
        TrialResult {
            score: fail,
            curve: result.curve.iter().map(|&(l, _)| (l, fail)).collect(),
            cost: result.cost,
            status: TrialStatus::Diverged,
        }
    }

    fn full_cost(&self) -> f64 {
        self.inner.full_cost()
    }

    fn optimum(&self) -> Option<f64> {
        self.inner.optimum()
    }

    fn true_score(&self, config: &Config) -> Option<f64> {
        self.inner.true_score(config)
    }

    fn resolution(&self) -> f64 {
        self.inner.resolution()
    }

    fn failure_score(&self) -> f64 {
        self.inner.failure_score()
    }

    fn failure_note(&self) -> Option<String> {
        self.inner.failure_note()
    }

    fn input_identity(&self) -> Option<u64> {
        self.inner.input_identity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::bbob::{BbobObjective, FAILURE_SCORE};
    use crate::objective::gpt::FAILURE_BPB;
    use crate::objective::registry::objective_by_name;

    /// A unit point with first coordinate `first` and the rest at 0.3.
    fn point(o: &dyn Objective, first: f64) -> Config {
        let mut u = vec![0.3; o.space().dim()];
        u[0] = first;
        o.space().decode(&o.space().snap(&u))
    }

    #[test]
    fn the_top_of_the_first_knob_diverges_and_the_rest_is_the_wrapped_task() {
        let plain = BbobObjective::from_name("bbob-f8-i1-d5").unwrap();
        let wrapped = objective_by_name("bbob-f8-i1-d5+diverge0.2").unwrap();
        assert_eq!(wrapped.name(), "bbob-f8-i1-d5+diverge0.2");
        assert_eq!((wrapped.optimum(), wrapped.full_cost()), (plain.optimum(), plain.full_cost()));
        assert_eq!(wrapped.fidelities(), plain.fidelities());
        assert_eq!(wrapped.space(), plain.space());
        let inside = point(&plain, 0.9);
        let r = wrapped.score(&inside, 0.5, 7);
        let expected = plain.score(&inside, 0.5, 7);
        assert_eq!((r.status, r.score, r.cost), (TrialStatus::Diverged, FAILURE_SCORE, expected.cost));
        assert_eq!(r.curve.len(), expected.curve.len());
        assert!(r.curve.iter().all(|c| c.1 == FAILURE_SCORE));
        for first in [0.1, 0.5, 0.79] {
            let outside = point(&plain, first);
            assert_eq!(wrapped.score(&outside, 1.0, 7), plain.score(&outside, 1.0, 7));
            assert_eq!(wrapped.true_score(&outside), plain.true_score(&outside));
        }
    }

    #[test]
    fn gpt_tables_diverge_at_high_learning_rates() {
        let plain = objective_by_name("gpt-table:synthetic-s").unwrap();
        let wrapped = objective_by_name("gpt-table:synthetic-s+diverge0.15").unwrap();
        assert_eq!(wrapped.name(), "gpt-table:synthetic-s+diverge0.15");
        assert_eq!(plain.space().knobs()[0].name, "lr");
        assert_eq!(wrapped.resolution().to_bits(), plain.resolution().to_bits());
        let high = point(plain.as_ref(), 0.95);
        let r = wrapped.score(&high, 1.0, 3);
        assert_eq!((r.status, r.score, r.cost), (TrialStatus::Diverged, FAILURE_BPB, plain.score(&high, 1.0, 3).cost));
        let low = point(plain.as_ref(), 0.5);
        assert_eq!(wrapped.score(&low, 1.0, 3), plain.score(&low, 1.0, 3));
        assert_eq!(wrapped.true_score(&low).map(f64::to_bits), plain.true_score(&low).map(f64::to_bits));
    }

    #[test]
    fn fractions_must_lie_strictly_between_zero_and_one() {
        assert_eq!(parse_diverge_fraction("0.15"), Ok(0.15));
        for bad in ["0", "1", "1.5", "-0.1", "x", "", "nan", "inf"] {
            assert!(parse_diverge_fraction(bad).unwrap_err().contains("(0, 1)"), "{bad}");
        }
    }
}
