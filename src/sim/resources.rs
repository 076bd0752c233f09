//! Resources of the simulation world.

use std::collections::{BTreeMap, BTreeSet};

use bevy_ecs::prelude::*;

use super::diagnosis::Diagnosis;
use super::events::Event;
use crate::objective::Objective;
use crate::scenario::Scenario;

/// The validated scenario.
#[derive(Resource, Debug, Clone)]
pub struct Config(pub Scenario);

/// The tasks' objectives, in scenario order.
#[derive(Resource)]
pub struct Tasks(pub Vec<Box<dyn Objective>>);

/// The current tick and the next mechanism id.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Clock {
    /// Current tick (0-based).
    pub tick: u32,
    /// Next mechanism id.
    pub next_id: u64,
}

impl Clock {
    /// Take a fresh mechanism id.
    pub fn new_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// Reference mechanism regrets per (task index, episode seed).
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct ReferenceCache(pub BTreeMap<(usize, u64), f64>);

/// Known structural hashes and fingerprint hashes, mapped to the first mechanism id.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Known {
    /// Structural hash -> mechanism id.
    pub structures: BTreeMap<u64, u64>,
    /// Fingerprint hash -> mechanism id.
    pub behaviours: BTreeMap<u64, u64>,
}

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

/// One hall-of-fame entry.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HallEntry {
    /// Mechanism id in its run.
    pub id: u64,
    /// Canonical genome text.
    pub genome: String,
    /// Verified fitness.
    pub verified: f64,
}

/// What this run leaves for the next: hall of fame and failure signatures.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Lessons {
    /// Best verified mechanisms, best first (bounded).
    pub hall_of_fame: Vec<HallEntry>,
    /// Structural hashes of children that did clearly worse than their parent.
    pub failures: BTreeSet<u64>,
}

/// Events of the current tick, not yet written.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct EventQueue(pub Vec<Event>);

/// The debate's track record.
#[derive(Resource, Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DebateStats {
    /// Accepted proposals evaluated.
    pub accepted: u64,
    /// Accepted proposals that beat their parent.
    pub accepted_improved: u64,
    /// Rejected proposals evaluated anyway.
    pub audited: u64,
    /// Audited rejected proposals that beat their parent.
    pub audited_improved: u64,
}

impl DebateStats {
    /// Precision: fraction of accepted proposals that improved.
    pub fn precision(&self) -> Option<f64> {
        (self.accepted > 0).then(|| self.accepted_improved as f64 / self.accepted as f64)
    }

    /// Fraction of rejected (audited) proposals that would have improved.
    pub fn false_rejection_rate(&self) -> Option<f64> {
        (self.audited > 0).then(|| self.audited_improved as f64 / self.audited as f64)
    }
}

/// One row of the metrics table, written at the end of every tick.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MetricsRow {
    /// Tick.
    pub tick: u32,
    /// Live mechanisms.
    pub population: usize,
    /// Best verified fitness so far (NaN when none).
    pub best_verified: f64,
    /// Best claimed fitness among live mechanisms.
    pub best_claimed: f64,
    /// Median best-known fitness of live mechanisms.
    pub median_fitness: f64,
    /// Mechanisms evaluated this tick.
    pub evaluated: usize,
    /// Mechanisms verified this tick.
    pub verified: usize,
    /// Mean claimed-minus-verified gap this tick (NaN when none verified).
    pub verifier_gap: f64,
    /// Debate precision so far (NaN before any evaluation).
    pub debate_precision: f64,
    /// Inner compute spent so far.
    pub compute: f64,
}

/// Metrics rows and the running compute total.
#[derive(Resource, Debug, Clone, Default, PartialEq)]
pub struct Metrics {
    /// One row per tick.
    pub rows: Vec<MetricsRow>,
    /// Inner compute spent so far.
    pub compute: f64,
    /// Evaluations in the current tick.
    pub tick_evaluated: usize,
    /// Verifications in the current tick and their gaps.
    pub tick_gaps: Vec<f64>,
}

/// The compiled reference mechanism.
#[derive(Resource, Debug, Clone)]
pub struct Reference(pub crate::genome::Program);
