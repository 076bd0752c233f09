//! Events: every action of every agent. The ancestry graph and the metrics are built
//! from them, and the event log (`events.jsonl`) is the run's primary record.

use serde::{Deserialize, Serialize};

use super::components::AgentKind;
use super::diagnosis::Diagnosis;
use super::operators::MadeBy;
use super::writer::WriteResult;

/// A debate panel role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Scores novelty.
    Innovator,
    /// Predicts the chance of beating the parent.
    Pragmatist,
    /// Scores risk.
    Contrarian,
}

/// One role's ballot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Ballot {
    /// For evaluating the proposal.
    Accept,
    /// Against.
    Reject,
}

/// The debate's verdict on a proposal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Evaluated.
    Accept,
    /// Sent to a revision round (only in logs of versions before the ranking debate).
    Revise,
    /// Not evaluated (unless audited).
    Reject,
}

/// Why a proposal was a duplicate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DuplicateKind {
    /// Same canonical structure as a known mechanism.
    Structure,
    /// Same behaviour on the probe task.
    Behaviour,
}

/// What a lesson records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LessonKind {
    /// A proposal revised after debate (only in logs of versions before the ranking debate).
    Refine,
    /// A child that failed to compile after its operator; skipped.
    Pivot,
    /// More than a fifth of a mechanism's trials failed or were healed.
    InnerHeals,
    /// No operator produced a valid child of a parent.
    OperatorFailed,
    /// Dead genes simplified away in place.
    Pruned,
}

/// Why a mechanism left the population.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetireReason {
    /// The oldest leave when the population is over capacity.
    AgedOut,
    /// Rejected by the debate.
    Rejected,
    /// A rejected proposal evaluated only to measure the debate.
    Audited,
    /// A clear loser of the claim race against its parent.
    RacedOut,
}

/// One role's vote in a debate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Vote {
    /// The role.
    pub role: Role,
    /// Its ballot.
    pub vote: Ballot,
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
        /// What made it (stored as its text, e.g. `crossover(d=0.83)`).
        operator: MadeBy,
        /// Diagnosis that motivated the operator.
        diagnosis: Option<Diagnosis>,
        /// Canonical structural hash (hex).
        hash: String,
        /// Canonical genome text.
        genome: String,
        /// For a merge (the recombiner's constant swarm), the coefficient of each
        /// parent, in `parents` order: the child's constants are exactly the sum of each
        /// parent's constants (`genome::constants`) times its coefficient. Empty (and
        /// not written) for every other birth, so logs without merges read and write as
        /// before.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        coefficients: Vec<f64>,
    },
    /// A proposal duplicated a known mechanism and was not evaluated.
    Duplicate {
        /// Tick.
        tick: u32,
        /// Parent of the would-be child.
        parent: u64,
        /// Operator that produced it.
        operator: MadeBy,
        /// What it duplicated.
        kind: DuplicateKind,
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
        /// The verdict.
        verdict: Verdict,
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
        /// What kind of lesson.
        kind: LessonKind,
        /// Details.
        detail: String,
    },
    /// A structurally new child's constants were tuned before its claim
    /// (`proposer.tune_constants`): it now has `genome`.
    Tuned {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// Constant vectors tried (its own included).
        tried: usize,
        /// Inner compute the tuning spent.
        spent: f64,
        /// Mean gain of its own constants on the tuning episodes.
        before: f64,
        /// Mean gain of the chosen constants there.
        after: f64,
        /// Canonical structural hash of the tuned genome (hex).
        hash: String,
        /// The tuned genome (canonical text); the birth's genome when no vector beat it.
        genome: String,
    },
    /// The language-model proposer wrote a draft (`[proposer.llm]`): its exchanges
    /// with the model and how it ended. A valid or repaired draft's child is the next
    /// `born` (or `duplicate`) with operator `llm` from this parent; a fallback's child is
    /// written by a typed operator.
    Written {
        /// Tick.
        tick: u32,
        /// The parent the model was shown.
        parent: u64,
        /// The exchanges' addresses in the run's record (`llm/<address>.json`): the
        /// first request, then the repair round's.
        exchanges: Vec<String>,
        /// How it ended.
        result: WriteResult,
        /// Why a fallback had no child from the model.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
        /// Tokens of its exchanges, prompt and completion, as the endpoint counted them.
        tokens: u64,
        /// Wall time of its exchanges when they were made, milliseconds.
        wall_ms: u64,
        /// The model that answered, as the endpoint named it (`outerloop lm serve` names
        /// its model file's hash); absent when no exchange was answered.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        model: Option<String>,
    },
    /// A mechanism left the population.
    Retired {
        /// Tick.
        tick: u32,
        /// Mechanism id.
        id: u64,
        /// Why.
        reason: RetireReason,
    },
}

