//! Persistence: atomic file writes, checkpoints, the checksummed event log, the run
//! folder and its summary.

pub mod atomic;
pub mod crashpoint;
pub mod event_log;
pub mod run_dir;
pub mod snapshot;
pub mod summary;
