//! A run folder and the loop that drives a simulation tick by tick, persisting after
//! every tick so that a killed run resumes to exactly the same outputs.
//!
//! Files: `scenario.toml` (the scenario as given), `checkpoint.bin` (latest state),
//! `events.jsonl` (one event per line, appended and fsynced each tick), `metrics.csv`,
//! `ancestry.dot`, `lessons.bin` (hall of fame and operator credit for `inherit`), and
//! `summary.txt`. Everything but the event log is replaced atomically; the event log is
//! truncated back to the checkpoint's length on resume.

use std::fs::{self, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::atomic::write_atomic;
use super::snapshot::{self, LessonsFile, SnapshotError};
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
}

fn io_ctx(context: impl Into<String>) -> impl FnOnce(io::Error) -> RunError {
    let context = context.into();
    move |source| RunError::Io { context, source }
}

/// A simulation bound to its folder.
pub struct Run {
    dir: PathBuf,
    scenario: Scenario,
    sim: Simulation,
    events_len: u64,
}

impl Run {
    /// Start a new run in `out` (or the scenario's folder). Refuses a folder that
    /// already holds a run, so nothing written earlier is overwritten.
    pub fn start(scenario: Scenario, out: Option<PathBuf>) -> Result<Run, RunError> {
        let dir = out.unwrap_or_else(|| scenario.out.clone());
        if dir.join(files::CHECKPOINT).exists() || dir.join(files::EVENTS).exists() {
            return Err(InputError::file(
                &dir,
                "this folder already holds a run",
                format!("resume it with `outerloop resume {}`, or choose another folder with --out", dir.display()),
            )
            .into());
        }
        let inherited = match &scenario.inherit {
            Some(p) => Some(read_lessons(p)?),
            None => None,
        };
        let mut sim = Simulation::new(&scenario, inherited.as_ref())?;
        crate::input::output_dir(&dir)?;
        write_atomic(&dir.join(files::SCENARIO), scenario.text.as_bytes()).map_err(io_ctx("writing scenario.toml"))?;
        let base = fs::canonicalize(&scenario.base_dir).unwrap_or_else(|_| scenario.base_dir.clone());
        write_atomic(&dir.join(files::GENOME_BASE), base.to_string_lossy().as_bytes())
            .map_err(io_ctx("writing genome-base.txt"))?;
        let seeding = sim.drain_events();
        let mut run = Run { dir, scenario, sim, events_len: 0 };
        run.append_events(&seeding)?;
        run.persist()?;
        Ok(run)
    }

    /// Reopen a run folder at its latest checkpoint, to continue it.
    pub fn resume(dir: &Path) -> Result<Run, RunError> {
        Run::open(dir, true)
    }

    /// Open a run folder at its latest checkpoint without changing any file.
    pub fn inspect(dir: &Path) -> Result<Run, RunError> {
        Run::open(dir, false)
    }

