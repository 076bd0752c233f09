//! `outerloop worker DIR --index I --shards N`: one task of a batch's job array. Reads
//! `DIR/batch.msgpack`, runs shard `I` of `N` (a contiguous range of jobs) and writes
//! `DIR/result-I.msgpack` atomically, so the coordinator sees a whole result or none.
//! A task uses the CPUs Slurm gave it (`SLURM_CPUS_PER_TASK`, one by default). This is
//! the one place that knows every kind of work: it turns the batch file's kind back into
//! its type.

use std::path::{Path, PathBuf};

use crate::exec::{Work, WorkFile, encode_outputs};
use crate::objective::gpt::table::TrialBatch;
use crate::sim::episode_batch::EpisodeBatch;
use crate::store::atomic::write_atomic;
use crate::swarm::work::{ScoringBatch, TrainingBatch};

/// The batch file inside a batch folder.
pub const BATCH_FILE: &str = "batch.msgpack";

/// The result file of shard `index`.
pub fn result_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(format!("result-{index}.msgpack"))
}

/// The jobs of shard `index` of `shards` over `jobs` jobs: contiguous, sizes differing
/// by at most one.
pub fn shard_range(jobs: usize, shards: usize, index: usize) -> std::ops::Range<usize> {
    let shards = shards.max(1);
    let (base, extra) = (jobs / shards, jobs % shards);
    let start = index * base + index.min(extra);
    start..start + base + usize::from(index < extra)
}

/// What can stop a worker.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    /// The batch file cannot be read or decoded.
    #[error("cannot read the batch {path}: {message}")]
    Batch {
        /// The batch file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The batch cannot be run (another build's file, a job out of range).
    #[error("{0}")]
    Job(String),
    /// The result could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The result file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// CPUs of this array task: `SLURM_CPUS_PER_TASK` (set by `--cpus-per-task`), else 1.
fn task_cpus() -> usize {
    std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|v| v.trim().parse().ok()).filter(|&n| n > 0).unwrap_or(1)
}

/// Decode `file` as `W`, run `range` and encode the results.
fn run_part<W: Work>(file: &WorkFile, range: std::ops::Range<usize>, threads: usize) -> Result<Vec<u8>, String> {
    encode_outputs(&file.decode::<W>()?.run(range, threads)?)
}

/// Run shard `index` of `shards` of the batch in `dir`.
pub fn run_shard(dir: &Path, index: usize, shards: usize) -> Result<usize, WorkerError> {
    let path = dir.join(BATCH_FILE);
    let bytes = crate::input::read_bytes(&path, crate::input::MAX_BINARY_BYTES)
        .map_err(|e| WorkerError::Batch { path: path.clone(), message: e.to_string() })?;
    let file: WorkFile =
        rmp_serde::from_slice(&bytes).map_err(|e| WorkerError::Batch { path: path.clone(), message: e.to_string() })?;
    let range = shard_range(file.jobs, shards, index);
    let threads = task_cpus();
    // Episodes run on the rayon pool: size it to this task's CPUs, not the node's.
    let _ = rayon::ThreadPoolBuilder::new().num_threads(threads).build_global();
    let encoded = match file.kind.as_str() {
        EpisodeBatch::KIND => run_part::<EpisodeBatch>(&file, range.clone(), threads),
        TrialBatch::KIND => run_part::<TrialBatch>(&file, range.clone(), threads),
        TrainingBatch::KIND => run_part::<TrainingBatch>(&file, range.clone(), threads),
        ScoringBatch::KIND => run_part::<ScoringBatch>(&file, range.clone(), threads),
        other => Err(format!("unknown kind of work `{other}` (a batch from another build?)")),
    }
    .map_err(WorkerError::Job)?;
    let out = result_path(dir, index);
    write_atomic(&out, &encoded).map_err(|source| WorkerError::Write { path: out, source })?;
    Ok(range.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_cover_every_job_once_in_order() {
        for jobs in 0..40 {
            for shards in 1..12 {
                let ranges: Vec<_> = (0..shards).map(|i| shard_range(jobs, shards, i)).collect();
                let flat: Vec<usize> = ranges.iter().flat_map(|r| r.clone()).collect();
                assert_eq!(flat, (0..jobs).collect::<Vec<_>>(), "{jobs} jobs in {shards} shards");
            }
        }
    }
}
