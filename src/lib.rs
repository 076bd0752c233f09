#![doc = include_str!("../README.md")]

pub mod analysis;
pub mod ancestry;
pub mod cli;
pub mod diagnostic;
pub mod genome;
pub mod inner;
pub mod objective;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod stats;
pub mod store;
pub mod swarm;
