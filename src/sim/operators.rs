//! The proposer's operator set and its diagnosis-conditioned choice.

use std::collections::BTreeMap;

pub use crate::scenario::choices::OperatorSet;
use bevy_ecs::prelude::Resource;
use rand::RngExt;
use rand_distr::{Beta, Distribution};

use super::diagnosis::Diagnosis;
use crate::genome::Genome;
use crate::genome::check::Limits;
use crate::genome::ops::{Mutation, crossover, graft, mutate};
use crate::genome::structural::{Structural, apply_structural};
use crate::rng::Rng;

/// Success counts of one operator under one diagnosis.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Credit {
    /// Children evaluated.
    pub trials: u64,
    /// Children that beat their parent.
    pub wins: u64,
}

/// Operator credit per diagnosis, learned online and carried across runs.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct OperatorStats(pub BTreeMap<(Diagnosis, String), Credit>);

/// An operator the proposer can apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operator {
    /// A mutation.
    Mutate(Mutation),
    /// A structural addition.
    Add(Structural),
    /// Graft material from another mechanism.
    Graft,
    /// Subtree crossover with another mechanism.
    Crossover,
}

impl Operator {
    /// Every operator, in a fixed order.
    pub fn all() -> Vec<Operator> {
        let mut v: Vec<Operator> = Mutation::ALL.iter().map(|m| Operator::Mutate(*m)).collect();
        v.extend(Structural::ALL.iter().map(|s| Operator::Add(*s)));
        v.push(Operator::Graft);
        v.push(Operator::Crossover);
        v
    }

    /// Name used in events and statistics.
    pub fn name(self) -> &'static str {
        match self {
            Operator::Mutate(m) => m.name(),
            Operator::Add(s) => s.name(),
            Operator::Graft => "graft",
            Operator::Crossover => "crossover",
        }
    }

    /// Apply to `parent`, with `donor` for the two-parent operators.
    pub fn apply(self, parent: &Genome, donor: &Genome, rng: &mut Rng, limits: &Limits) -> Option<Genome> {
        match self {
            Operator::Mutate(m) => mutate(parent, m, rng, limits),
            Operator::Add(s) => apply_structural(parent, s, rng, limits),
            Operator::Graft => graft(parent, donor, rng, limits),
            Operator::Crossover => crossover(parent, donor, rng, limits),
        }
    }

    /// Whether the operator is a natural remedy for the diagnosis (a stronger prior).
    pub fn remedies(self, d: Diagnosis) -> bool {
        use Operator::*;
        use Structural::*;
        match d {
            Diagnosis::Stagnation => matches!(
                self,
                Add(AddSchedule) | Add(AddSelector) | Add(AddCovariance) | Mutate(Mutation::ReplaceSubtree) | Graft
            ),
            Diagnosis::Repeats => matches!(
                self,
                Add(AddMemoryFilter) | Add(AddStepRule) | Add(AddMeanRecommendation) | Mutate(Mutation::Constant)
            ),
            Diagnosis::LowDiversity => {
                matches!(self, Add(AddSelector) | Add(AddSchedule) | Add(AddMemoryFilter) | Add(AddSurrogate))
            }
            Diagnosis::Failures => matches!(
                self,
                Mutate(Mutation::DeleteWrapper) | Mutate(Mutation::ReplaceSubtree) | Mutate(Mutation::Constant)
            ),
            Diagnosis::BadRegions => matches!(
                self,
                Add(AddFidelityRule)
                    | Add(AddMemoryFilter)
                    | Add(AddStepRule)
                    | Add(AddSurrogate)
                    | Add(AddBrackets)
                    | Add(AddCurveJump)
            ),
            Diagnosis::Healthy => matches!(
                self,
                Mutate(Mutation::Constant) | Mutate(Mutation::SwapPrimitive) | Add(AddStepRule) | Graft | Crossover
            ),
        }
    }
}

/// Whether `op` belongs to the proposer's operator set.
pub fn allows(set: OperatorSet, op: Operator) -> bool {
    let constant = op == Operator::Mutate(Mutation::Constant);
    match set {
        OperatorSet::All => true,
        OperatorSet::Constants => constant,
        OperatorSet::Structure => !constant,
    }
}

/// The set's operators, in [`Operator::all`]'s order.
pub fn operators_of(set: OperatorSet) -> Vec<Operator> {
    Operator::all().into_iter().filter(|&op| allows(set, op)).collect()
}

/// Rank the operators of `set` for a diagnosis by Thompson sampling from Beta
/// posteriors of their success rates (remedies start with a stronger prior); best first.
pub fn rank_operators(stats: &OperatorStats, d: Diagnosis, set: OperatorSet, rng: &mut Rng) -> Vec<Operator> {
    let mut scored: Vec<(f64, Operator)> = operators_of(set)
        .into_iter()
        .map(|op| {
            let c = stats.0.get(&(d, op.name().to_string())).copied().unwrap_or_default();
            let prior = if op.remedies(d) { 3.0 } else { 1.0 };
            let a = prior + c.wins as f64;
            let b = 2.0 + (c.trials - c.wins.min(c.trials)) as f64;
            let sample = Beta::new(a, b).map(|beta| beta.sample(rng)).unwrap_or_else(|_| rng.random::<f64>());
            (sample, op)
        })
        .collect();
    scored.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
    scored.into_iter().map(|(_, op)| op).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operator_sets_split_tuning_from_generation() {
        assert_eq!(operators_of(OperatorSet::All), Operator::all());
        assert_eq!(operators_of(OperatorSet::Constants), vec![Operator::Mutate(Mutation::Constant)]);
        let structure = operators_of(OperatorSet::Structure);
        assert_eq!(structure.len(), Operator::all().len() - 1);
        assert!(!structure.contains(&Operator::Mutate(Mutation::Constant)));
        for set in OperatorSet::ALL {
            assert_eq!(OperatorSet::parse(set.name()), Some(set));
        }
        assert_eq!(OperatorSet::parse("mutations"), None);
        // Ranking draws from the set only; the full set ranks every operator.
        let stats = OperatorStats::default();
        let mut rng = crate::rng::stream(1, "test", &[]);
        for set in OperatorSet::ALL {
            let mut ranked = rank_operators(&stats, Diagnosis::Healthy, set, &mut rng);
            ranked.sort();
            assert_eq!(ranked, operators_of(set));
        }
    }
}
