//! A model-swarm run folder's record: the same machinery as an evolution run's. An
//! `events.jsonl` in the store's chained-checksum line format ([`crate::store::event_log`]),
//! a `checkpoint.bin` in the store's framing (recording the log's length and last sum),
//! the folder lock, and every write atomic with crash points.
//!
//! The expensive part of a swarm run is training, so trained weights are checkpoints:
//! each is saved (`seed-<i>/*.safetensors`) and then logged as [`SwarmEvent::Trained`]
//! with the xxh3 of its weights. A run is replayed against its log: [`Record::log`] checks
//! that an event the log already holds is the one the run produces again (a resumed run
//! that diverges is an error, never a silent fork) and appends the new ones; training
//! whose weights the log records is loaded instead of run. So `resume` re-runs the cheap
//! searches and scorings deterministically, skips every finished training run, and ends
//! with the uninterrupted run's bytes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};

use super::SwarmError;
use super::scenario::{self, SwarmScenario};
use crate::diagnostic::InputError;
use crate::store::atomic::{append_synced, remove_stale_temps, truncate_synced, write_atomic};
use crate::store::checkpoint::{frame, unframe};
use crate::store::event_log::{self, LogEvent, LogMark};
use crate::store::run_dir::{FolderLock, RunError};

/// The log of a model-swarm run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "kebab-case")]
pub enum SwarmEvent {
    /// The run began.
    Started {
        /// Repetitions.
        seeds: usize,
    },
    /// Trained weights were saved: `file` in the seed's folder, with the xxh3 of the
    /// flat weights' bits.
    Trained {
        /// Seed index.
        seed: usize,
        /// What was trained (`base`, `expert-<skill>`, `routing-small`, ...).
        model: String,
        /// Checkpoint file name in `seed-<seed>/`.
        file: String,
        /// xxh3 of the weights (16 hex digits).
        xxh3: String,
    },
    /// One seed's swarm search and baselines were measured.
    Searched {
        /// Seed index.
        seed: usize,
        /// Swarm iterations.
        iterations: usize,
        /// Utility evaluations the swarm spent.
        evals: usize,
        /// The global best's validation loss.
        best_valid: f64,
        /// xxh3 of the global best's weights.
        best_xxh3: String,
    },
    /// The run finished; its report has this xxh3.
    Finished {
        /// xxh3 of `report.json`.
        report_xxh3: String,
    },
}

impl LogEvent for SwarmEvent {
    fn non_finite_field(&self) -> Option<&'static str> {
        match self {
            SwarmEvent::Searched { best_valid, .. } if !best_valid.is_finite() => Some("best_valid"),
            _ => None,
        }
    }
}

/// What `checkpoint.bin` holds for a swarm run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct SwarmCheckpoint {
    /// Always `"model-swarm"`: an evolution checkpoint is refused.
    kind: String,
    /// Length of the log in bytes.
    log_len: u64,
    /// Chained sum of its last line.
    log_sum: u64,
}

const KIND: &str = super::scenario::KIND;

/// A swarm run folder held open (locked) for writing.
pub struct Record {
    dir: PathBuf,
    _lock: FolderLock,
    hash: u64,
    mark: LogMark,
    /// Events the log held when the run was opened (a resumed run replays them).
    logged: Vec<SwarmEvent>,
    /// How many of `logged` the run has produced again so far.
    cursor: usize,
    /// Opened to replay a finished run: nothing may be written.
    read_only: bool,
    /// Set by Ctrl-C: stop after the next saved step.
    stop: Option<Arc<AtomicBool>>,
}

