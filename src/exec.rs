//! Where batches of work run. A batch is plain data whose jobs are pure functions of it
//! ([`Work`]): inner-loop episodes (`sim::episode_batch::EpisodeBatch`), the trials of a table
//! build (`objective::gpt::table::TrialBatch`), the swarm's training runs and scorings
//! (`swarm::work`). [`Executor::execute`] runs one here on local threads, or, for a remote
//! [`Executor`] (the Slurm executor of `cluster`), sends it there as a
//! [`WorkFile`] and decodes the results, in job order either way: where a batch ran never
//! changes a command's outputs.
//!
//! This sits low in the layers so that every layer with batches can reach it; the one
//! place that knows every kind of work, and turns a work file back into its type, is the
//! worker in `cluster` (near the top).
//!
//! Where batches run is a value ([`Executor`]) that a command builds from its flags and
//! hands to whatever runs batches: no process-wide state, and a failure comes back as an
//! error to the caller that sent the batch.

use std::ops::Range;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A batch of independent jobs, each a pure function of the batch.
pub trait Work: Serialize + DeserializeOwned + Sync {
    /// One job's result.
    type Output: Serialize + DeserializeOwned + Send;
    /// The kind's name in work files (the worker dispatches on it).
    const KIND: &'static str;
    /// Number of jobs.
    fn len(&self) -> usize;
    /// Whether there are no jobs.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Run jobs `range` here with `threads` threads; results in job order. An error
    /// means the batch itself is unusable (a file from another build); a job that fails
    /// reports that in its output.
    fn run(&self, range: Range<usize>, threads: usize) -> Result<Vec<Self::Output>, String>;
}

/// A batch as a file: its kind and its MessagePack encoding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkFile {
    /// [`Work::KIND`] of the batch.
    pub kind: String,
    /// Number of jobs.
    pub jobs: usize,
    /// `rmp_serde::to_vec_named` of the batch.
    pub payload: Vec<u8>,
}

impl WorkFile {
    /// The file of `work`.
    pub fn of<W: Work>(work: &W) -> Result<Self, String> {
        let payload = rmp_serde::to_vec_named(work).map_err(|e| format!("encoding the {} batch: {e}", W::KIND))?;
        Ok(WorkFile { kind: W::KIND.to_string(), jobs: work.len(), payload })
    }

    /// The batch again, if it is of kind `W`.
    pub fn decode<W: Work>(&self) -> Result<W, String> {
        if self.kind != W::KIND {
            return Err(format!("a {} batch read as {}", self.kind, W::KIND));
        }
        rmp_serde::from_slice(&self.payload).map_err(|e| format!("decoding the {} batch: {e}", W::KIND))
    }
}

/// Encode one part's results (what a worker writes).
pub fn encode_outputs<T: Serialize>(outputs: &[T]) -> Result<Vec<u8>, String> {
    rmp_serde::to_vec_named(outputs).map_err(|e| format!("encoding results: {e}"))
}

/// Called with each part of a batch's results as it arrives: the job range and the
/// encoded results (decoded by [`Executor::execute`] before its caller sees them).
pub type OnEncodedPart<'a> = &'a mut dyn FnMut(Range<usize>, &[u8]) -> Result<(), String>;

/// Called with each part of a batch's decoded results as it arrives: the job range and
/// its results.
pub type OnPart<'a, T> = &'a mut dyn FnMut(Range<usize>, &[T]);

/// Runs work files somewhere else.
pub trait RemoteExecutor: Send + Sync {
    /// Run every job of `file`, reporting each part's encoded results through
    /// `on_part` as it finishes (any order); an error is final (the executor has
    /// retried what it could).
    fn run(&self, file: &WorkFile, on_part: OnEncodedPart) -> Result<(), String>;
}

/// Where a command's batches run: here on local threads, or on a [`RemoteExecutor`].
/// Cheap to clone; the default runs locally.
#[derive(Clone, Default)]
pub struct Executor {
    remote: Option<Arc<dyn RemoteExecutor>>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.is_remote() { "Executor(remote)" } else { "Executor(local)" })
    }
}

impl Executor {
    /// Run every batch in this process.
    pub fn local() -> Self {
        Executor::default()
    }

