//! Weight-space merges: PSO swarms of trained GPTs (the Model Swarms method) and the
//! classic merge baselines, recorded in a model-lineage graph. The recombiner's second
//! tool; `outerloop run` dispatches here for scenarios with `kind = "model-swarm"`.
//!
//! - [`pso`]: the update rule over flat `f32` vectors (pure, its own random stream).
//! - [`tasks`]: small skill examples, their corpora, composed target items.
//! - [`experts`]: pretraining the base and fine-tuning one expert per skill.
//! - [`weights`]: a GPT's ordered parameters as one flat vector; checkpoints.
//! - [`utility`]: bits per answer byte and exact match on evaluation items.
//! - [`merge`]: interpolation, uniform soup, task arithmetic, TIES.
//! - [`lineage`]: the model-node graph with merge edges carrying coefficients.
//! - [`scenario`]: the TOML file, in two stages.
//! - [`work`]: training runs and scorings as batches of work (here or on Slurm).
//! - [`routing`]: the Avengers-Pro router across the run's models and two specialists
//!   of other sizes (a `[routing]` table).
//! - [`record`]: the run folder's event log and checkpoint (resume).
//! - [`outputs`]: the derived files, written by a run and verified by `analyze`.
//! - [`run`]: orchestration; [`report`]: the tables.
//!
//! `src/swarm/README.md` describes the method, the outputs and the measured results.

pub mod experts;
pub mod lineage;
pub mod merge;
pub mod outputs;
pub mod pso;
pub mod record;
pub mod report;
pub mod routing;
pub mod run;
pub mod scenario;
pub mod tasks;
pub mod train;
pub mod utility;
pub mod weights;
pub mod work;

use std::path::{Path, PathBuf};

pub use pso::{PsoConfig, Swarm};
pub use report::SwarmReport;
pub use scenario::{SwarmScenario, is_swarm_scenario};

/// Errors of a model-swarm run.
#[derive(Debug, thiserror::Error)]
pub enum SwarmError {
    /// Bad input (an output folder that holds files).
    #[error(transparent)]
    Input(#[from] crate::diagnostic::InputError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    /// Training failed.
    #[error(transparent)]
    Train(#[from] crate::objective::gpt::train::TrainError),
    /// Training diverged.
    #[error("{0}")]
    Diverged(String),
    /// A training run or scoring failed (its message, as the job reported it).
    #[error("{0}")]
    Job(String),
    /// The executor could not run a batch (Slurm retries exhausted, say).
    #[error("executor: {0}")]
    Executor(String),
    /// Stopped on request (Ctrl-C) after a saved step; `resume` continues the run.
    #[error("stopped after a saved step")]
    Stopped,
    /// Weights of the wrong size or an item that does not fit.
    #[error("{0}")]
    Shape(String),
    /// The swarm could not be set up.
    #[error(transparent)]
    Pso(#[from] pso::PsoError),
    /// A file could not be written or read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

impl SwarmError {
    /// An I/O error on `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        SwarmError::Io { path: path.to_path_buf(), source }
    }
}
