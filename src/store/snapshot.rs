//! Checkpoints: a versioned header and an rmp-serde body, written atomically.
//!
//! Layout: magic `OUTERLOOP-CKPT\0\0` (16 bytes), format version (u32 LE), scenario
//! hash (u64 LE), body length (u64 LE), body xxh3 (u64 LE), body. The hash of the body
//! catches truncation and corruption; the scenario hash stops a resume under another
//! scenario; the version stops a resume by an incompatible build.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::atomic::write_atomic;
use crate::sim::components::{AgentKind, Status};
use crate::sim::diagnosis::{Diagnosis, TraceStats};
use crate::sim::predictor::Predictor;
use crate::sim::resources::{AgentYield, Credit, DebateBudget, DebateStats, HallEntry, MetricsRow};

/// Magic bytes at the start of every checkpoint.
pub const MAGIC: &[u8; 16] = b"OUTERLOOP-CKPT\0\0";
/// Current checkpoint format version.
pub const FORMAT_VERSION: u32 = 2;
const HEADER: usize = 16 + 4 + 8 + 8 + 8;

/// A mechanism's [`Status`] as stored (ECS components carry no serde derives).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StoredStatus {
    /// Proposed.
    Proposed,
    /// Accepted.
    Accepted,
    /// Audited.
    Audited,
    /// Evaluated.
    Evaluated,
    /// Verified.
    Verified,
}

impl From<Status> for StoredStatus {
    fn from(s: Status) -> Self {
        match s {
            Status::Proposed => StoredStatus::Proposed,
            Status::Accepted => StoredStatus::Accepted,
            Status::Audited => StoredStatus::Audited,
            Status::Evaluated => StoredStatus::Evaluated,
            Status::Verified => StoredStatus::Verified,
        }
    }
}

impl From<StoredStatus> for Status {
    fn from(s: StoredStatus) -> Self {
        match s {
            StoredStatus::Proposed => Status::Proposed,
            StoredStatus::Accepted => Status::Accepted,
            StoredStatus::Audited => Status::Audited,
            StoredStatus::Evaluated => Status::Evaluated,
            StoredStatus::Verified => Status::Verified,
        }
    }
}

/// One mechanism entity, serialized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MechanismDto {
    /// Mechanism id.
    pub id: u64,
    /// Canonical genome text.
    pub genome: String,
    /// Life stage.
    pub status: StoredStatus,
    /// Claimed fitness.
    pub claimed: Option<f64>,
    /// Per-episode claim gains.
    pub claimed_episodes: Vec<f64>,
    /// Verified fitness.
    pub verified: Option<f64>,
    /// Per-episode verification gains.
    pub verified_episodes: Vec<f64>,
    /// Parent ids.
    pub parents: Vec<u64>,
    /// Creating agent.
    pub agent: AgentKind,
    /// Operator.
    pub operator: String,
    /// Diagnosis.
    pub diagnosis: Option<Diagnosis>,
    /// Birth tick.
    pub tick: u32,
    /// First parent's fitness at birth.
    pub parent_fitness: Option<f64>,
    /// First parent's claim gains at birth.
    pub parent_claim: Vec<f64>,
    /// First parent's trace statistics at birth.
    pub parent_traits: TraceStats,
    /// Structural and behavioural distance from the first parent.
    pub parent_distance: (f64, f64),
    /// Compute spent.
    pub cost: f64,
    /// Trace statistics.
    pub traits: TraceStats,
}

/// The whole resumable state of a run after a completed tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Ticks completed.
    pub ticks_done: u32,
    /// Last mechanism id handed out.
    pub next_id: u64,
    /// Live mechanisms, by id.
    pub mechanisms: Vec<MechanismDto>,
    /// Reference regrets `(task, seed, regret)`.
    pub reference_cache: Vec<(usize, u64, f64)>,
    /// Known structural hashes `(hash, id)`.
    pub known_structures: Vec<(u64, u64)>,
    /// Known behaviour hashes `(hash, id)`.
    pub known_behaviours: Vec<(u64, u64)>,
    /// Operator credit.
    pub operator_stats: Vec<(Diagnosis, String, Credit)>,
    /// Hall of fame.
    pub hall_of_fame: Vec<HallEntry>,
    /// Failure signatures.
    pub failures: Vec<u64>,
    /// Debate record.
    pub debate: DebateStats,
    /// The debate's budget of extra proposals.
    pub debate_budget: DebateBudget,
    /// The pragmatist's learned predictor.
    pub predictor: Predictor,
    /// Evaluations and verified wins per creating agent.
    pub agent_yield: AgentYield,
    /// Metrics rows.
    pub metrics: Vec<MetricsRow>,
    /// Compute spent.
    pub compute: f64,
    /// Distinct mechanisms verified so far.
    pub verified_mechanisms: u64,
    /// Length in bytes of the event log at this checkpoint.
    pub events_len: u64,
}

