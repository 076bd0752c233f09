//! Where batches run. By default in this process ([`execute`] runs a [`Batch`] on local
//! threads; episodes on the rayon pool); a [`RemoteExecutor`] installed with [`install`]
//! runs them elsewhere (a Slurm job array, [`super::slurm`]). Results come back in job
//! order, so where a batch ran never changes a command's outputs.
//!
//! The outer loop's systems cannot fail, so a remote failure of an episode batch is
//! recorded here ([`record_failure`]) and the batch answered with placeholders; the run
//! folder checks [`take_failure`] after every tick and refuses to persist a tick that had
//! one. Other callers (table builds, swarms) get the error back from [`execute`].

use std::ops::Range;
use std::sync::{Arc, Mutex, RwLock};

use super::batch::{Batch, Results};

/// Called with each part of a batch's results as it arrives (the job range and its
/// results), before the whole batch is done: a table build appends those rows at once.
pub type OnPart<'a> = &'a mut dyn FnMut(Range<usize>, &Results);

/// Runs whole batches somewhere else and returns their results in job order.
pub trait RemoteExecutor: Send + Sync {
    /// Run `batch`, reporting parts through `on_part` as they finish; an error is final
    /// (the executor has already retried what it could).
    fn run(&self, batch: &Batch, on_part: OnPart) -> Result<Results, String>;
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

/// Run `batch` on the installed executor, or here with `threads` threads; `on_part`
/// sees the results as they arrive (here: once, the whole batch). Checks that as many
/// results came back as there are jobs.
pub fn execute(batch: &Batch, threads: usize, on_part: OnPart) -> Result<Results, String> {
    if batch.is_empty() {
        return Ok(Results::empty_for(batch));
    }
    let results = match remote() {
        Some(executor) => executor.run(batch, on_part)?,
        None => {
            let r = batch.run(0..batch.len(), threads).map_err(|e| e.to_string())?;
            on_part(0..batch.len(), &r);
            r
        }
    };
    if results.len() != batch.len() {
        return Err(format!("the executor returned {} results for {} {}", results.len(), batch.len(), batch.kind()));
    }
    Ok(results)
}
