//! Running batches of work beyond this process. What a batch is and where it goes is
//! `exec`'s (low in the layers, so that every layer with batches reaches it); this module
//! holds the remote side: the Slurm executor (`slurm.rs`), which submits each work file
//! as one job array of `outerloop worker` tasks and hands each part's results back as it
//! arrives, and the task's side (`worker.rs`), the one place that turns every kind of
//! work file back into its type. Installed by `--executor slurm` on `run`, `resume`,
//! `swarm` and `table build`; the outputs are the same bytes as a local run (a table
//! build's rows the same values).

pub mod slurm;
pub mod worker;
