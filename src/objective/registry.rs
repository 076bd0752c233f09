//! Objectives by task name, as used on the command line and in scenarios.

use super::Objective;
use super::bbob::BbobObjective;
use super::gpt::table::GptTable;
use super::probe::Probe;

/// A task name that names no objective.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown task `{name}`: {reason}")]
pub struct UnknownTask {
    /// The name given.
    pub name: String,
    /// Why it was not understood.
    pub reason: String,
}

/// Task-name forms, for help texts and error hints.
pub const TASK_FORMS: &str = "gpt-table (the embedded table of real GPT trials), bbob-f<1..24>-i<instance>-d<dim>[-mixed][-noise<sd>] (e.g. bbob-f8-i1-d5), or probe";

/// Build the objective a task name refers to.
pub fn objective_by_name(name: &str) -> Result<Box<dyn Objective>, UnknownTask> {
    if name == "gpt-table" {
        return GptTable::embedded()
            .map(|o| Box::new(o) as Box<dyn Objective>)
            .map_err(|e| UnknownTask { name: name.to_string(), reason: e.to_string() });
    }
    if name == "probe" {
        return Ok(Box::new(Probe::default()));
    }
    if name.starts_with("bbob-") {
        return BbobObjective::from_name(name)
            .map(|o| Box::new(o) as Box<dyn Objective>)
            .map_err(|e| UnknownTask { name: name.to_string(), reason: e.to_string() });
    }
    Err(UnknownTask { name: name.to_string(), reason: format!("expected {TASK_FORMS}") })
}
