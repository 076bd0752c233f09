//! Where batches of work run. A batch is plain data whose jobs are pure functions of it
//! ([`Work`]): inner-loop episodes (`sim::executor::EpisodeBatch`), the trials of a table
//! build (`objective::gpt::table::TrialBatch`), the swarm's training runs and scorings
//! (`swarm::work`). [`execute`] runs one here on local threads, or, when a
//! [`RemoteExecutor`] is installed (the Slurm executor of `cluster`), sends it there as a
//! [`WorkFile`] and decodes the results, in job order either way: where a batch ran never
//! changes a command's outputs.
//!
//! This sits low in the layers so that every layer with batches can reach it; the one
//! place that knows every kind of work, and turns a work file back into its type, is the
//! worker in `cluster` (near the top).
//!
//! The outer loop's systems cannot fail, so a remote failure of an episode batch is
//! recorded here ([`record_failure`]) and the run folder checks [`take_failure`] after
//! every tick, refusing to persist a tick that had one.

use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock};

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
/// encoded results (decoded by [`execute`] before its caller sees them).
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

static REMOTE: RwLock<Option<Arc<dyn RemoteExecutor>>> = RwLock::new(None);
static FAILURE: Mutex<Option<String>> = Mutex::new(None);

/// Run every batch of this process on `executor` from now on (`None`: locally).
pub fn install(executor: Option<Arc<dyn RemoteExecutor>>) {
    *REMOTE.write().unwrap_or_else(|e| e.into_inner()) = executor;
}

/// The remote executor, if one is installed.
pub fn remote() -> Option<Arc<dyn RemoteExecutor>> {
    REMOTE.read().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Record a remote failure (the first one wins).
pub fn record_failure(message: String) {
    FAILURE.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(message);
}

/// The remote failure since the last call, if any: the tick that saw it must not be
/// persisted.
pub fn take_failure() -> Option<String> {
    FAILURE.lock().unwrap_or_else(|e| e.into_inner()).take()
}

/// Run `work` on the installed executor, or here with `threads` threads. `on_part` sees
/// results as they arrive (here: once, the whole batch); the return value is every
/// result in job order, checked to be one per job.
pub fn execute<W: Work>(work: &W, threads: usize, on_part: OnPart<W::Output>) -> Result<Vec<W::Output>, String> {
    if work.is_empty() {
        return Ok(Vec::new());
    }
    let Some(executor) = remote() else {
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
        let out = execute(&Squares(vec![3, 1, 2]), 2, &mut |r, p| seen.push((r, p.to_vec()))).unwrap();
        assert_eq!(out, vec![9, 1, 4]);
        assert_eq!(seen, vec![(0..3, vec![9, 1, 4])]);
        assert!(execute(&Squares(vec![]), 1, &mut |_, _| panic!("no part for no jobs")).unwrap().is_empty());
    }
}
