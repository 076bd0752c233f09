//! The inner research loop: search spaces, the trial history, traces, and the loop
//! that lets a mechanism drive trials under a compute budget.

pub mod fingerprint;
pub mod history;
pub mod league;
pub mod run;
pub mod space;
pub mod trace;

pub use run::{Execution, run_inner, run_inner_with};
