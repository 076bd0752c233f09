//! A run folder and the loop that drives a simulation tick by tick, persisting after
//! every tick so that a killed run resumes to exactly the same outputs.
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
use super::event_log::{self, LogMark};
use super::snapshot::{self, FolderState, LessonsFile, SnapshotError};
use crate::ancestry::Ancestry;
use crate::diagnostic::InputError;
use crate::scenario::{self, Scenario};
use crate::sim::events::Event;
use crate::sim::resources::MetricsRow;
use crate::sim::{SimError, Simulation};

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

/// A simulation bound to its folder.
pub struct Run {
    dir: PathBuf,
    scenario: Scenario,
    sim: Simulation,
    log: LogMark,
    genome_base: String,
    /// The verified events up to the checkpoint, kept when opened read-only.
    events: Option<Vec<Event>>,
    _lock: Option<FolderLock>,
}

impl Run {
    /// Start a new run in `out` (or the scenario's folder). Refuses a folder that
    /// already holds a run, so nothing written earlier is overwritten.
    pub fn start(scenario: Scenario, out: Option<PathBuf>) -> Result<Run, RunError> {
        let dir = out.unwrap_or_else(|| scenario.out.clone());
        let holds_run = |dir: &Path| dir.join(files::CHECKPOINT).exists() || dir.join(files::EVENTS).exists();
        let refuse = |dir: &Path| -> RunError {
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
            InputError::file(dir, message, hint).into()
        };
        if holds_run(&dir) {
            return Err(refuse(&dir));
        }
        // Everything that can fail on bad input (the inherited lessons, the simulation's
        // setup) fails before the folder is touched.
        let sim = Run::new_simulation(&scenario)?;
        crate::input::output_dir(&dir)?;
        let lock = FolderLock::acquire(&dir)?;
        if holds_run(&dir) {
            return Err(refuse(&dir));
        }
        Run::start_locked(scenario, sim, dir, lock)
    }

    fn new_simulation(scenario: &Scenario) -> Result<Simulation, RunError> {
        let inherited = match &scenario.inherit {
            Some(p) => Some(read_lessons(p)?),
            None => None,
        };
        Ok(Simulation::new(scenario, inherited.as_ref())?)
    }

    fn start_locked(scenario: Scenario, mut sim: Simulation, dir: PathBuf, lock: FolderLock) -> Result<Run, RunError> {
        remove_stale_temps(&dir).map_err(io_ctx("removing stale temporary files"))?;
        let genome_base = relative_base(&dir, &scenario.base_dir);
        // genome-base.txt first: a folder with scenario.toml always has it.
        write_output(&dir, files::GENOME_BASE, genome_base.as_bytes())?;
        write_output(&dir, files::SCENARIO, scenario.text.as_bytes())?;
        if let Some(message) = crate::exec::take_failure() {
            return Err(RunError::Executor { tick: 0, message });
        }
        let seeding = sim.drain_events();
        let mut run = Run { dir, scenario, sim, log: LogMark::default(), genome_base, events: None, _lock: Some(lock) };
        run.append_events(&seeding)?;
        run.persist()?;
        Ok(run)
    }

    /// Reopen a run folder at its latest checkpoint, to continue it: verifies the log,
    /// cuts off an interrupted tick, removes stale temporary files and rewrites the
    /// derived files. Holds the folder's lock until the `Run` is dropped.
    pub fn resume(dir: &Path) -> Result<Run, RunError> {
        Run::open(dir, true)
    }

    /// Open a run folder at its latest checkpoint without changing any file (the event
    /// log and `genome-base.txt` are verified against the checkpoint).
    pub fn inspect(dir: &Path) -> Result<Run, RunError> {
        Run::open(dir, false)
    }

