//! Running a reproduction set: every job in order (priors first), resumably. A finished
//! run (its `summary.txt` or the swarm's `report.json` exists) is skipped, an
//! interrupted one resumes from its checkpoint, so a killed `reproduce run` continues
//! where it stopped and ends with the same bytes.

use std::path::{Path, PathBuf};

use super::manifest::{ClaimKind, Job, ReproSet};
use crate::diagnostic::InputError;
use crate::driver::{Run, Stops};
use crate::exec::{Executor, Workers};
use crate::store::run_dir::{RunError, files};

/// What happened to one job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobOutcome {
    /// It was already finished.
    Skipped,
    /// It was resumed from a checkpoint and finished.
    Resumed,
    /// It ran from the start.
    Ran,
}

/// Failures of a set run.
#[derive(Debug, thiserror::Error)]
pub enum ReproError {
    /// Bad input (a manifest, a scenario it generates, a used folder).
    #[error(transparent)]
    Input(#[from] InputError),
    /// A run failed.
    #[error(transparent)]
    Run(#[from] RunError),
    /// A model-swarm run failed.
    #[error("{0}")]
    Swarm(String),
    /// Measuring finished runs failed (a champion or task that cannot be rebuilt, a
    /// report that cannot be read, runs that are not the design the set declares).
    #[error("{0}")]
    Measure(String),
    /// Writing a file failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being written.
        context: String,
        /// The error.
        source: std::io::Error,
    },
}

/// Where a job's run folder lives.
pub fn job_dir(out: &Path, job: &Job) -> PathBuf {
    out.join(&job.dir)
}

/// Whether a job's run is complete.
pub fn finished(set: &ReproSet, dir: &Path) -> bool {
    match set.manifest.claim {
        ClaimKind::Swarm => dir.join("report.json").exists(),
        _ => dir.join(files::SUMMARY).exists(),
    }
}

/// Run every job of `set` into `out`, calling `progress` before each.
pub fn run_set(
    set: &ReproSet,
    out: &Path,
    threads: usize,
    progress: &dyn Fn(usize, usize, &Job, JobOutcome),
) -> Result<Vec<JobOutcome>, ReproError> {
    let jobs = set.jobs(out)?;
    std::fs::create_dir_all(out.join("scenarios"))
        .map_err(|source| ReproError::Io { context: format!("creating {}", out.display()), source })?;
    let mut outcomes = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let dir = job_dir(out, job);
        let outcome = if finished(set, &dir) {
            JobOutcome::Skipped
        } else if set.manifest.claim == ClaimKind::Swarm {
            // A swarm run has no checkpoint: an interrupted one starts again.
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|source| ReproError::Io {
                    context: format!("clearing the interrupted swarm run {}", dir.display()),
                    source,
                })?;
            }
            JobOutcome::Ran
        } else if dir.join(files::CHECKPOINT).exists() {
            JobOutcome::Resumed
        } else {
            JobOutcome::Ran
        };
        progress(i, jobs.len(), job, outcome);
        match outcome {
            JobOutcome::Skipped => {}
            JobOutcome::Resumed => drive(Run::resume(&dir, Executor::local())?)?,
            JobOutcome::Ran => start(set, out, job, &dir, threads)?,
        }
        outcomes.push(outcome);
    }
    Ok(outcomes)
}

fn start(set: &ReproSet, out: &Path, job: &Job, dir: &Path, threads: usize) -> Result<(), ReproError> {
    // The generated scenario is kept beside the runs, so a reader sees what ran.
    let path = out.join("scenarios").join(format!("{}.toml", job.dir));
    crate::store::atomic::write_atomic(&path, job.text.as_bytes())
        .map_err(|source| ReproError::Io { context: format!("writing {}", path.display()), source })?;
    let base_dir = set.folder().to_path_buf();
    if set.manifest.claim == ClaimKind::Swarm {
        let sc = crate::swarm::scenario::parse(&path, &job.text)?;
        crate::swarm::run::run(&sc, dir, &Workers { executor: Executor::local(), threads }, &|_: &str| {}).map_err(
            |e| match e {
                crate::swarm::SwarmError::Input(input) => ReproError::Input(input),
                other => ReproError::Swarm(other.to_string()),
            },
        )?;
        return Ok(());
    }
    let scenario = crate::scenario::parse_in(&path, &job.text, &base_dir)?;
    drive(Run::start(scenario, Some(dir.to_path_buf()), Executor::local())?)
}

fn drive(mut run: Run) -> Result<(), ReproError> {
    crate::driver::drive(&mut run, Stops::default(), |_| {})?;
    Ok(())
}
