//! The driver: the loop above storage that runs an outer-loop simulation in its run
//! folder. It builds or restores the [`Simulation`], ticks it, has the folder persist
//! every tick (event log, checkpoint, metrics), stops between ticks when asked (Ctrl-C,
//! `--stop-after`), and at the end computes the champion's report and has the summary
//! rendered ([`summary`]) and written. `store` only reads and writes the folder's bytes;
//! the summary only renders what it is handed.

pub mod summary;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::ancestry::Ancestry;
use crate::diagnostic::InputError;
use crate::exec::Executor;
use crate::llm::RunOracle;
use crate::scenario::Scenario;
use crate::sim::events::Event;
use crate::sim::resources::MetricsRow;
use crate::sim::writer::WriterTally;
use crate::sim::{Simulation, TickError};
use crate::store::checkpoint::OutputHashes;
use crate::store::run_dir::{Opened, RunError, RunFolder, encode_lessons, files, output_hash, read_lessons};

/// A simulation bound to its folder.
pub struct Run {
    folder: RunFolder,
    scenario: Scenario,
    sim: Simulation,
    /// The language-model proposer's oracle (`[proposer.llm]` only).
    oracle: Option<Arc<RunOracle>>,
    /// The verified events up to the checkpoint, kept when opened read-only.
    events: Option<Vec<Event>>,
}

impl Run {
    /// Start a new run in `out` (or the scenario's folder), its episodes running on
    /// `executor`. Refuses a folder that already holds a run, so nothing written earlier
    /// is overwritten; everything that can fail on bad input (the inherited lessons, the
    /// simulation's setup) fails before the folder is touched.
    pub fn start(scenario: Scenario, out: Option<PathBuf>, executor: Executor) -> Result<Run, RunError> {
        let dir = out.unwrap_or_else(|| scenario.out.clone());
        RunFolder::refuse_existing(&dir, &scenario)?;
        let sim = new_simulation(&scenario, executor)?;
        let folder = RunFolder::create(&dir, &scenario)?;
        Run::begin(folder, scenario, sim)
    }

    /// Reopen a run folder at its latest checkpoint to continue it on `executor`:
    /// verifies the log, cuts off an interrupted tick, removes stale temporary files and
    /// rewrites the derived files. Holds the folder's lock until the `Run` is dropped.
    pub fn resume(dir: &Path, executor: Executor) -> Result<Run, RunError> {
        match RunFolder::open(dir, true)? {
            Opened::Unstarted { mut folder, scenario } => {
                // Killed before the first checkpoint: start over in place.
                let sim = new_simulation(&scenario, executor)?;
                folder.restart(&scenario)?;
                Run::begin(folder, scenario, sim)
            }
            Opened::Checkpointed { mut folder, scenario, snapshot, .. } => {
                let sim = Simulation::restore(&scenario, &snapshot, executor)?;
                folder.rewind(sim.metrics())?;
                let mut run = Run { folder, scenario, sim, oracle: None, events: None };
                run.replay_from(&[]);
                Ok(run)
            }
        }
    }

    /// Open a run folder at its latest checkpoint without changing any file (the event
    /// log and `genome-base.txt` are verified against the checkpoint).
    pub fn inspect(dir: &Path) -> Result<Run, RunError> {
        match RunFolder::open(dir, false)? {
            Opened::Checkpointed { folder, scenario, snapshot, events } => {
                let sim = Simulation::restore(&scenario, &snapshot, Executor::local())?;
                Ok(Run { folder, scenario, sim, oracle: None, events: Some(events) })
            }
            Opened::Unstarted { .. } => unreachable!("an unlocked open refuses a folder without a checkpoint"),
        }
    }

    /// The seeding events and the first checkpoint of a new (or restarted) run.
    fn begin(folder: RunFolder, scenario: Scenario, mut sim: Simulation) -> Result<Run, RunError> {
        let seeding = sim.drain_events();
        let mut run = Run { folder, scenario, sim, oracle: None, events: None };
        run.replay_from(&[]);
        run.folder.append_events(&seeding)?;
        run.persist()?;
        Ok(run)
    }

    /// Have the language-model proposer (if the scenario has one) read replies from
    /// these records of earlier runs' exchanges (`llm/` folders) after the run's own and
    /// before it asks the endpoint.
    pub fn replay_from(&mut self, records: &[PathBuf]) {
        if let Some(settings) = &self.scenario.llm {
            let oracle = Arc::new(RunOracle::new(self.folder.dir(), settings, records));
            self.sim.set_oracle(oracle.clone());
            self.oracle = Some(oracle);
        }
    }

