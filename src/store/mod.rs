//! Persistence: atomic file writes (and, later, snapshots and event logs).

pub mod atomic;
