//! A run folder: its files, written so that a run persisted after every tick (by the
//! driver, `crate::driver`) and killed at any instant resumes to exactly the same
//! outputs. This module reads and writes bytes; it never runs a simulation.
//!
//! Files: `genome-base.txt` (the folder the scenario's relative paths resolve from,
//! written first), `scenario.toml` (the scenario as given), `checkpoint.bin` (latest
//! state, with the event log's length and checksum and the genome base),
//! `events.jsonl` (one checksummed event per line, appended and fsynced each tick,
//! `store::event_log`), `metrics.csv`, `ancestry.dot`, `lessons.bin` (hall of fame and
//! operator credit for `inherit`), and `summary.txt`. Everything but the event log is
//! replaced atomically.
//!
//! The checkpoint and the event log are the record; every other file is derived from
//! them. `resume` verifies the log against the checkpoint, cuts off a tick interrupted
//! before its checkpoint, removes stale temporary files and rewrites `genome-base.txt`
//! and `metrics.csv` (and, once all ticks are done, `ancestry.dot`, `lessons.bin` and
//! `summary.txt`), so a kill at any instant resumes to the uninterrupted run's bytes.
//! Commands that write a run folder hold an exclusive lock on it for their lifetime.

use std::fs::{self, File, TryLockError};
use std::io;
use std::path::{Path, PathBuf};

use super::atomic::{append_synced, remove_stale_temps, truncate_synced, write_atomic};
use super::checkpoint::{self, FolderState, LessonsFile, OutputHashes, Snapshot, SnapshotError};
use super::event_log::{self, LogMark};
use crate::diagnostic::InputError;
use crate::scenario::{self, Scenario};
use crate::sim::SimError;
use crate::sim::events::Event;
use crate::sim::resources::MetricsRow;

/// File names inside a run folder.
pub mod files {
    /// Scenario copy.
    pub const SCENARIO: &str = "scenario.toml";
    /// The folder the scenario's genome file paths are relative to.
    pub const GENOME_BASE: &str = "genome-base.txt";
    /// Latest checkpoint.
    pub const CHECKPOINT: &str = "checkpoint.bin";
    /// Event log.
    pub const EVENTS: &str = "events.jsonl";
    /// Metrics table.
    pub const METRICS: &str = "metrics.csv";
    /// Ancestry graph.
    pub const ANCESTRY: &str = "ancestry.dot";
    /// Lessons for later runs.
    pub const LESSONS: &str = "lessons.bin";
    /// Final summary.
    pub const SUMMARY: &str = "summary.txt";
    /// The identities of the user's files the tasks read (only when some task reads any).
    pub const INPUTS: &str = "inputs.txt";
}

