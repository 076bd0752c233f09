//! Events: every action of every agent. The ancestry graph and the metrics are built
//! from them, and the event log (`events.jsonl`) is the run's primary record.

use serde::{Deserialize, Serialize};

use super::components::AgentKind;
use super::diagnosis::Diagnosis;

/// One role's vote in a debate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// `innovator`, `pragmatist` or `contrarian`.
    pub role: String,
    /// `accept` or `reject`.
    pub vote: String,
    /// The role's score (novelty, predicted gain, risk).
    pub score: f64,
}

/// Something that happened in a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum Event {
    /// A mechanism was created.
    Born {
        /// Tick.
        tick: u32,
        /// New mechanism id.
        id: u64,
        /// Parent ids.
        parents: Vec<u64>,
        /// Creating agent.
        agent: AgentKind,
        /// Operator name.
        operator: String,
        /// Diagnosis that motivated the operator.
        diagnosis: Option<Diagnosis>,
        /// Canonical structural hash (hex).
        hash: String,
        /// Canonical genome text.
        genome: String,
    },
    /// A proposal duplicated a known mechanism and was not evaluated.
    Duplicate {
        /// Tick.
        tick: u32,
        /// Parent of the would-be child.
        parent: u64,
        /// Operator that produced it.
        operator: String,
        /// `structure` or `behaviour`.
        kind: String,
        /// The known mechanism it duplicates.
        of: u64,
    },
    /// The debate's verdict on a proposal.
    Debated {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// Votes of the panel.
        votes: Vec<Vote>,
        /// `accept`, `revise` or `reject`.
        verdict: String,
        /// Whether a rejected proposal is evaluated anyway (audit).
        audited: bool,
    },
    /// A claimed fitness was measured.
    Evaluated {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// Mean relative gain over the reference.
        claimed: f64,
        /// Standard deviation over episodes.
        spread: f64,
        /// Number of episodes.
        episodes: usize,
        /// Inner compute spent.
        cost: f64,
        /// Whether this was an audit of a rejected proposal.
        audited: bool,
        /// Whether the child beat its first parent's fitness (None for seeds).
        improved: Option<bool>,
    },
    /// The verifier replaced a claim by a verified fitness.
    Verified {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// The claim.
        claimed: f64,
        /// Fitness on fresh seeds.
        verified: f64,
        /// Standard deviation over the fresh episodes.
        spread: f64,
        /// `claimed - verified`.
        gap: f64,
        /// Whether a claim episode re-ran bit for bit.
        integrity: bool,
    },
    /// Genes that never reached a decision during verification.
    DeadGenes {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// The dead subtrees, as text.
        genes: Vec<String>,
    },
    /// A recovery or a lesson for later runs.
    Lesson {
        /// Tick.
        tick: u32,
        /// Mechanism id concerned.
        id: u64,
        /// `refine`, `pivot`, `inner-heals` or `operator-failed`.
        kind: String,
        /// Details.
        detail: String,
    },
    /// A mechanism left the population.
    Retired {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// `aged-out`, `rejected`, `audited`, `replaced`.
        reason: String,
    },
}

impl Event {
    /// The tick the event happened at.
    pub fn tick(&self) -> u32 {
        match self {
            Event::Born { tick, .. }
            | Event::Duplicate { tick, .. }
            | Event::Debated { tick, .. }
            | Event::Evaluated { tick, .. }
            | Event::Verified { tick, .. }
            | Event::DeadGenes { tick, .. }
            | Event::Lesson { tick, .. }
            | Event::Retired { tick, .. } => *tick,
        }
    }
}
