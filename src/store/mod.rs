//! Persistence: atomic file writes (and, later, snapshots and event logs).

pub mod atomic;
pub mod run_dir;
pub mod snapshot;
pub mod summary;
