//! The proposer's operator set and its diagnosis-conditioned choice, and [`MadeBy`],
//! what made a mechanism as lineages and logs record it.

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

/// What made a mechanism, with its parameters: lineages, events and checkpoints hold
/// this, never a name to be parsed back. Its text (`mutate-constant`, `crossover(d=0.83)`,
/// `seed`) is the form logs and checkpoints store, so older ones read unchanged.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MadeBy {
    /// A seed of the scenario (`seed`).
    Seed,
    /// A hall-of-fame mechanism inherited from an earlier run (`inherit`).
    Inherited,
    /// Put into the population by a test or benchmark (`planted`).
    Planted,
    /// One of the proposer's operators (its name).
    Operator(Operator),
    /// The recombiner's crossover of two distant elites, `distance` apart
    /// (`crossover(d=0.83)`, two decimals).
    Crossover {
        /// Behavioural distance between the parents.
        distance: f64,
    },
    /// A constant-swarm merge of elites sharing a structure (`constant-swarm`).
    ConstantSwarm,
    /// The verifier's pruning of genes that never fired (`prune-dead`).
    PruneDead,
    /// Written by the language-model proposer (`llm`, `[proposer.llm]`).
    Llm,
}

impl MadeBy {
    /// The name without parameters (`crossover` for `crossover(d=0.83)`): the operator
    /// family the attribution groups by and operator credit is kept under.
    pub fn name(self) -> &'static str {
        match self {
            MadeBy::Seed => "seed",
            MadeBy::Inherited => "inherit",
            MadeBy::Planted => "planted",
            MadeBy::Operator(op) => op.name(),
            MadeBy::Crossover { .. } => "crossover",
            MadeBy::ConstantSwarm => "constant-swarm",
            MadeBy::PruneDead => "prune-dead",
            MadeBy::Llm => "llm",
        }
    }
}

impl std::fmt::Display for MadeBy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MadeBy::Crossover { distance } => write!(f, "crossover(d={distance:.2})"),
            other => f.write_str(other.name()),
        }
    }
}

impl std::str::FromStr for MadeBy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(d) = text.strip_prefix("crossover(d=").and_then(|r| r.strip_suffix(')')) {
            let distance = d.parse().map_err(|_| format!("`{text}`: the distance is not a number"))?;
            return Ok(MadeBy::Crossover { distance });
        }
        let fixed =
            [MadeBy::Seed, MadeBy::Inherited, MadeBy::Planted, MadeBy::ConstantSwarm, MadeBy::PruneDead, MadeBy::Llm];
        fixed
            .into_iter()
            .chain(Operator::all().into_iter().map(MadeBy::Operator))
            .find(|m| m.name() == text)
            .ok_or_else(|| format!("`{text}` is not an operator"))
    }
}

impl serde::Serialize for MadeBy {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for MadeBy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
    fn what_made_a_mechanism_reads_back_from_its_stored_text() {
        let mut all = vec![
            MadeBy::Seed,
            MadeBy::Inherited,
            MadeBy::Planted,
            MadeBy::ConstantSwarm,
            MadeBy::PruneDead,
            MadeBy::Llm,
            MadeBy::Crossover { distance: 0.5 },
        ];
        all.extend(Operator::all().into_iter().map(MadeBy::Operator));
        for made in all {
            let text = made.to_string();
            assert_eq!(text.parse::<MadeBy>(), Ok(made), "{text}");
            let json = serde_json::to_string(&made).unwrap();
            assert_eq!(json, format!("\"{text}\""), "stored as its text");
            assert_eq!(serde_json::from_str::<MadeBy>(&json).unwrap(), made);
        }
        // The recombiner's crossover keeps two decimals of its distance, as logs did.
        assert_eq!(MadeBy::Crossover { distance: 0.83456 }.to_string(), "crossover(d=0.83)");
        assert_eq!(MadeBy::Crossover { distance: 0.83 }.name(), "crossover");
        assert_eq!("crossover".parse(), Ok(MadeBy::Operator(Operator::Crossover)));
        assert!("crossover(d=x)".parse::<MadeBy>().unwrap_err().contains("not a number"));
        assert!("mutate-everything".parse::<MadeBy>().unwrap_err().contains("not an operator"));
    }

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
