//! The agents: each one a system in its own file.

pub mod debater;
pub mod proposer;
pub mod recombiner;
pub mod verifier;