    fn open(dir: &Path, resuming: bool) -> Result<Run, RunError> {
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
        let lock = if resuming { Some(FolderLock::acquire(dir)?) } else { None };
        let checkpoint = dir.join(files::CHECKPOINT);
        let base_path = dir.join(files::GENOME_BASE);
        if !checkpoint.exists() {
            let Some(lock) = lock else {
                return Err(InputError::file(
                    dir,
                    "the run has no checkpoint yet",
                    "resume it first with `outerloop resume`",
                )
                .into());
            };
            // Killed before the first checkpoint: start over in place.
            let base = read_genome_base(&base_path)?;
            let scenario = scenario::load_in(&scenario_path, &resolve_base(dir, &base))?;
            let sim = Run::new_simulation(&scenario)?;
            if dir.join(files::EVENTS).exists() {
                fs::remove_file(dir.join(files::EVENTS)).map_err(io_ctx("removing events.jsonl"))?;
            }
            return Run::start_locked(scenario, sim, dir.to_path_buf(), lock);
        }
        let text = crate::input::read_text(&scenario_path)?;
        let hash = xxhash_rust::xxh3::xxh3_64(text.as_bytes());
        let snap = match snapshot::load(&checkpoint, hash) {
            Ok(snap) => snap,
            Err(e @ SnapshotError::Scenario { .. }) => {
                // An edited scenario copy: its own errors first, they say more.
                let base = read_genome_base(&base_path).unwrap_or_else(|_| ".".to_string());
                scenario::parse_in(&scenario_path, &text, &resolve_base(dir, &base))?;
                return Err(checkpoint_error(&checkpoint, e));
            }
            Err(e) => return Err(checkpoint_error(&checkpoint, e)),
        };
        let FolderState { events_len, events_sum, genome_base } = snap.folder.clone();
        let scenario = scenario::parse_in(&scenario_path, &text, &resolve_base(dir, &genome_base))?;
        let log = LogMark { len: events_len, sum: events_sum };
        let events_path = dir.join(files::EVENTS);
        let events = event_log::read(&events_path, log)?;
        let sim = Simulation::restore(&scenario, &snap)?;
        let mut run = Run { dir: dir.to_path_buf(), scenario, sim, log, genome_base, events: None, _lock: lock };
        if resuming {
            // Events of a tick interrupted before its checkpoint are dropped; the tick
            // runs again and writes them anew.
            if fs::metadata(&events_path).map(|m| m.len()).unwrap_or(0) > log.len {
                truncate_synced(&events_path, log.len).map_err(io_ctx("truncating events.jsonl"))?;
            }
            remove_stale_temps(dir).map_err(io_ctx("removing stale temporary files"))?;
            write_output(dir, files::GENOME_BASE, run.genome_base.as_bytes())?;
            write_output(dir, files::METRICS, metrics_csv(run.sim.metrics()).as_bytes())?;
        } else {
            let found = read_genome_base(&base_path)?;
            if found != run.genome_base {
                return Err(InputError::file(
                    &base_path,
                    format!("says `{found}`, but the checkpoint recorded `{}`", run.genome_base),
                    "`outerloop resume` rewrites it from the checkpoint",
                )
                .into());
            }
            run.events = Some(events);
        }
        Ok(run)
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The scenario.
    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The simulation.
    pub fn sim(&mut self) -> &mut Simulation {
        &mut self.sim
    }

    /// The events up to the checkpoint, verified against it (read from the log when the
    /// run was not opened with [`Run::inspect`]).
    pub fn events(&self) -> Result<Vec<Event>, RunError> {
        match &self.events {
            Some(events) => Ok(events.clone()),
            None => Ok(event_log::read(&self.dir.join(files::EVENTS), self.log)?),
        }
    }

    /// Whether all ticks are done.
    pub fn finished(&self) -> bool {
        self.sim.ticks_done() >= self.scenario.ticks
    }

    /// Run one tick and persist it. Returns the tick's metrics row.
    pub fn step(&mut self) -> Result<Option<MetricsRow>, RunError> {
        let tick = self.sim.ticks_done();
        self.sim.tick();
        if let Some(message) = crate::exec::take_failure() {
            return Err(RunError::Executor { tick, message });
        }
        let events = self.sim.drain_events();
        self.append_events(&events)?;
        self.persist()?;
        Ok(self.sim.metrics().last().cloned())
    }

    /// Write the derived outputs (ancestry, lessons, summary) once all ticks are done.
    pub fn finish(&mut self) -> Result<String, RunError> {
        let events = self.events()?;
        let ancestry = Ancestry::from_events(&events);
        write_output(&self.dir, files::ANCESTRY, ancestry.to_dot().as_bytes())?;
        let lessons = rmp_serde::to_vec_named(&self.sim.lessons()).unwrap_or_default();
        write_output(&self.dir, files::LESSONS, &lessons)?;
        let summary = crate::store::summary::summary(&mut self.sim, &self.scenario, &ancestry);
        write_output(&self.dir, files::SUMMARY, summary.as_bytes())?;
        Ok(summary)
    }

    fn append_events(&mut self, events: &[Event]) -> Result<(), RunError> {
        let (bytes, next) = event_log::encode(events, self.log)
            .map_err(|e| RunError::Io { context: "encoding an event".into(), source: e.into() })?;
        append_synced(&self.dir.join(files::EVENTS), &bytes).map_err(io_ctx("appending to events.jsonl"))?;
        self.log = next;
        Ok(())
    }

    fn persist(&mut self) -> Result<(), RunError> {
        let folder =
            FolderState { events_len: self.log.len, events_sum: self.log.sum, genome_base: self.genome_base.clone() };
        let snap = self.sim.snapshot(folder);
        let path = self.dir.join(files::CHECKPOINT);
        refuse_folder(&path)?;
        snapshot::save(&path, &snap, self.scenario.hash).map_err(io_ctx("writing checkpoint.bin"))?;
        write_output(&self.dir, files::METRICS, metrics_csv(self.sim.metrics()).as_bytes())
    }
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

/// Decode and check a lessons file read from `path` (named in messages): its format
/// version and every stored genome.
pub fn decode_lessons(path: &Path, bytes: &[u8]) -> Result<LessonsFile, InputError> {
    let lessons: LessonsFile = rmp_serde::from_slice(bytes).map_err(|e| {
        InputError::file(path, format!("not a lessons file ({e})"), "inherit names a finished run folder")
    })?;
    if lessons.version != snapshot::FORMAT_VERSION {
        return Err(InputError::file(
            path,
            format!("lessons format version {} is not {}", lessons.version, snapshot::FORMAT_VERSION),
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
