//! The typed choices a scenario makes that the simulation acts on: how multi-task gains
//! aggregate and which operators the proposer may use. They live here, below `sim`, so
//! the scenario never imports the simulation.

/// How per-episode gains over several tasks become one fitness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Aggregate {
    /// Mean of the per-task means (every task weighs the same).
    #[default]
    Mean,
    /// The worst per-task mean: a mechanism must be good on every task.
    WorstTask,
}

impl Aggregate {
    /// The fitness of gains in block order (episode `i` is of task `i % tasks`).
    pub fn fitness(self, gains: &[f64], tasks: usize) -> f64 {
        let tasks = tasks.max(1);
        let means: Vec<f64> = (0..tasks)
            .filter_map(|t| {
                let xs: Vec<f64> = gains.iter().skip(t).step_by(tasks).copied().collect();
                (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
            })
            .collect();
        if means.is_empty() {
            return f64::NAN;
        }
        match self {
            Aggregate::Mean => means.iter().sum::<f64>() / means.len() as f64,
            Aggregate::WorstTask => means.iter().copied().fold(f64::INFINITY, f64::min),
        }
    }
}

/// What an episode's regret is, for fitness (`[inner] score`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EpisodeScore {
    /// The true regret of the config recommended at the end.
    #[default]
    FinalRegret,
    /// The whole convergence curve: the regret equivalent of the AOCC
    /// ([`crate::inner::trace::aocc_regret`], the geometric mean of the clipped best-so-far
    /// regret over the budget), as LLaMEA scores BBOB. Tasks without a known optimum keep
    /// their final regret.
    Aocc,
}

impl EpisodeScore {
    /// The scenario value: `final-regret` or `aocc`.
    pub fn name(self) -> &'static str {
        match self {
            EpisodeScore::FinalRegret => "final-regret",
            EpisodeScore::Aocc => "aocc",
        }
    }

    /// Parse a scenario value.
    pub fn parse(text: &str) -> Option<Self> {
        [EpisodeScore::FinalRegret, EpisodeScore::Aocc].into_iter().find(|s| s.name() == text)
    }
}

/// The operators the proposer may use (`[proposer] operators`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum OperatorSet {
    /// Every operator.
    #[default]
    All,
    /// Only the constant mutation (`mutate-constant`): tuning a mechanism's parameters,
    /// never its structure.
    Constants,
    /// Every operator except the constant mutation: mechanism generation only.
    Structure,
}

impl OperatorSet {
    /// Every set, in the order the scenario documentation lists them.
    pub const ALL: [OperatorSet; 3] = [OperatorSet::All, OperatorSet::Constants, OperatorSet::Structure];

    /// The scenario value.
    pub fn name(self) -> &'static str {
        match self {
            OperatorSet::All => "all",
            OperatorSet::Constants => "constants",
            OperatorSet::Structure => "structure",
        }
    }

    /// Parse a scenario value.
    pub fn parse(name: &str) -> Option<OperatorSet> {
        OperatorSet::ALL.into_iter().find(|s| s.name() == name)
    }
}