fn run_error(e: RunError) -> SwarmError {
    match e {
        RunError::Input(i) => SwarmError::Input(i),
        other => SwarmError::Executor(other.to_string()),
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SwarmError + '_ {
    move |e| SwarmError::io(path, e)
}

impl Record {
    fn log_path(&self) -> PathBuf {
        self.dir.join("events.jsonl")
    }

    fn write_checkpoint(&self) -> Result<(), SwarmError> {
        let body = SwarmCheckpoint { kind: KIND.to_string(), log_len: self.mark.len, log_sum: self.mark.sum };
        let bytes = frame(&rmp_serde::to_vec_named(&body).unwrap_or_default(), self.hash);
        let path = self.dir.join("checkpoint.bin");
        write_atomic(&path, &bytes).map_err(io(&path))
    }

    /// Create the record of a new run in `dir` (created; refused when it holds files):
    /// the scenario's text, an empty log and its checkpoint.
    pub fn create(dir: &Path, sc: &SwarmScenario) -> Result<Record, SwarmError> {
        if let Ok(mut entries) = std::fs::read_dir(dir)
            && entries.next().is_some()
        {
            return Err(SwarmError::Input(InputError::file(
                dir,
                "this folder already holds files",
                "choose another --out folder or remove this one (`outerloop resume DIR` continues a stopped run)",
            )));
        }
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let lock = FolderLock::acquire(dir).map_err(run_error)?;
        let rec = Record {
            dir: dir.to_path_buf(),
            _lock: lock,
            hash: xxhash_rust::xxh3::xxh3_64(sc.text.as_bytes()),
            mark: LogMark::default(),
            logged: Vec::new(),
            cursor: 0,
            read_only: false,
            stop: None,
        };
        // The checkpoint first: a folder that holds a scenario always holds a checkpoint.
        rec.write_checkpoint()?;
        let scenario = dir.join("scenario.toml");
        write_atomic(&scenario, sc.text.as_bytes()).map_err(io(&scenario))?;
        Ok(rec)
    }

    /// Open a stopped run in `dir` to resume it: its scenario (the folder's copy), its
    /// checkpoint, and its log cut back to the checkpoint's length (a step interrupted
    /// before its checkpoint is undone) and verified line by line.
    pub fn open(dir: &Path) -> Result<(SwarmScenario, Record), SwarmError> {
        let lock = FolderLock::acquire(dir).map_err(run_error)?;
        let scenario = dir.join("scenario.toml");
        let sc = scenario::load(&scenario)?;
        let hash = xxhash_rust::xxh3::xxh3_64(sc.text.as_bytes());
        let (mark, logged) = read_record(dir, hash)?;
        let log = dir.join("events.jsonl");
        if log.exists() {
            truncate_synced(&log, mark.len).map_err(io(&log))?;
        }
        // Temporary files of writes a kill interrupted (we hold the lock: none is live).
        remove_stale_temps(dir).map_err(io(dir))?;
        for i in 0..sc.seeds {
            let sub = dir.join(format!("seed-{i}"));
            if sub.is_dir() {
                remove_stale_temps(&sub).map_err(io(&sub))?;
            }
        }
        Ok((
            sc,
            Record { dir: dir.to_path_buf(), _lock: lock, hash, mark, logged, cursor: 0, read_only: false, stop: None },
        ))
    }

    /// Open a finished run to replay it without writing (`analyze`); a run that has not
    /// finished is refused.
    pub fn open_finished(dir: &Path) -> Result<(SwarmScenario, Record), SwarmError> {
        let lock = FolderLock::acquire(dir).map_err(run_error)?;
        let sc = scenario::load(&dir.join("scenario.toml"))?;
        let hash = xxhash_rust::xxh3::xxh3_64(sc.text.as_bytes());
        let (_, logged) = read_record(dir, hash)?;
        if !logged.iter().any(|e| matches!(e, SwarmEvent::Finished { .. })) {
            return Err(SwarmError::Input(InputError::file(
                dir,
                "this model-swarm run has not finished",
                "finish it with `outerloop resume DIR`, then analyze it",
            )));
        }
        let rec = Record {
            dir: dir.to_path_buf(),
            _lock: lock,
            hash,
            mark: LogMark::default(),
            logged,
            cursor: 0,
            read_only: true,
            stop: None,
        };
        Ok((sc, rec))
    }

    /// Stop the run ([`SwarmError::Stopped`]) after the next step that [`Record::log`]
    /// saves once `flag` is set (none of a finished run's).
    pub fn stop_when(&mut self, flag: Option<Arc<AtomicBool>>) {
        self.stop = flag;
    }

    /// Whether this record only replays a finished run (nothing is written).
    pub fn read_only(&self) -> bool {
        self.read_only
    }

    /// Whether the log records a finished run.
    pub fn finished(&self) -> bool {
        self.logged.iter().any(|e| matches!(e, SwarmEvent::Finished { .. }))
    }

    /// The weights' xxh3 the log records for `model` of seed `seed`, if it was trained.
    pub fn trained(&self, seed: usize, model: &str) -> Option<&str> {
        self.logged.iter().find_map(|e| match e {
            SwarmEvent::Trained { seed: s, model: m, xxh3, .. } if *s == seed && m == model => Some(xxh3.as_str()),
            _ => None,
        })
    }

    /// Record `events` in order: those the log already holds (a resumed run producing
    /// them again) are checked to be the same; the rest are appended (fsync) and the
    /// checkpoint moved past them.
    pub fn log(&mut self, events: Vec<SwarmEvent>) -> Result<(), SwarmError> {
        let mut fresh = Vec::new();
        for e in events {
            if self.cursor < self.logged.len() {
                if self.logged[self.cursor] != e {
                    return Err(SwarmError::Job(format!(
                        "the resumed run differs from its log at event {}: logged {:?}, now {:?} \
                         (was the folder written by another build?)",
                        self.cursor + 1,
                        self.logged[self.cursor],
                        e
                    )));
                }
                self.cursor += 1;
            } else {
                fresh.push(e);
            }
        }
        if fresh.is_empty() {
            return Ok(());
        }
        if self.read_only {
            return Err(SwarmError::Job(format!(
                "the replay produced {} event(s) past the end of the finished run's log",
                fresh.len()
            )));
        }
        let (bytes, mark) =
            event_log::encode(&fresh, self.mark).map_err(|e| SwarmError::Job(format!("event log: {e}")))?;
        let log = self.log_path();
        append_synced(&log, &bytes).map_err(io(&log))?;
        self.mark = mark;
        self.write_checkpoint()?;
        let finished = fresh.iter().any(|e| matches!(e, SwarmEvent::Finished { .. }));
        if !finished && self.stop.as_ref().is_some_and(|f| f.load(Ordering::SeqCst)) {
            return Err(SwarmError::Stopped);
        }
        Ok(())
    }

    /// The events of the log (as opened, then as produced) up to now.
    pub fn events(&self) -> &[SwarmEvent] {
        &self.logged
    }
}

/// Read the events of a swarm run folder up to its checkpoint (read-only: no lock, no
/// truncation), for `analyze` and `inspect`.
pub fn read_events(dir: &Path) -> Result<Vec<SwarmEvent>, SwarmError> {
    let sc = scenario::load(&dir.join("scenario.toml"))?;
    Ok(read_record(dir, xxhash_rust::xxh3::xxh3_64(sc.text.as_bytes()))?.1)
}

/// The record of the run in `dir` whose scenario text hashes to `hash`: the log's mark
/// from `checkpoint.bin` and the verified events up to it (none when a kill came before
/// the first line). Reads only.
fn read_record(dir: &Path, hash: u64) -> Result<(LogMark, Vec<SwarmEvent>), SwarmError> {
    let path = dir.join("checkpoint.bin");
    let damaged = "restore the run folder from a backup, or start the run again";
    let bytes = crate::input::read_bytes(&path, crate::input::MAX_BINARY_BYTES)
        .map_err(|e| SwarmError::Input(InputError::file(&path, format!("cannot read the checkpoint: {e}"), damaged)))?;
    let body = unframe(&bytes, hash).map_err(|e| SwarmError::Input(InputError::file(&path, e.to_string(), damaged)))?;
    let cp: SwarmCheckpoint = rmp_serde::from_slice(body)
        .ok()
        .filter(|c: &SwarmCheckpoint| c.kind == KIND)
        .ok_or_else(|| SwarmError::Input(InputError::file(&path, "not a model-swarm checkpoint", damaged)))?;
    let mark = LogMark { len: cp.log_len, sum: cp.log_sum };
    let log = dir.join("events.jsonl");
    let logged = if mark.len == 0 && !log.exists() { Vec::new() } else { event_log::read(&log, mark)? };
    Ok((mark, logged))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> SwarmScenario {
        scenario::parse(Path::new("t.toml"), "kind = \"model-swarm\"\nname = \"t\"\nseed = 1\n").unwrap()
    }

    #[test]
    fn a_reopened_record_replays_its_log_and_refuses_a_different_event() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("r");
        let sc = tiny();
        let trained = |x: &str| SwarmEvent::Trained {
            seed: 0,
            model: "base".into(),
            file: "base.safetensors".into(),
            xxh3: x.into(),
        };
        {
            let mut rec = Record::create(&dir, &sc).unwrap();
            rec.log(vec![SwarmEvent::Started { seeds: sc.seeds }, trained("00000000000000aa")]).unwrap();
            // A second writer is refused while the record is held.
            assert!(matches!(Record::open(&dir), Err(SwarmError::Input(_))));
        }
        // A line written after the checkpoint (a step cut short) is undone on open.
        let log = dir.join("events.jsonl");
        let len = std::fs::metadata(&log).unwrap().len();
        append_synced(&log, b"{\"sum\":\"0000000000000000\",\"event\":\"finished\"}\n").unwrap();
        let (_, mut rec) = Record::open(&dir).unwrap();
        assert_eq!(std::fs::metadata(&log).unwrap().len(), len);
        assert_eq!(rec.trained(0, "base"), Some("00000000000000aa"));
        assert!(!rec.finished());
        rec.log(vec![SwarmEvent::Started { seeds: sc.seeds }]).unwrap();
        rec.log(vec![trained("00000000000000aa")]).unwrap();
        rec.log(vec![SwarmEvent::Finished { report_xxh3: "0".into() }]).unwrap();
        assert_eq!(read_events(&dir).unwrap().len(), 3);
        drop(rec);
        let (_, mut rec) = Record::open(&dir).unwrap();
        assert!(rec.finished());
        rec.log(vec![SwarmEvent::Started { seeds: sc.seeds }]).unwrap();
        assert!(rec.log(vec![trained("00000000000000bb")]).is_err(), "a diverging replay is an error");
    }
}
