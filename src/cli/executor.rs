//! `--executor local|slurm` and its settings, shared by `run`, `resume`, `swarm` and
//! `table build`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, ValueEnum};

use crate::cluster::slurm::{SlurmExecutor, SlurmSettings};
use crate::diagnostic::InputError;
use crate::exec::Executor;

/// Where batches of work run (episodes, table trials, swarm training and scoring).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum ExecutorKind {
    /// In this process, on every core (`--threads`).
    #[default]
    Local,
    /// As Slurm job arrays of `outerloop worker` tasks.
    Slurm,
}

/// The executor flags.
#[derive(Debug, Clone, Args)]
pub struct ExecutorArgs {
    /// Where batches of work run; results are the same bytes either way.
    #[arg(long, value_enum, default_value_t = ExecutorKind::Local)]
    pub executor: ExecutorKind,
    /// Slurm partition (default: the cluster's default).
    #[arg(long)]
    pub partition: Option<String>,
    /// Time limit of each array task, in sbatch's format (e.g. 00:30:00).
    #[arg(long, value_name = "TIME")]
    pub time_limit: Option<String>,
    /// Most tasks per job array (a larger batch gives each task a shard of jobs).
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub array_size: usize,
    /// An extra sbatch option, passed as given (repeatable), e.g. --sbatch-arg=--cpus-per-task=4.
    #[arg(long = "sbatch-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub sbatch_args: Vec<String>,
    /// The outerloop binary the array tasks run (default: this one).
    #[arg(long, value_name = "PATH")]
    pub worker_binary: Option<PathBuf>,
    /// Resubmissions of a failed or vanished array task before the run stops.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub max_retries: u32,
}

impl ExecutorArgs {
    /// The chosen executor, writing its batch files into the folder `batches` (nothing
    /// for `local`).
    pub fn build(&self, batches: &Path) -> Result<Executor, InputError> {
        if self.executor == ExecutorKind::Local {
            let slurm_only = self.partition.is_some()
                || self.time_limit.is_some()
                || !self.sbatch_args.is_empty()
                || self.worker_binary.is_some();
            if slurm_only {
                return Err(InputError::usage(
                    "Slurm settings given without --executor slurm",
                    "add --executor slurm, or drop --partition/--time-limit/--sbatch-arg/--worker-binary",
                ));
            }
            return Ok(Executor::local());
        }
        let binary = match &self.worker_binary {
            Some(b) => b.clone(),
            None => std::env::current_exe().map_err(|e| {
                InputError::usage(format!("cannot locate this binary: {e}"), "pass --worker-binary PATH")
            })?,
        };
        let settings = SlurmSettings {
            partition: self.partition.clone(),
            time_limit: self.time_limit.clone(),
            array_size: self.array_size,
            sbatch_args: self.sbatch_args.clone(),
            max_retries: self.max_retries,
            ..SlurmSettings::new(binary)
        };
        let executor = SlurmExecutor::new(settings, batches)?;
        Ok(Executor::remote(Arc::new(executor)))
    }
}
