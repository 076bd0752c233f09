//! The inner research loop: the loop that lets a mechanism drive trials under a compute
//! budget, its traces, fingerprints, leagues, and the ask/tell protocol that serves the
//! same accounting to external optimizers. Search spaces (`crate::space`) and the trial
//! history (`crate::history`) sit below it, so the language can read them.

pub mod ask_tell;
pub mod fingerprint;
pub mod league;
pub mod mech_serve;
pub mod run;
pub mod serve;
pub mod study;
pub mod trace;

pub use run::{FaultPolicy, run_inner, run_inner_with};
pub use study::Study;