/// What can go wrong reading a checkpoint.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// The file could not be read.
    #[error("cannot read the checkpoint: {0}")]
    Io(#[from] std::io::Error),
    /// Not a checkpoint at all.
    #[error("not an outerloop checkpoint (bad magic bytes)")]
    NotACheckpoint,
    /// Written by another format version.
    #[error("checkpoint format version {found}, but this build reads version {expected}")]
    Version {
        /// Version in the file.
        found: u32,
        /// Version this build reads.
        expected: u32,
    },
    /// Belongs to another scenario.
    #[error("the checkpoint belongs to a different scenario (hash {found:016x}, expected {expected:016x})")]
    Scenario {
        /// Hash in the file.
        found: u64,
        /// Hash of the scenario at hand.
        expected: u64,
    },
    /// Shorter than its header says, or its body hash does not match.
    #[error("the checkpoint is truncated or corrupt ({0})")]
    Corrupt(String),
}

/// Encode a snapshot with its header.
pub fn encode(snapshot: &Snapshot, scenario_hash: u64) -> Vec<u8> {
    let body = rmp_serde::to_vec_named(snapshot).unwrap_or_default();
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&scenario_hash.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(&body).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// Decode a checkpoint, checking magic, version, scenario hash, length and body hash.
pub fn decode(bytes: &[u8], scenario_hash: u64) -> Result<Snapshot, SnapshotError> {
    if bytes.len() < MAGIC.len() && MAGIC.starts_with(bytes) {
        return Err(SnapshotError::Corrupt(format!("{} bytes, shorter than the header", bytes.len())));
    }
    if bytes.len() < 16 || &bytes[..16] != MAGIC {
        return Err(SnapshotError::NotACheckpoint);
    }
    if bytes.len() < HEADER {
        return Err(SnapshotError::Corrupt(format!("{} bytes, shorter than the header", bytes.len())));
    }
    let u32_at = |i: usize| u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap_or([0; 4]));
    let u64_at = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap_or([0; 8]));
    let version = u32_at(16);
    if version != FORMAT_VERSION {
        return Err(SnapshotError::Version { found: version, expected: FORMAT_VERSION });
    }
    let found = u64_at(20);
    if found != scenario_hash {
        return Err(SnapshotError::Scenario { found, expected: scenario_hash });
    }
    let len = u64_at(28) as usize;
    let body = &bytes[HEADER..];
    if body.len() != len {
        return Err(SnapshotError::Corrupt(format!("body has {} bytes, header says {len}", body.len())));
    }
    if xxhash_rust::xxh3::xxh3_64(body) != u64_at(36) {
        return Err(SnapshotError::Corrupt("body hash mismatch".into()));
    }
    rmp_serde::from_slice(body).map_err(|e| SnapshotError::Corrupt(e.to_string()))
}

/// Write a checkpoint atomically.
pub fn save(path: &Path, snapshot: &Snapshot, scenario_hash: u64) -> std::io::Result<()> {
    write_atomic(path, &encode(snapshot, scenario_hash))
}

/// Read a checkpoint.
pub fn load(path: &Path, scenario_hash: u64) -> Result<Snapshot, SnapshotError> {
    decode(&std::fs::read(path)?, scenario_hash)
}

/// What a run leaves for later runs (`lessons.bin`, plain rmp-serde).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LessonsFile {
    /// Format version.
    pub version: u32,
    /// Hall of fame.
    pub hall_of_fame: Vec<HallEntry>,
    /// Operator credit.
    pub operator_stats: Vec<(Diagnosis, String, Credit)>,
    /// Failure signatures.
    pub failures: Vec<u64>,
    /// The pragmatist's learned predictor (an inheriting run starts from it).
    pub predictor: Predictor,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Snapshot {
        Snapshot {
            ticks_done: 3,
            next_id: 9,
            mechanisms: vec![],
            reference_cache: vec![(0, 1, 2.5)],
            known_structures: vec![],
            known_behaviours: vec![],
            operator_stats: vec![],
            hall_of_fame: vec![],
            failures: vec![],
            debate: DebateStats::default(),
            debate_budget: DebateBudget { extra: 2 },
            predictor: Predictor::default(),
            agent_yield: AgentYield::default(),
            metrics: vec![],
            compute: 1.0,
            verified_mechanisms: 0,
            events_len: 10,
        }
    }

    #[test]
    fn round_trip_and_every_corruption_is_caught() {
        let bytes = encode(&empty(), 7);
        assert_eq!(decode(&bytes, 7).unwrap(), empty());
        assert!(matches!(decode(&bytes, 8), Err(SnapshotError::Scenario { .. })));
        assert!(matches!(decode(&bytes[..bytes.len() - 1], 7), Err(SnapshotError::Corrupt(_))));
        assert!(matches!(decode(&bytes[..30], 7), Err(SnapshotError::Corrupt(_))));
        assert!(matches!(decode(b"hello", 7), Err(SnapshotError::NotACheckpoint)));
        assert!(matches!(decode(&bytes[..9], 7), Err(SnapshotError::Corrupt(_))));
        assert!(matches!(decode(b"", 7), Err(SnapshotError::Corrupt(_))));
        let mut v1 = bytes.clone();
        v1[16] = 1;
        assert!(matches!(decode(&v1, 7), Err(SnapshotError::Version { found: 1, .. })));
        let mut flipped = bytes;
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(matches!(decode(&flipped, 7), Err(SnapshotError::Corrupt(_))));
    }
}
