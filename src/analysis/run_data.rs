//! A run folder as the analysis sees it: scenario, event log (up to the last
//! checkpoint, verified against it), ancestry graph and the checkpoint's champion.

use std::path::{Path, PathBuf};

use crate::ancestry::Ancestry;
use crate::driver::Run;
use crate::scenario::Scenario;
use crate::sim::Champion;
use crate::sim::events::Event;
use crate::store::run_dir::RunError;

/// Everything read from one run folder.
pub struct RunData {
    /// The folder.
    pub dir: PathBuf,
    /// The run's scenario.
    pub scenario: Scenario,
    /// Events of the completed ticks, in log order.
    pub events: Vec<Event>,
    /// The ancestry graph built from those events.
    pub ancestry: Ancestry,
    /// The champion at the last checkpoint (its genome is the authoritative one: the
    /// verifier may have simplified it in place after its birth).
    pub champion: Option<Champion>,
    /// Completed ticks.
    pub ticks_done: u32,
    /// Inner compute spent by the end of each completed tick (the checkpoint's metrics).
    pub compute: Vec<f64>,
}

impl RunData {
    /// Open a run folder read-only.
    pub fn load(dir: &Path) -> Result<Self, RunError> {
        let mut run = Run::inspect(dir)?;
        let ticks_done = run.sim().ticks_done();
        let champion = run.sim().champion();
        let compute = run.sim().metrics().iter().map(|r| r.compute).collect();
        // The log up to the checkpoint, verified: an interrupted tick is not part of it.
        let events = run.events()?;
        let ancestry = Ancestry::from_events(&events);
        Ok(RunData {
            dir: dir.to_path_buf(),
            scenario: run.scenario().clone(),
            events,
            ancestry,
            champion,
            ticks_done,
            compute,
        })
    }
}