    /// Send every batch to `executor`.
    pub fn remote(executor: Arc<dyn RemoteExecutor>) -> Self {
        Executor { remote: Some(executor) }
    }

    /// Whether batches leave this process.
    pub fn is_remote(&self) -> bool {
        self.remote.is_some()
    }

    /// Run `work` remotely, or here with `threads` threads. `on_part` sees results as
    /// they arrive (here: once, the whole batch); the return value is every result in
    /// job order, checked to be one per job.
    pub fn execute<W: Work>(
        &self,
        work: &W,
        threads: usize,
        on_part: OnPart<W::Output>,
    ) -> Result<Vec<W::Output>, String> {
        if work.is_empty() {
            return Ok(Vec::new());
        }
        let Some(executor) = &self.remote else {
            let out = work.run(0..work.len(), threads)?;
            on_part(0..work.len(), &out);
            return Ok(out);
        };
        let mut parts: Vec<(usize, Vec<W::Output>)> = Vec::new();
        executor.run(&WorkFile::of(work)?, &mut |range, bytes| {
            let part: Vec<W::Output> = rmp_serde::from_slice(bytes).map_err(|e| format!("decoding results: {e}"))?;
            if part.len() != range.len() {
                return Err(format!("a part of {} results for jobs {range:?}", part.len()));
            }
            on_part(range.clone(), &part);
            parts.push((range.start, part));
            Ok(())
        })?;
        parts.sort_by_key(|p| p.0);
        let out: Vec<W::Output> = parts.into_iter().flat_map(|p| p.1).collect();
        if out.len() != work.len() {
            return Err(format!("the executor returned {} results for {} {}", out.len(), work.len(), W::KIND));
        }
        Ok(out)
    }
}

/// An executor and the threads a batch gets when it runs here: what a command that
/// runs several kinds of batch (the model swarm) hands down.
#[derive(Clone, Debug)]
pub struct Workers {
    /// Where batches run.
    pub executor: Executor,
    /// Threads for a batch run in this process.
    pub threads: usize,
}

impl Workers {
    /// [`Executor::execute`] with these threads, ignoring parts as they arrive.
    pub fn execute<W: Work>(&self, work: &W) -> Result<Vec<W::Output>, String> {
        self.executor.execute(work, self.threads, &mut |_, _| {})
    }
}

/// A remote executor whose every batch fails with its message: the failure paths'
/// tests.
#[cfg(test)]
pub(crate) struct FailingExecutor(pub &'static str);

#[cfg(test)]
impl RemoteExecutor for FailingExecutor {
    fn run(&self, _: &WorkFile, _: OnEncodedPart) -> Result<(), String> {
        Err(self.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Squares, for testing the plumbing.
    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Squares(Vec<u64>);

    impl Work for Squares {
        type Output = u64;
        const KIND: &'static str = "squares";
        fn len(&self) -> usize {
            self.0.len()
        }
        fn run(&self, range: Range<usize>, _: usize) -> Result<Vec<u64>, String> {
            Ok(self.0[range].iter().map(|x| x * x).collect())
        }
    }

    #[test]
    fn a_work_file_decodes_only_as_its_own_kind() {
        let w = Squares(vec![1, 2, 3]);
        let file = WorkFile::of(&w).unwrap();
        assert_eq!((file.kind.as_str(), file.jobs), ("squares", 3));
        assert_eq!(file.decode::<Squares>().unwrap(), w);
        let other = WorkFile { kind: "cubes".into(), ..file };
        assert!(other.decode::<Squares>().unwrap_err().contains("cubes batch read as squares"));
    }

    #[test]
    fn local_execution_reports_one_part_in_job_order() {
        let mut seen = Vec::new();
        let local = Executor::local();
        let out = local.execute(&Squares(vec![3, 1, 2]), 2, &mut |r, p| seen.push((r, p.to_vec()))).unwrap();
        assert_eq!(out, vec![9, 1, 4]);
        assert_eq!(seen, vec![(0..3, vec![9, 1, 4])]);
        assert!(local.execute(&Squares(vec![]), 1, &mut |_, _| panic!("no part for no jobs")).unwrap().is_empty());
    }
}
