//! The Slurm executor: each batch of work (episodes, table trials, swarm training and
//! scoring) becomes one job array.
//!
//! The coordinator writes `BATCHES/bNNNNNN/batch.msgpack` (`BATCHES`: `batches/` in the
//! run or swarm folder, `.TABLE.batches/` beside a table being built), submits
//! `sbatch --array` whose tasks run `outerloop worker` on contiguous shards of the
//! jobs, and polls: a
//! shard is done when its result file exists (written atomically by the worker before it
//! exits). A shard whose task left the queue (`squeue`) without a result failed or
//! vanished (node loss, preemption, time limit, `scancel`, a killed worker) and is
//! resubmitted, up to `max_retries` times. Each shard's results are handed to the caller
//! as they arrive (a table build appends its rows at once); the whole is merged in job
//! order and the batch folder removed, so a run on Slurm writes the same bytes as the
//! local run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::worker::{BATCH_FILE, result_path, shard_range};
use crate::diagnostic::InputError;
use crate::exec::{OnEncodedPart, RemoteExecutor, WorkFile};
use crate::store::atomic::write_atomic;

/// How the coordinator submits and watches job arrays.
#[derive(Debug, Clone, PartialEq)]
pub struct SlurmSettings {
    /// `--partition` (the cluster's default when `None`).
    pub partition: Option<String>,
    /// `--time` of each array task, e.g. `00:30:00`.
    pub time_limit: Option<String>,
    /// Most tasks per array: a batch of more jobs gives each task a contiguous shard.
    pub array_size: usize,
    /// Extra `sbatch` options, passed as given (e.g. `--cpus-per-task=4`).
    pub sbatch_args: Vec<String>,
    /// The `outerloop` binary the tasks run (this one by default; on a cluster, a path
    /// every node can reach).
    pub worker_binary: PathBuf,
    /// Resubmissions of a failed or vanished shard before the batch fails.
    pub max_retries: u32,
    /// Pause between polls of the queue.
    pub poll: Duration,
}

impl SlurmSettings {
    /// Defaults: the cluster's default partition and time limit, 64 tasks per array,
    /// this binary, 3 retries, polls every 250 ms.
    pub fn new(worker_binary: PathBuf) -> Self {
        SlurmSettings {
            partition: None,
            time_limit: None,
            array_size: 64,
            sbatch_args: Vec::new(),
            worker_binary,
            max_retries: 3,
            poll: Duration::from_millis(250),
        }
    }
}

/// Runs batches as Slurm job arrays under a run folder.
#[derive(Debug)]
pub struct SlurmExecutor {
    settings: SlurmSettings,
    batches: PathBuf,
    counter: AtomicU64,
}

