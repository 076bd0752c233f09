//! Persistence: atomic file writes, checkpoints, the checksummed event log and the run
//! folder. Bytes in and out only: nothing here runs a simulation.

pub mod atomic;
pub mod checkpoint;
pub mod crashpoint;
pub mod event_log;
pub mod run_dir;