/// Failures while running: bad input (exit 2) or I/O and internal errors.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// Bad input.
    #[error(transparent)]
    Input(#[from] InputError),
    /// I/O failure (shown as `context: source` by the CLI, which prints error chains).
    #[error("{context}")]
    Io {
        /// What was being done.
        context: String,
        /// The error.
        source: io::Error,
    },
    /// Simulation setup failure.
    #[error(transparent)]
    Sim(#[from] SimError),
    /// The executor could not run a batch of episodes (after its retries); the tick
    /// was not persisted.
    #[error("the executor failed, so tick {tick} was not saved: {message}")]
    Executor {
        /// The tick that was being run.
        tick: u32,
        /// What failed.
        message: String,
    },
    /// The executor could not run the champion's report episodes; the summary was not
    /// written (resuming the finished run writes it).
    #[error("the executor failed while running the champion's report episodes, so summary.txt was not written: {0}")]
    ReportExecutor(String),
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// An exclusive lock on a run folder (`flock` on the folder itself), released when
/// dropped or when the process ends, however it ends.
#[derive(Debug)]
pub struct FolderLock(#[allow(dead_code)] File);

impl FolderLock {
    /// Take the lock on `dir`, or report that another command holds it (bad input).
    pub fn acquire(dir: &Path) -> Result<FolderLock, RunError> {
        let handle = File::open(dir).map_err(io_ctx(format!("opening {}", dir.display())))?;
        // A lock can outlive its holder by the instant a process it spawned takes to
        // exec (the child holds a copy of every descriptor until then): retry briefly
        // before calling the folder busy.
        let mut tries = 0;
        loop {
            match handle.try_lock() {
                Err(TryLockError::WouldBlock) if tries < LOCK_RETRIES => {
                    tries += 1;
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
                other => break FolderLock::from_attempt(dir, handle, other),
            }
        }
    }

    fn from_attempt(dir: &Path, handle: File, attempt: Result<(), TryLockError>) -> Result<FolderLock, RunError> {
        match attempt {
            Ok(()) => Ok(FolderLock(handle)),
            Err(TryLockError::WouldBlock) => Err(InputError::file(
                dir,
                "another outerloop command is writing to this run folder",
                "wait for it to finish (or stop it), then try again; nothing was changed",
            )
            .into()),
            Err(TryLockError::Error(e)) => Err(io_ctx(format!("locking {}", dir.display()))(e)),
        }
    }
}

/// How often a busy folder lock is retried, 20 ms apart.
const LOCK_RETRIES: u32 = 25;

/// A run folder held for one command: its lock (when writing), where its event log
/// ends, and the genome base it records. It reads and writes the folder's files; the
/// driver (`crate::driver`) decides what goes in them.
pub struct RunFolder {
    dir: PathBuf,
    log: LogMark,
    genome_base: String,
    _lock: Option<FolderLock>,
}

/// A run folder as [`RunFolder::open`] found it.
pub enum Opened {
    /// Killed before its first checkpoint: the run starts over in place (the folder is
    /// locked; [`RunFolder::restart`] clears it).
    Unstarted {
        /// The folder.
        folder: RunFolder,
        /// Its scenario.
        scenario: Scenario,
    },
    /// At its latest checkpoint.
    Checkpointed {
        /// The folder.
        folder: RunFolder,
        /// Its scenario.
        scenario: Scenario,
        /// The checkpoint.
        snapshot: Box<Snapshot>,
        /// The event log up to the checkpoint, verified against it.
        events: Vec<Event>,
    },
}

impl RunFolder {
    /// Refuse `dir` if it already holds a run, saying whether it is a run of `scenario`
    /// (resume it) or of another one (choose another folder), so nothing written earlier
    /// is overwritten.
    pub fn refuse_existing(dir: &Path, scenario: &Scenario) -> Result<(), RunError> {
        let holds_run = dir.join(files::CHECKPOINT).exists() || dir.join(files::EVENTS).exists();
        if !holds_run {
            return Ok(());
        }
        let same = crate::input::read_bytes(&dir.join(files::SCENARIO), crate::input::MAX_TEXT_BYTES)
            .is_ok_and(|t| t == scenario.text.as_bytes());
        let (message, hint) = if same {
            (
                "this folder already holds a run of this scenario",
                format!(
                    "resume it with `outerloop resume {}`, replace it with --force, or choose another folder with --out",
                    dir.display()
                ),
            )
        } else {
            (
                "this folder holds a run of another scenario",
                "choose another folder with --out, or replace that run with --force (its files are deleted)"
                    .to_string(),
            )
        };
        Err(InputError::file(dir, message, hint).into())
    }

    /// Create the folder of a new run of `scenario` in `dir` and lock it: refused when
    /// it holds a run (checked again under the lock); writes `genome-base.txt`, then
    /// `scenario.toml`.
    pub fn create(dir: &Path, scenario: &Scenario) -> Result<RunFolder, RunError> {
        RunFolder::refuse_existing(dir, scenario)?;
        crate::input::output_dir(dir)?;
        let lock = FolderLock::acquire(dir)?;
        RunFolder::refuse_existing(dir, scenario)?;
        let mut folder = RunFolder {
            dir: dir.to_path_buf(),
            log: LogMark::default(),
            genome_base: relative_base(dir, &scenario.base_dir),
            _lock: Some(lock),
        };
        folder.restart(scenario)?;
        Ok(folder)
    }

    /// Clear a folder for a run starting over in place: stale temporary files and any
    /// event log go, then `genome-base.txt` (first: a folder with `scenario.toml` always
    /// has it) and `scenario.toml` are written.
    pub fn restart(&mut self, scenario: &Scenario) -> Result<(), RunError> {
        remove_stale_temps(&self.dir).map_err(io_ctx("removing stale temporary files"))?;
        let events = self.dir.join(files::EVENTS);
        if events.exists() {
            fs::remove_file(&events).map_err(io_ctx("removing events.jsonl"))?;
        }
        self.log = LogMark::default();
        write_output(&self.dir, files::GENOME_BASE, self.genome_base.as_bytes())?;
        match inputs_record(scenario) {
            Some(record) => write_output(&self.dir, files::INPUTS, record.as_bytes())?,
            None if self.dir.join(files::INPUTS).exists() => {
                fs::remove_file(self.dir.join(files::INPUTS)).map_err(io_ctx("removing inputs.txt"))?;
            }
            None => {}
        }
        write_output(&self.dir, files::SCENARIO, scenario.text.as_bytes())
    }

    /// Open a run folder at its latest checkpoint, changing no file. With `lock` the
    /// folder is locked for this command (to continue the run); without, it is read as
    /// it is, and `genome-base.txt` must agree with the checkpoint.
    pub fn open(dir: &Path, lock: bool) -> Result<Opened, RunError> {
        let scenario_path = dir.join(files::SCENARIO);
        if !scenario_path.is_file() {
            return Err(InputError::file(
                dir,
                "not a run folder (no scenario.toml)",
                "pass the folder a `run` wrote, e.g. populations/quickstart",
            )
            .into());
        }
        if crate::input::read_text(&scenario_path).is_ok_and(|text| scenario::declares_kind(&text)) {
            return Err(InputError::file(
                dir,
                "this is a model-swarm run folder; this command reads outer-loop runs",
                "`outerloop resume DIR` continues a swarm run and `outerloop analyze DIR` renders its report",
            )
            .into());
        }
        let lock = if lock { Some(FolderLock::acquire(dir)?) } else { None };
        let checkpoint = dir.join(files::CHECKPOINT);
        let base_path = dir.join(files::GENOME_BASE);
        if !checkpoint.exists() {
            if lock.is_none() {
                return Err(InputError::file(
                    dir,
                    "the run has no checkpoint yet",
                    "resume it first with `outerloop resume`",
                )
                .into());
            }
            let base = read_genome_base(&base_path)?;
            let scenario = scenario::load_in(&scenario_path, &resolve_base(dir, &base))?;
            let folder = RunFolder {
                dir: dir.to_path_buf(),
                log: LogMark::default(),
                genome_base: relative_base(dir, &scenario.base_dir),
                _lock: lock,
            };
            return Ok(Opened::Unstarted { folder, scenario });
        }
        let text = crate::input::read_text(&scenario_path)?;
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let snapshot = match checkpoint::load(&checkpoint, hash) {
            Ok(snap) => snap,
            Err(e @ SnapshotError::Scenario { .. }) => {
                // An edited scenario copy: its own errors first, they say more.
                let base = read_genome_base(&base_path).unwrap_or_else(|_| ".".to_string());
                scenario::parse_in(&scenario_path, &text, &resolve_base(dir, &base))?;
                return Err(checkpoint_error(&checkpoint, e));
            }
            Err(e) => return Err(checkpoint_error(&checkpoint, e)),
        };
        let FolderState { events_len, events_sum, genome_base, .. } = snapshot.folder.clone();
        let scenario = scenario::parse_in(&scenario_path, &text, &resolve_base(dir, &genome_base))?;
        let log = LogMark { len: events_len, sum: events_sum };
        let events = event_log::read(&dir.join(files::EVENTS), log)?;
        if lock.is_none() {
            let found = read_genome_base(&base_path)?;
            if found != genome_base {
                return Err(InputError::file(
                    &base_path,
                    format!("says `{found}`, but the checkpoint recorded `{genome_base}`"),
                    "`outerloop resume` rewrites it from the checkpoint",
                )
                .into());
            }
            verify_derived(dir, &snapshot)?;
        }
        if lock.is_some() {
            check_inputs(dir, &scenario)?;
        }
        let folder = RunFolder { dir: dir.to_path_buf(), log, genome_base, _lock: lock };
        Ok(Opened::Checkpointed { folder, scenario, snapshot: Box::new(snapshot), events })
    }

    /// Bring a folder opened to continue back to its checkpoint: the events of a tick
    /// interrupted before its checkpoint are cut off (the tick runs again and writes them
    /// anew), stale temporary files removed, `genome-base.txt` and `metrics.csv`
    /// rewritten.
    pub fn rewind(&mut self, metrics: &[MetricsRow]) -> Result<(), RunError> {
        let events_path = self.dir.join(files::EVENTS);
        if fs::metadata(&events_path).map(|m| m.len()).unwrap_or(0) > self.log.len {
            truncate_synced(&events_path, self.log.len).map_err(io_ctx("truncating events.jsonl"))?;
        }
        remove_stale_temps(&self.dir).map_err(io_ctx("removing stale temporary files"))?;
        write_output(&self.dir, files::GENOME_BASE, self.genome_base.as_bytes())?;
        self.write_metrics(metrics)
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the checkpoint records about the folder (the log's length and checksum, the
    /// genome base).
    pub fn state(&self) -> FolderState {
        FolderState {
            events_len: self.log.len,
            events_sum: self.log.sum,
            genome_base: self.genome_base.clone(),
            outputs: None,
        }
    }

    /// The event log up to the last append, verified.
    pub fn events(&self) -> Result<Vec<Event>, RunError> {
        Ok(event_log::read(&self.dir.join(files::EVENTS), self.log)?)
    }

    /// Append events to the log (fsynced).
    pub fn append_events(&mut self, events: &[Event]) -> Result<(), RunError> {
        let (bytes, next) = event_log::encode(events, self.log)
            .map_err(|e| RunError::Io { context: "encoding an event".into(), source: e.into() })?;
        append_synced(&self.dir.join(files::EVENTS), &bytes).map_err(io_ctx("appending to events.jsonl"))?;
        self.log = next;
        Ok(())
    }

    /// Replace the checkpoint (it records `scenario_hash`).
    pub fn save_checkpoint(&self, snap: &Snapshot, scenario_hash: u64) -> Result<(), RunError> {
        let path = self.dir.join(files::CHECKPOINT);
        refuse_folder(&path)?;
        checkpoint::save(&path, snap, scenario_hash).map_err(io_ctx("writing checkpoint.bin"))
    }

    /// Replace `metrics.csv`.
    pub fn write_metrics(&self, rows: &[MetricsRow]) -> Result<(), RunError> {
        write_output(&self.dir, files::METRICS, metrics_csv(rows).as_bytes())
    }

    /// Replace the derived file `name` (ancestry, lessons, summary).
    pub fn write_output(&self, name: &str, bytes: &[u8]) -> Result<(), RunError> {
        write_output(&self.dir, name, bytes)
    }

    /// Record in the checkpoint the hashes of the outputs written at the end of the run
    /// (the rest of the checkpoint is kept as it is), so read-only commands can verify
    /// them. Written after the outputs: a kill in between leaves a finished run whose
    /// outputs are unrecorded, which `resume` writes and records again.
    pub fn record_outputs(&self, outputs: OutputHashes, scenario_hash: u64) -> Result<(), RunError> {
        let path = self.dir.join(files::CHECKPOINT);
        let mut snapshot = checkpoint::load(&path, scenario_hash).map_err(|e| checkpoint_error(&path, e))?;
        if snapshot.folder.outputs == Some(outputs) {
            return Ok(());
        }
        snapshot.folder.outputs = Some(outputs);
        self.save_checkpoint(&snapshot, scenario_hash)
    }
}

/// The hash a run records for an output file's bytes.
pub fn output_hash(bytes: &[u8]) -> u64 {
    xxhash_rust::xxh3::xxh3_64(bytes)
}

/// Check the derived files of a folder opened read-only against its record: `metrics.csv`
/// must be the checkpoint's metrics, and a finished run's `ancestry.dot`, `lessons.bin`
/// and `summary.txt` must have the hashes its checkpoint recorded. Skipped while another
/// command writes the folder: a writer replaces the checkpoint before `metrics.csv`, so
/// for an instant they disagree without damage.
fn verify_derived(dir: &Path, snapshot: &Snapshot) -> Result<(), RunError> {
    if being_written(dir) {
        return Ok(());
    }
    let hint =
        format!("`outerloop resume {}` rewrites it from the record (the checkpoint and event log)", dir.display());
    let check = |name: &str, matches: &dyn Fn(&[u8]) -> bool| -> Result<(), RunError> {
        let path = dir.join(name);
        match crate::input::read_bytes(&path, crate::input::MAX_BINARY_BYTES) {
            Ok(bytes) if matches(&bytes) => Ok(()),
            Ok(_) => {
                Err(InputError::file(&path, "does not match the run's record: the file was changed or damaged", &hint)
                    .into())
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                Err(InputError::file(&path, "is missing from the run folder", &hint).into())
            }
            Err(e) => Err(InputError::file(&path, format!("cannot be read: {e}"), &hint).into()),
        }
    };
    let metrics = metrics_csv(&snapshot.metrics);
    check(files::METRICS, &|bytes| bytes == metrics.as_bytes())?;
    if let Some(recorded) = snapshot.folder.outputs {
        check(files::ANCESTRY, &|bytes| output_hash(bytes) == recorded.ancestry)?;
        check(files::LESSONS, &|bytes| output_hash(bytes) == recorded.lessons)?;
        check(files::SUMMARY, &|bytes| output_hash(bytes) == recorded.summary)?;
    }
    Ok(())
}

/// Whether another command holds the folder's lock (is writing it) right now.
fn being_written(dir: &Path) -> bool {
    File::open(dir).is_ok_and(|handle| matches!(handle.try_lock_shared(), Err(TryLockError::WouldBlock)))
}

/// Delete the run in `dir` (what `run --force` does before starting): every file a run
/// writes, its batch folder and stale temporary files, under the folder's lock; other
/// files (an `analysis/` report, notes) are kept. A folder that does not exist is fine.
pub fn remove_run(dir: &Path) -> Result<(), RunError> {
    if !dir.exists() {
        return Ok(());
    }
    if !dir.is_dir() {
        return Err(
            InputError::file(dir, "is a file, not a folder", "choose a folder for the output (--out DIR)").into()
        );
    }
    let _lock = FolderLock::acquire(dir)?;
    let names = [
        files::SCENARIO,
        files::GENOME_BASE,
        files::CHECKPOINT,
        files::EVENTS,
        files::METRICS,
        files::ANCESTRY,
        files::LESSONS,
        files::SUMMARY,
    ];
    for name in names {
        let path = dir.join(name);
        match fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => fs::remove_dir_all(&path),
            Ok(_) => fs::remove_file(&path),
            Err(_) => continue,
        }
        .map_err(io_ctx(format!("removing {name}")))?;
    }
    let batches = dir.join("batches");
    if batches.is_dir() {
        fs::remove_dir_all(&batches).map_err(io_ctx("removing batches"))?;
    }
    remove_stale_temps(dir).map_err(io_ctx("removing stale temporary files"))
}

/// Replace `dir/name` atomically; a folder in its place is bad input, not an I/O failure.
fn write_output(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), RunError> {
    let path = dir.join(name);
    refuse_folder(&path)?;
    write_atomic(&path, bytes).map_err(io_ctx(format!("writing {name}")))
}

fn refuse_folder(path: &Path) -> Result<(), RunError> {
    if fs::symlink_metadata(path).is_ok_and(|m| m.is_dir()) {
        return Err(InputError::file(
            path,
            "is a folder, but the run keeps a file here",
            "remove or rename that folder; `outerloop resume` rewrites the file from the checkpoint",
        )
        .into());
    }
    Ok(())
}

/// The scenario's base folder as `genome-base.txt` and the checkpoint record it: relative
/// to the run folder (so no absolute path is stored, and a run folder moved together
/// with its scenarios, or resumed from another working directory, still finds them).
fn relative_base(dir: &Path, base: &Path) -> String {
    let canonical = |p: &Path| fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let (dir, base) = (canonical(dir), canonical(base));
    let rel = pathdiff::diff_paths(&base, &dir).unwrap_or(base);
    let text = rel.to_string_lossy().into_owned();
    if text.is_empty() { ".".to_string() } else { text }
}

/// The folder a recorded base names: relative to the run folder (an absolute path, as
/// written by older builds, as it is).
fn resolve_base(dir: &Path, recorded: &str) -> PathBuf {
    let p = Path::new(recorded);
    if p.is_absolute() { p.to_path_buf() } else { dir.join(p) }
}

/// The base folder `genome-base.txt` names.
fn read_genome_base(path: &Path) -> Result<String, RunError> {
    let hint = "the run folder was damaged; restore genome-base.txt (the folder the scenario was loaded from)";
    if !path.is_file() {
        return Err(InputError::file(path, "missing or not a file", hint).into());
    }
    Ok(crate::input::read_text(path)?.trim().to_string())
}

/// One line per task that reads the user's files, `<task>\t<identity>`, or `None` when
/// no task does (the folder then has no `inputs.txt`).
fn inputs_record(scenario: &Scenario) -> Option<String> {
    let held_out = scenario.held_out.iter().flat_map(|set| set.tasks.iter());
    let mut lines = String::new();
    let mut seen = Vec::new();
    for task in scenario.tasks.iter().chain(held_out) {
        if seen.contains(&task) {
            continue;
        }
        seen.push(task);
        // Every task was checked by the scenario loader; one that no longer loads is
        // reported when the run reaches it.
        let identity = crate::objective::registry::objective_by_name(task).ok().and_then(|o| o.input_identity());
        if let Some(identity) = identity {
            lines.push_str(&format!("{task}\t{identity:016x}\n"));
        }
    }
    (!lines.is_empty()).then_some(lines)
}

/// Continuing a run on changed inputs would silently mix two problems: refuse it.
fn check_inputs(dir: &Path, scenario: &Scenario) -> Result<(), RunError> {
    let path = dir.join(files::INPUTS);
    let recorded = match crate::input::read_text(&path) {
        Ok(text) => Some(text),
        Err(InputError::File { .. }) if !path.exists() => None,
        Err(e) => return Err(e.into()),
    };
    let now = inputs_record(scenario);
    if recorded == now {
        return Ok(());
    }
    let lines = |t: &Option<String>| t.as_deref().unwrap_or("").lines().map(str::to_string).collect::<Vec<_>>();
    let (was, is) = (lines(&recorded), lines(&now));
    let changed: Vec<String> = is
        .iter()
        .filter(|l| !was.contains(l))
        .chain(was.iter().filter(|l| !is.contains(l)))
        .filter_map(|l| l.split('\t').next().map(str::to_string))
        .fold(Vec::new(), |mut acc, t| {
            if !acc.contains(&t) {
                acc.push(t);
            }
            acc
        });
    Err(InputError::file(
        &path,
        format!("the files behind {} changed since the run started (their identity differs)", changed.join(", ")),
        "restore the spec, program and data files as they were, or start a new run (`outerloop run ... --force`)",
    )
    .into())
}

fn checkpoint_error(path: &Path, e: SnapshotError) -> RunError {
    let hint = match &e {
        SnapshotError::Scenario { .. } => {
            "scenario.toml in the run folder was edited after the run started; restore it or start a new run"
        }
        SnapshotError::Version { .. } => "resume it with the outerloop version that wrote it, or start a new run",
        _ => "the checkpoint is damaged; start the run again with `outerloop run SCENARIO --out DIR --force`",
    };
    InputError::file(path, e.to_string(), hint).into()
}

/// Read a run's lessons (for `inherit`).
pub fn read_lessons(dir: &Path) -> Result<LessonsFile, RunError> {
    let path = dir.join(files::LESSONS);
    let bytes = crate::input::read_bytes(&path, crate::input::MAX_BINARY_BYTES).map_err(|e| {
        InputError::file(
            &path,
            format!("cannot read the inherited run's lessons: {e}"),
            "inherit names a finished run folder, e.g. populations/quickstart",
        )
    })?;
    Ok(decode_lessons(&path, &bytes)?)
}

/// What the lessons file's frame records in place of a scenario hash: lessons are
/// inherited across scenarios, so the frame names the kind of file instead.
pub const LESSONS_TAG: u64 = u64::from_le_bytes(*b"lessons\0");

/// The bytes of `lessons.bin`: the lessons in the checkpoint's frame (magic, version,
/// length, body hash), so damage is detected before anything is inherited.
pub fn encode_lessons(lessons: &LessonsFile) -> Vec<u8> {
    let body = rmp_serde::to_vec_named(lessons).unwrap_or_default();
    checkpoint::frame(&body, LESSONS_TAG)
}

/// Decode and check a lessons file read from `path` (named in messages): its frame (a
/// damaged file fails its hash), its format version and every stored genome.
pub fn decode_lessons(path: &Path, bytes: &[u8]) -> Result<LessonsFile, InputError> {
    let body = checkpoint::unframe(bytes, LESSONS_TAG).map_err(|e| {
        let hint = match e {
            SnapshotError::NotACheckpoint => {
                "inherit names a finished run folder; one finished by an older build gets a checked lessons.bin from `outerloop resume DIR`"
            }
            _ => "the lessons file is damaged: inherit names a finished run folder, and `outerloop resume DIR` on that run rewrites it",
        };
        InputError::file(path, format!("not a lessons file ({e})"), hint)
    })?;
    let lessons: LessonsFile = rmp_serde::from_slice(body).map_err(|e| {
        InputError::file(path, format!("not a lessons file ({e})"), "inherit names a finished run folder")
    })?;
    if lessons.version != checkpoint::FORMAT_VERSION {
        return Err(InputError::file(
            path,
            format!("lessons format version {} is not {}", lessons.version, checkpoint::FORMAT_VERSION),
            "inherit from a run made by this version",
        ));
    }
    for entry in &lessons.hall_of_fame {
        if let Err(diags) = crate::genome::load(&entry.genome, &crate::genome::Limits::default()) {
            let first = diags.first().map(|d| d.message.as_str()).unwrap_or("invalid genome");
            return Err(InputError::file(
                path,
                format!("hall-of-fame mechanism #{} has an invalid genome: {first}", entry.id),
                "the lessons file was edited or damaged; inherit from another finished run",
            ));
        }
    }
    Ok(lessons)
}

/// The metrics table as CSV.
pub fn metrics_csv(rows: &[MetricsRow]) -> String {
    let mut s = String::from(
        "tick,population,best_verified,best_claimed,median_fitness,evaluated,verified,verifier_gap,debate_precision,debate_extra,compute\n",
    );
    for r in rows {
        s.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            r.tick,
            r.population,
            r.best_verified,
            r.best_claimed,
            r.median_fitness,
            r.evaluated,
            r.verified,
            r.verifier_gap,
            r.debate_precision,
            r.debate_extra,
            r.compute
        ));
    }
    s
}
