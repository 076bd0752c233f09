//! Checkpoints: a versioned header and an rmp-serde body, written atomically.
//!
//! Layout: magic `OUTERLOOP-CKPT\0\0` (16 bytes), format version (u32 LE), scenario
//! hash (u64 LE), body length (u64 LE), body xxh3 (u64 LE), body. The hash of the body
//! catches truncation and corruption; the scenario hash stops a resume under another
//! scenario; the version stops a resume by an incompatible build.

use std::path::Path;

use super::atomic::write_atomic;
pub use crate::sim::snapshot::{
    FORMAT_VERSION, FolderState, LessonsFile, MechanismDto, OutputHashes, Snapshot, StoredStatus,
};

/// Magic bytes at the start of every checkpoint.
pub const MAGIC: &[u8; 16] = b"OUTERLOOP-CKPT\0\0";
/// Length of the header before the body.
pub const HEADER: usize = 16 + 4 + 8 + 8 + 8;

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
    frame(&rmp_serde::to_vec_named(snapshot).unwrap_or_default(), scenario_hash)
}

/// The checkpoint bytes of an encoded snapshot `body`: the header, then the body.
pub fn frame(body: &[u8], scenario_hash: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER + body.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
    out.extend_from_slice(&scenario_hash.to_le_bytes());
    out.extend_from_slice(&(body.len() as u64).to_le_bytes());
    out.extend_from_slice(&xxhash_rust::xxh3::xxh3_64(body).to_le_bytes());
    out.extend_from_slice(body);
    out
}

/// Decode a checkpoint, checking magic, version, scenario hash, length and body hash.
pub fn decode(bytes: &[u8], scenario_hash: u64) -> Result<Snapshot, SnapshotError> {
    rmp_serde::from_slice(unframe(bytes, scenario_hash)?).map_err(|e| SnapshotError::Corrupt(e.to_string()))
}

/// The body of a framed checkpoint (the outer loop's or a model swarm's), after checking
/// magic, version, scenario hash, length and body hash.
pub fn unframe(bytes: &[u8], scenario_hash: u64) -> Result<&[u8], SnapshotError> {
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
    Ok(body)
}

/// Write a checkpoint atomically.
pub fn save(path: &Path, snapshot: &Snapshot, scenario_hash: u64) -> std::io::Result<()> {
    write_atomic(path, &encode(snapshot, scenario_hash))
}

/// Read a checkpoint.
pub fn load(path: &Path, scenario_hash: u64) -> Result<Snapshot, SnapshotError> {
    decode(&crate::input::read_bytes(path, crate::input::MAX_BINARY_BYTES)?, scenario_hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::predictor::Predictor;
    use crate::sim::resources::{AgentYield, DebateBudget, DebateStats};

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
            folder: FolderState { events_len: 10, events_sum: 3, genome_base: "scenarios".into(), outputs: None },
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
