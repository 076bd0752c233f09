//! Running episode batches beyond this process: the Slurm executor (`slurm.rs`), which
//! submits each batch as one job array of `outerloop worker` tasks, and the worker's side
//! (`worker.rs`). Installed with `sim::executor::install` by `run`/`resume --executor
//! slurm`; a run on Slurm is byte-identical to the local run.

pub mod slurm;
pub mod worker;
