//! Running batches of work beyond this process. A batch (`batch.rs`: inner episodes,
//! table-build trials, swarm training runs and scorings) is plain data whose results do
//! not depend on where it ran; `remote.rs` decides where batches go (here by default, or
//! an installed remote executor); the Slurm executor (`slurm.rs`) submits each batch as
//! one job array of `outerloop worker` tasks, and `worker.rs` is the task's side.
//! Installed by `--executor slurm` on `run`, `resume`, `swarm` and `table build`; the
//! outputs are the same bytes as a local run (a table build's rows the same values).

pub mod batch;
pub mod remote;
pub mod slurm;
pub mod worker;
