//! The derived files of a model-swarm run folder (the merged models' weights, each
//! seed's lineage and routing decisions, the report): written by `run` and `resume`,
//! verified by `analyze`, which replays the finished run from its record (the event log
//! and the trained checkpoints) and compares every file with what the replay makes. A
//! changed, damaged or missing one is named; `resume` on the finished run rewrites it.

use std::path::Path;

use super::SwarmError;
use super::record::Record;
use super::weights::{self, digest};
use crate::diagnostic::InputError;
use crate::objective::gpt::ModelConfig;
use crate::store::atomic::write_atomic;

/// Whether a replay writes the derived files or checks them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outputs {
    /// A run or a resume: write every derived file (atomically).
    Write,
    /// `analyze`: change nothing, and refuse a file that differs from the replay.
    Verify,
}

/// What to do about a derived file that is not what the record makes.
const HINT: &str =
    "`outerloop resume` on the run folder rewrites every derived file of a finished model-swarm run from its record";

impl Outputs {
    /// A replay of a finished run (`analyze`, its record opened read-only) checks the
    /// derived files; a run or a resume writes them.
    pub fn of(record: &Record) -> Outputs {
        if record.read_only() { Outputs::Verify } else { Outputs::Write }
    }

    /// Write `bytes` to `path`, or check that `path` holds exactly them.
    pub fn file(self, path: &Path, bytes: &[u8]) -> Result<(), SwarmError> {
        match self {
            Outputs::Write => write_atomic(path, bytes).map_err(|e| SwarmError::io(path, e)),
            Outputs::Verify => match crate::input::read_bytes(path, crate::input::MAX_BINARY_BYTES) {
                Ok(found) if found == bytes => Ok(()),
                Ok(_) => Err(differs(path)),
                Err(e) => Err(unreadable(path, &e.to_string(), e.kind() == std::io::ErrorKind::NotFound)),
            },
        }
    }

    /// Save `flat` as the checkpoint `path` of a model of shape `cfg`, or check that
    /// `path` holds exactly these weights.
    pub fn weights(self, cfg: ModelConfig, flat: &[f32], path: &Path) -> Result<(), SwarmError> {
        match self {
            Outputs::Write => weights::save(cfg, flat, path),
            Outputs::Verify => {
                if !path.exists() {
                    return Err(unreadable(path, "", true));
                }
                let found = weights::load(cfg, path).map_err(|_| differs(path))?;
                if digest(&found) == digest(flat) { Ok(()) } else { Err(differs(path)) }
            }
        }
    }
}

fn differs(path: &Path) -> SwarmError {
    SwarmError::Input(InputError::file(
        path,
        "does not match the run's record (the replay of the finished run makes other bytes): the file was changed or damaged",
        HINT,
    ))
}

fn unreadable(path: &Path, why: &str, missing: bool) -> SwarmError {
    let message = if missing { "is missing from the run folder".to_string() } else { format!("cannot be read: {why}") };
    SwarmError::Input(InputError::file(path, message, HINT))
}
