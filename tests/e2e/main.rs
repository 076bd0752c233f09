//! The end-to-end tests, one test binary with a module per area (each area used to be its
//! own binary, and every binary links the whole crate: one link instead of ten).

mod analysis;
mod bbob_reference;
mod bombs;
mod constant_swarm;
mod export;
mod fuzz;
mod genome_errors;
mod genome_props;
mod gpt_trial;
mod llm_proposer;
mod lm;
mod outer_loop;
mod own_problem;
mod report_browser;
mod reproductions;
mod routing;
mod run_folder;
mod scenario_errors;
mod serde_keys;
mod slurm;
mod swarm;
mod swarm_resume;
mod task_suite;
mod watch_server;