    fn open(dir: &Path, resuming: bool) -> Result<Run, RunError> {
        let scenario_path = dir.join(files::SCENARIO);
        if !scenario_path.exists() {
            return Err(InputError::file(
                dir,
                "not a run folder (no scenario.toml)",
                "pass the folder a `run` wrote, e.g. populations/quickstart",
            )
            .into());
        }
        let scenario = match fs::read_to_string(dir.join(files::GENOME_BASE)) {
            Ok(base) => scenario::load_in(&scenario_path, Path::new(base.trim()))?,
            Err(_) => scenario::load(&scenario_path)?,
        };
        let checkpoint = dir.join(files::CHECKPOINT);
        if !checkpoint.exists() && !resuming {
            return Err(InputError::file(
                dir,
                "the run has no checkpoint yet",
                "resume it first with `outerloop resume`",
            )
            .into());
        }
        if !checkpoint.exists() {
            // Killed before the first checkpoint: start over in place.
            let _ = fs::remove_file(dir.join(files::EVENTS));
            return Run::start(scenario, Some(dir.to_path_buf()));
        }
        let snap = snapshot::load(&checkpoint, scenario.hash).map_err(|e| checkpoint_error(&checkpoint, e))?;
        let events = dir.join(files::EVENTS);
        let on_disk = match fs::metadata(&events) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(InputError::file(
                    &events,
                    "the event log is missing",
                    "the run folder was damaged; start the run again",
                )
                .into());
            }
            Err(e) => return Err(io_ctx("reading events.jsonl")(e)),
        };
        if on_disk < snap.events_len {
            return Err(InputError::file(
                &events,
                format!("the event log has {on_disk} bytes but the checkpoint recorded {}", snap.events_len),
                "the run folder was damaged; start the run again",
            )
            .into());
        }
        if resuming {
            // Events of a tick that was interrupted before its checkpoint are dropped;
            // the tick runs again and writes them anew.
            let file = OpenOptions::new().write(true).open(&events).map_err(io_ctx("opening events.jsonl"))?;
            file.set_len(snap.events_len).map_err(io_ctx("truncating events.jsonl"))?;
            file.sync_all().map_err(io_ctx("syncing events.jsonl"))?;
        }
        let sim = Simulation::restore(&scenario, &snap)?;
        Ok(Run { dir: dir.to_path_buf(), scenario, sim, events_len: snap.events_len })
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

    /// Whether all ticks are done.
    pub fn finished(&self) -> bool {
        self.sim.ticks_done() >= self.scenario.ticks
    }

    /// Run one tick and persist it. Returns the tick's metrics row.
    pub fn step(&mut self) -> Result<Option<MetricsRow>, RunError> {
        self.sim.tick();
        let events = self.sim.drain_events();
        self.append_events(&events)?;
        self.persist()?;
        Ok(self.sim.metrics().last().cloned())
    }

    /// Write the derived outputs (ancestry, lessons, summary) once all ticks are done.
    pub fn finish(&mut self) -> Result<String, RunError> {
        let events = read_events(&self.dir.join(files::EVENTS))?;
        let ancestry = Ancestry::from_events(&events);
        write_atomic(&self.dir.join(files::ANCESTRY), ancestry.to_dot().as_bytes())
            .map_err(io_ctx("writing ancestry.dot"))?;
        let lessons = rmp_serde::to_vec_named(&self.sim.lessons()).unwrap_or_default();
        write_atomic(&self.dir.join(files::LESSONS), &lessons).map_err(io_ctx("writing lessons.bin"))?;
        let summary = crate::store::summary::summary(&mut self.sim, &self.scenario, &ancestry);
        write_atomic(&self.dir.join(files::SUMMARY), summary.as_bytes()).map_err(io_ctx("writing summary.txt"))?;
        Ok(summary)
    }

    fn append_events(&mut self, events: &[Event]) -> Result<(), RunError> {
        let path = self.dir.join(files::EVENTS);
        let mut file =
            OpenOptions::new().create(true).append(true).open(&path).map_err(io_ctx("opening events.jsonl"))?;
        let mut buf = Vec::new();
        for e in events {
            serde_json::to_writer(&mut buf, e)
                .map_err(|e| RunError::Io { context: "encoding an event".into(), source: e.into() })?;
            buf.push(b'\n');
        }
        file.write_all(&buf).map_err(io_ctx("appending to events.jsonl"))?;
        file.sync_all().map_err(io_ctx("syncing events.jsonl"))?;
        self.events_len += buf.len() as u64;
        Ok(())
    }

    fn persist(&mut self) -> Result<(), RunError> {
        let snap = self.sim.snapshot(self.events_len);
        snapshot::save(&self.dir.join(files::CHECKPOINT), &snap, self.scenario.hash)
            .map_err(io_ctx("writing checkpoint.bin"))?;
        write_atomic(&self.dir.join(files::METRICS), metrics_csv(self.sim.metrics()).as_bytes())
            .map_err(io_ctx("writing metrics.csv"))?;
        Ok(())
    }
}

fn checkpoint_error(path: &Path, e: SnapshotError) -> RunError {
    let hint = match &e {
        SnapshotError::Scenario { .. } => {
            "scenario.toml in the run folder was edited after the run started; restore it or start a new run"
        }
        SnapshotError::Version { .. } => "resume it with the outerloop version that wrote it, or start a new run",
        _ => "the checkpoint is damaged; start the run again",
    };
    InputError::file(path, e.to_string(), hint).into()
}

/// Read a run's lessons (for `inherit`).
pub fn read_lessons(dir: &Path) -> Result<LessonsFile, RunError> {
    let path = dir.join(files::LESSONS);
    let bytes = fs::read(&path).map_err(|e| {
        InputError::file(
            &path,
            format!("cannot read the inherited run's lessons: {e}"),
            "inherit names a finished run folder, e.g. populations/quickstart",
        )
    })?;
    let lessons: LessonsFile = rmp_serde::from_slice(&bytes).map_err(|e| {
        InputError::file(&path, format!("not a lessons file ({e})"), "inherit names a finished run folder")
    })?;
    if lessons.version != snapshot::FORMAT_VERSION {
        return Err(InputError::file(
            &path,
            format!("lessons format version {} is not {}", lessons.version, snapshot::FORMAT_VERSION),
            "inherit from a run made by this version",
        )
        .into());
    }
    Ok(lessons)
}

/// Read an event log.
pub fn read_events(path: &Path) -> Result<Vec<Event>, RunError> {
    let text = fs::read_to_string(path).map_err(io_ctx(format!("reading {}", path.display())))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                RunError::Input(InputError::file(
                    path,
                    format!("line {}: not an event ({e})", i + 1),
                    "the event log was edited or damaged",
                ))
            })
        })
        .collect()
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