impl SlurmExecutor {
    /// An executor writing its batches into the folder `batches` (created when needed,
    /// removed when empty), after checking that
    /// Slurm answers, the partition exists and the worker binary starts: each problem is
    /// bad input (exit 2), found before anything is written.
    pub fn new(settings: SlurmSettings, batches: &Path) -> Result<Self, InputError> {
        let usage = |message: String, hint: &str| InputError::usage(message, hint.to_string());
        match Command::new("sbatch").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => {
                return Err(usage(
                    format!("`sbatch --version` failed: {}", String::from_utf8_lossy(&out.stderr).trim()),
                    "check that the Slurm controller is reachable from this machine, or use --executor local",
                ));
            }
            Err(e) => {
                return Err(usage(
                    format!("cannot run `sbatch`: {e}"),
                    "--executor slurm needs the Slurm client commands on PATH (sbatch, squeue); or use --executor local",
                ));
            }
        }
        if let Some(p) = &settings.partition {
            let out = Command::new("sinfo").args(["-h", "-o", "%R", "-p", p]).output();
            let known = out.as_ref().is_ok_and(|o| o.status.success() && !o.stdout.trim_ascii().is_empty());
            if !known {
                let all = Command::new("sinfo")
                    .args(["-h", "-o", "%R"])
                    .output()
                    .map(|o| String::from_utf8_lossy(&o.stdout).split_whitespace().collect::<Vec<_>>().join(", "))
                    .unwrap_or_default();
                return Err(usage(format!("Slurm has no partition `{p}`"), &format!("partitions: {all}")));
            }
        }
        if settings.array_size == 0 {
            return Err(usage("--array-size must be at least 1".into(), "e.g. --array-size 64"));
        }
        match Command::new(&settings.worker_binary).arg("--version").output() {
            Ok(out) if out.status.success() => {}
            _ => {
                return Err(usage(
                    format!("the worker binary {} does not start", settings.worker_binary.display()),
                    "pass an outerloop binary every node can run with --worker-binary",
                ));
            }
        }
        Ok(SlurmExecutor { settings, batches: batches.to_path_buf(), counter: AtomicU64::new(0) })
    }

    /// Submit the shards `indices` of the batch in `dir`; returns the job id.
    fn submit(&self, dir: &Path, shards: usize, indices: &BTreeSet<usize>) -> Result<String, String> {
        let list = indices.iter().map(usize::to_string).collect::<Vec<_>>().join(",");
        let quote = |p: &Path| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
        let wrap = format!(
            "exec {} worker {} --index $SLURM_ARRAY_TASK_ID --shards {shards}",
            quote(&self.settings.worker_binary),
            quote(dir)
        );
        let mut cmd = Command::new("sbatch");
        cmd.args(["--parsable", "--job-name", "outerloop-worker"])
            .arg(format!("--array={list}"))
            .arg(format!("--output={}", dir.join("task-%a.log").display()));
        if let Some(p) = &self.settings.partition {
            cmd.arg(format!("--partition={p}"));
        }
        if let Some(t) = &self.settings.time_limit {
            cmd.arg(format!("--time={t}"));
        }
        cmd.args(&self.settings.sbatch_args).arg("--wrap").arg(wrap);
        let out = cmd.output().map_err(|e| format!("cannot run sbatch: {e}"))?;
        if !out.status.success() {
            return Err(format!("sbatch refused the array: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let text = String::from_utf8_lossy(&out.stdout);
        // `--parsable` prints `JOBID` or `JOBID;CLUSTER`.
        Ok(text.trim().split(';').next().unwrap_or_default().to_string())
    }

    /// Array tasks of `job` still queued or running, by index.
    fn queued(job: &str) -> Result<BTreeSet<usize>, String> {
        let out = Command::new("squeue")
            .args(["-h", "-r", "-j", job, "-o", "%K"])
            .output()
            .map_err(|e| format!("cannot run squeue: {e}"))?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            // A job that has left the queue entirely is reported as an invalid id.
            if err.contains("Invalid job id") {
                return Ok(BTreeSet::new());
            }
            return Err(format!("squeue failed: {}", err.trim()));
        }
        Ok(String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|t| t.parse().ok()).collect())
    }

    fn run_in(&self, dir: &Path, file: &WorkFile, on_part: OnEncodedPart) -> Result<(), String> {
        let shards = file.jobs.min(self.settings.array_size).max(1);
        let encoded = rmp_serde::to_vec_named(file).map_err(|e| format!("encoding the batch: {e}"))?;
        write_atomic(&dir.join(BATCH_FILE), &encoded).map_err(|e| format!("writing the batch: {e}"))?;
        let mut pending: BTreeSet<usize> = (0..shards).collect();
        let mut jobs: BTreeMap<usize, String> = BTreeMap::new();
        let mut tries: BTreeMap<usize, u32> = BTreeMap::new();
        let job = self.submit(dir, shards, &pending)?;
        for &i in &pending {
            jobs.insert(i, job.clone());
        }
        while !pending.is_empty() {
            std::thread::sleep(self.settings.poll);
            // The queue first, then the files: a worker writes its result before it
            // leaves the queue, so a shard gone from the queue without a result failed.
            let mut alive = BTreeSet::new();
            for id in jobs.values().collect::<BTreeSet<_>>() {
                alive.extend(Self::queued(id)?.into_iter().filter(|i| jobs.get(i) == Some(id)));
            }
            let arrived: Vec<usize> = pending.iter().copied().filter(|&i| result_path(dir, i).exists()).collect();
            for i in arrived {
                pending.remove(&i);
                let path = result_path(dir, i);
                let bytes = crate::input::read_bytes(&path, crate::input::MAX_BINARY_BYTES)
                    .map_err(|e| format!("reading {}: {e}", path.display()))?;
                on_part(shard_range(file.jobs, shards, i), &bytes)?;
            }
            let failed: BTreeSet<usize> = pending.iter().copied().filter(|i| !alive.contains(i)).collect();
            if failed.is_empty() {
                continue;
            }
            for &i in &failed {
                let t = tries.entry(i).or_insert(0);
                *t += 1;
                if *t > self.settings.max_retries {
                    let log = crate::input::read_text(&dir.join(format!("task-{i}.log"))).unwrap_or_default();
                    let tail: String =
                        log.lines().rev().take(5).collect::<Vec<_>>().into_iter().rev().collect::<Vec<_>>().join("\n");
                    return Err(format!(
                        "array task {i} of job {} failed {} times; its log ends:\n{tail}",
                        jobs[&i], t
                    ));
                }
            }
            let again = self.submit(dir, shards, &failed)?;
            for &i in &failed {
                jobs.insert(i, again.clone());
            }
        }
        Ok(())
    }
}

impl RemoteExecutor for SlurmExecutor {
    fn run(&self, file: &WorkFile, on_part: OnEncodedPart) -> Result<(), String> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let dir = self.batches.join(format!("b{n:06}"));
        if dir.exists() {
            // Left by an interrupted earlier process: its results are not ours.
            std::fs::remove_dir_all(&dir).map_err(|e| format!("clearing {}: {e}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let out = self.run_in(&dir, file, on_part);
        if out.is_ok() {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir(&self.batches);
        }
        out
    }
}