impl Event {
    /// The first number of the event that is not finite, by field name: the store
    /// refuses to log it (JSON would turn it into `null`, and the log would no longer
    /// read back as the event that happened).
    pub fn non_finite_field(&self) -> Option<&'static str> {
        let first_bad = |fields: &[(&'static str, f64)]| fields.iter().find(|(_, v)| !v.is_finite()).map(|(n, _)| *n);
        match self {
            Event::Born { coefficients, .. } => coefficients.iter().find(|c| !c.is_finite()).map(|_| "coefficients"),
            Event::Debated { votes, .. } => votes.iter().find(|v| !v.score.is_finite()).map(|_| "votes.score"),
            Event::Evaluated { claimed, spread, cost, .. } => {
                first_bad(&[("claimed", *claimed), ("spread", *spread), ("cost", *cost)])
            }
            Event::Verified { claimed, verified, spread, gap, .. } => {
                first_bad(&[("claimed", *claimed), ("verified", *verified), ("spread", *spread), ("gap", *gap)])
            }
            Event::Tuned { spent, before, after, .. } => {
                first_bad(&[("spent", *spent), ("before", *before), ("after", *after)])
            }
            _ => None,
        }
    }

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
            | Event::Tuned { tick, .. }
            | Event::Written { tick, .. }
            | Event::Retired { tick, .. } => *tick,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_typed_vocabulary_reads_and_writes_the_log_format() {
        // A line as the first versions wrote it: a revision round and its lesson.
        let old = r#"{"event":"debated","tick":3,"id":9,"votes":[{"role":"innovator","vote":"accept","score":0.4},{"role":"pragmatist","vote":"reject","score":0.2},{"role":"contrarian","vote":"accept","score":0.1}],"verdict":"revise","audited":false}"#;
        let e: Event = serde_json::from_str(old).unwrap();
        assert!(
            matches!(&e, Event::Debated { verdict: Verdict::Revise, votes, .. } if votes[1].vote == Ballot::Reject)
        );
        assert_eq!(serde_json::to_string(&e).unwrap(), old, "the written form is unchanged");
        let lesson = r#"{"event":"lesson","tick":1,"id":2,"kind":"refine","detail":"x"}"#;
        assert!(matches!(serde_json::from_str(lesson).unwrap(), Event::Lesson { kind: LessonKind::Refine, .. }));
        let retired = r#"{"event":"retired","tick":1,"id":2,"reason":"raced-out"}"#;
        assert!(matches!(
            serde_json::from_str(retired).unwrap(),
            Event::Retired { reason: RetireReason::RacedOut, .. }
        ));
        // A birth without coefficients reads and writes as before; a merge keeps them.
        let born = r#"{"event":"born","tick":1,"id":5,"parents":[2,3],"agent":"recombiner","operator":"crossover(d=0.50)","diagnosis":null,"hash":"00","genome":"(mechanism m)"}"#;
        let e: Event = serde_json::from_str(born).unwrap();
        assert!(matches!(&e, Event::Born { coefficients, .. } if coefficients.is_empty()));
        assert_eq!(serde_json::to_string(&e).unwrap(), born);
        let merge =
            born.replace("crossover(d=0.50)", "constant-swarm").replace('}', r#","coefficients":[1.25,-0.25]}"#);
        let e: Event = serde_json::from_str(&merge).unwrap();
        assert!(matches!(&e, Event::Born { coefficients, .. } if coefficients == &[1.25, -0.25]));
        assert_eq!(serde_json::to_string(&e).unwrap(), merge);
        // A value nothing emits is an error, not a silent string.
        assert!(serde_json::from_str::<Event>(&retired.replace("raced-out", "replaced")).is_err());
    }
}
