//! `outerloop worker DIR --index I --shards N` (hidden): one array task of a batch the
//! Slurm executor submitted; see `cluster::worker`.

use std::path::PathBuf;

use clap::Args;

/// Flags of `worker`.
#[derive(Debug, Args)]
pub struct WorkerArgs {
    /// The batch folder.
    pub dir: PathBuf,
    /// This task's shard.
    #[arg(long)]
    pub index: usize,
    /// Number of shards.
    #[arg(long)]
    pub shards: usize,
}

/// Run `outerloop worker`.
pub fn run(args: WorkerArgs) -> anyhow::Result<()> {
    crate::cluster::worker::run_shard(&args.dir, args.index, args.shards)?;
    Ok(())
}
