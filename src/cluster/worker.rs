//! `outerloop worker DIR --index I --shards N`: one task of a batch's job array. Reads
//! `DIR/batch.msgpack`, runs shard `I` of `N` (a contiguous range of jobs) and writes
//! `DIR/result-I.msgpack` atomically, so the coordinator sees a whole result or none.

use std::path::{Path, PathBuf};

use crate::sim::episodes::EpisodeResult;
use crate::sim::executor::{EpisodeBatch, run_batch};
use crate::store::atomic::write_atomic;

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
    /// A job of the batch failed to load.
    #[error(transparent)]
    Job(#[from] crate::sim::executor::BatchError),
    /// The result could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        /// The result file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// Run shard `index` of `shards` of the batch in `dir`.
pub fn run_shard(dir: &Path, index: usize, shards: usize) -> Result<usize, WorkerError> {
    let path = dir.join(BATCH_FILE);
    let bytes = crate::input::read_bytes(&path, crate::input::MAX_BINARY_BYTES)
        .map_err(|e| WorkerError::Batch { path: path.clone(), message: e.to_string() })?;
    let batch: EpisodeBatch =
        rmp_serde::from_slice(&bytes).map_err(|e| WorkerError::Batch { path: path.clone(), message: e.to_string() })?;
    let range = shard_range(batch.jobs.len(), shards, index);
    let results: Vec<EpisodeResult> = run_batch(&batch, range)?;
    let out = result_path(dir, index);
    let encoded = rmp_serde::to_vec_named(&results).unwrap_or_default();
    write_atomic(&out, &encoded).map_err(|source| WorkerError::Write { path: out, source })?;
    Ok(results.len())
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