    /// The language-model proposer's oracle, if the scenario has one (its
    /// `notices` are what the user should hear: an endpoint that fails, once).
    pub fn oracle(&self) -> Option<Arc<RunOracle>> {
        self.oracle.clone()
    }

    /// The run folder.
    pub fn dir(&self) -> &Path {
        self.folder.dir()
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
            None => self.folder.events(),
        }
    }

    /// Whether all ticks are done.
    pub fn finished(&self) -> bool {
        self.sim.ticks_done() >= self.scenario.ticks
    }

    /// Run one tick and persist it. Returns the tick's metrics row. A tick whose
    /// episodes could not be run is not persisted: the error names it, and resuming
    /// runs it again.
    pub fn step(&mut self) -> Result<Option<MetricsRow>, RunError> {
        let tick = self.sim.ticks_done();
        self.sim.tick().map_err(|failure| match failure {
            TickError::Executor(message) => RunError::Executor { tick, message },
            TickError::MissingReply(message) => RunError::Input(InputError::usage(
                format!("tick {tick} was not saved: {message}"),
                "set `[proposer.llm] endpoint` to a running server, or pass `--llm-replay FOLDER` naming the \
                 `llm/` record of the run this one repeats",
            )),
        })?;
        let events = self.sim.drain_events();
        self.folder.append_events(&events)?;
        self.persist()?;
        Ok(self.sim.metrics().last().cloned())
    }

    /// Write the derived outputs (ancestry, lessons, summary) once all ticks are done;
    /// returns the summary.
    pub fn finish(&mut self) -> Result<String, RunError> {
        let events = self.events()?;
        let ancestry = Ancestry::from_events(&events);
        let dot = ancestry.to_dot();
        let lessons = encode_lessons(&self.sim.lessons());
        self.folder.write_output(files::ANCESTRY, dot.as_bytes())?;
        self.folder.write_output(files::LESSONS, &lessons)?;
        let champion = self.sim.report().map_err(|failure| RunError::ReportExecutor(failure.0))?;
        let report = summary::RunReport {
            scenario: &self.scenario,
            ticks_done: self.sim.ticks_done(),
            champion,
            debate: self.sim.debate_stats(),
            metrics: self.sim.metrics(),
            ancestry: &ancestry,
            writer: WriterTally::of(&events),
        };
        let text = summary::render(&report);
        self.folder.write_output(files::SUMMARY, text.as_bytes())?;
        let outputs = OutputHashes {
            ancestry: output_hash(dot.as_bytes()),
            lessons: output_hash(&lessons),
            summary: output_hash(text.as_bytes()),
        };
        self.folder.record_outputs(outputs, self.scenario.hash)?;
        Ok(text)
    }

    /// Checkpoint the state after the last tick and rewrite `metrics.csv`.
    fn persist(&mut self) -> Result<(), RunError> {
        let snap = self.sim.snapshot(self.folder.state());
        self.folder.save_checkpoint(&snap, self.scenario.hash)?;
        self.folder.write_metrics(self.sim.metrics())
    }
}

/// A simulation of `scenario` (with the lessons it inherits) on `executor`.
fn new_simulation(scenario: &Scenario, executor: Executor) -> Result<Simulation, RunError> {
    let inherited = match &scenario.inherit {
        Some(p) => Some(read_lessons(p)?),
        None => None,
    };
    Ok(Simulation::new(scenario, inherited.as_ref(), executor)?)
}

/// When [`drive`] stops before the end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stops<'a> {
    /// Stop after this many ticks of this call (every one saved).
    pub after: Option<u32>,
    /// Stop after the tick under way when this is set (Ctrl-C).
    pub flag: Option<&'a AtomicBool>,
}

/// How [`drive`] ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Driven {
    /// Every tick done and the derived files written; the summary.
    Finished(String),
    /// Stopped by [`Stops::after`] after this many ticks.
    StoppedAfter(u32),
    /// Stopped by [`Stops::flag`].
    Interrupted,
}

/// Tick `run` to its end (then write its derived files), persisting every tick and
/// calling `on_tick` with each tick's metrics row, unless `stops` stops it first.
pub fn drive(run: &mut Run, stops: Stops, mut on_tick: impl FnMut(&MetricsRow)) -> Result<Driven, RunError> {
    let mut steps = 0;
    while !run.finished() {
        if stops.after.is_some_and(|n| steps >= n) {
            return Ok(Driven::StoppedAfter(steps));
        }
        let row = run.step()?;
        steps += 1;
        if let Some(row) = &row {
            on_tick(row);
        }
        if stops.flag.is_some_and(|f| f.load(Ordering::SeqCst)) && !run.finished() {
            return Ok(Driven::Interrupted);
        }
    }
    run.finish().map(Driven::Finished)
}
