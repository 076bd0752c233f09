//! Components of mechanism entities.

use bevy_ecs::prelude::*;

use super::diagnosis::{Diagnosis, TraceStats};
use super::operators::MadeBy;
use crate::genome::Genome;
use crate::genome::hash::SubtreeBag;
use crate::genome::interp::Program;
use crate::inner::fingerprint::Fingerprint;

/// Stable id of a mechanism (entity ids are not stable across snapshots).
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MechId(pub u64);

/// The genome with its compiled program and identity hashes.
#[derive(Component, Debug, Clone)]
pub struct Mechanism {
    /// The genome.
    pub genome: Genome,
    /// The compiled program.
    pub program: Program,
    /// Canonical structural hash.
    pub hash: u64,
    /// Behavioural fingerprint on the probe task.
    pub fingerprint: Fingerprint,
    /// Subtree bag for structural distances.
    pub bag: SubtreeBag,
}

/// Where a mechanism is in its life.
#[derive(Component, Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Status {
    /// Proposed, waiting for the debate.
    Proposed,
    /// Accepted by the debate (or not debated), waiting for evaluation.
    Accepted,
    /// Rejected by the debate but sampled for an audit evaluation.
    Audited,
    /// Evaluated: claimed fitness known.
    Evaluated,
    /// Verified on fresh seeds.
    Verified,
}

impl Status {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Proposed => "proposed",
            Status::Accepted => "accepted",
            Status::Audited => "audited",
            Status::Evaluated => "evaluated",
            Status::Verified => "verified",
        }
    }
}

/// Fitness relative to the reference mechanism (higher is better).
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Fitness {
    /// Mean relative gain over the claim episodes.
    pub claimed: Option<f64>,
    /// Per-episode relative gains of the claim.
    pub claimed_episodes: Vec<f64>,
    /// Mean relative gain over fresh verification episodes.
    pub verified: Option<f64>,
    /// Per-episode relative gains of the verification.
    pub verified_episodes: Vec<f64>,
}

impl Fitness {
    /// The fitness selection trusts: verified when known, else claimed.
    pub fn best_known(&self) -> Option<f64> {
        self.verified.or(self.claimed)
    }
}

/// Which agent created a mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentKind {
    /// Seeded from the scenario or an inherited run.
    Seed,
    /// The proposer.
    Proposer,
    /// The recombiner.
    Recombiner,
    /// The verifier (pruning dead genes).
    Verifier,
}

impl AgentKind {
    /// The one spelling every report and export uses (as in the event log).
    pub fn name(self) -> &'static str {
        match self {
            AgentKind::Seed => "seed",
            AgentKind::Proposer => "proposer",
            AgentKind::Recombiner => "recombiner",
            AgentKind::Verifier => "verifier",
        }
    }
}

/// Who made a mechanism, from what, how, and why.
#[derive(Component, Debug, Clone, PartialEq)]
pub struct Lineage {
    /// Parent mechanism ids.
    pub parents: Vec<u64>,
    /// The creating agent.
    pub agent: AgentKind,
    /// What made it.
    pub operator: MadeBy,
    /// The diagnosis that motivated the operator.
    pub diagnosis: Option<Diagnosis>,
    /// Tick of birth.
    pub tick: u32,
    /// Fitness of the first parent when the child was made.
    pub parent_fitness: Option<f64>,
    /// What the child's evaluation and the debate compare it with.
    pub parent: ParentInfo,
}

/// The primary parent as it was when a child was made: its claim episodes (the race and
/// the paired improvement test compare the child with them, episode by episode), its
/// trace statistics and the child's distances from it (debate features).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ParentInfo {
    /// The parent's per-episode claim gains (claim seeds, block order).
    pub claim: Vec<f64>,
    /// The parent's trace statistics.
    pub traits: TraceStats,
    /// Structural distance child to parent (0 = same subtrees).
    pub structural: f64,
    /// Behavioural distance child to parent on the probe task.
    pub behavioural: f64,
}

/// Inner-loop compute spent on this mechanism so far.
#[derive(Component, Debug, Clone, Copy, Default, PartialEq)]
pub struct Cost(pub f64);

/// Trace statistics of the claim episodes, read by the proposer's diagnosis.
#[derive(Component, Debug, Clone, Default, PartialEq)]
pub struct Traits(pub TraceStats);
