//! Objectives by task name, as used on the command line and in scenarios, and the named
//! suites that expand to lists of task names.
//!
//! | form | objective |
//! |---|---|
//! | `gpt-table` | the small embedded grid (same as `gpt-table:synthetic`) |
//! | `gpt-table:<name>` | a shipped table ([`crate::objective::gpt::suite`]) |
//! | `gpt-table:<file>.tsv` | a table built with `outerloop table build` |
//! | `gpt-live:<corpus>[:b<gflop>][:c<context>][:e<eval bytes>]` | live GPT trials |
//! | `bbob-f<1..24>-i<instance>-d<dim>[-mixed][-noise<sd>][-full]` | BBOB (`-full`: one exact level) |
//! | `cmd:<spec.toml>` | the user's program, one run per trial ([`super::command`]) |
//! | `probe` | the behavioural-fingerprint task |
//! | `<task>+diverge<P>` | any of the above, diverging where the first knob's unit coordinate is above `1 - P` ([`super::faults`]) |
//!
//! Suites: `suite:gpt-train` (the tables evolution may see), `suite:gpt-heldout` (the
//! tables only evaluation sees), `suite:gpt-heldout-xl` (the extra-large held-out tables,
//! scored from 1/32 of the budget, where the cheapest fidelity misleads), `suite:gpt-all`
//! (all three); the BBOB splits in the field's
//! single-fidelity setting, `suite:bbob-train-d<D>` (19 functions on instances 1-3),
//! `suite:bbob-heldout-instances-d<D>` (the same functions on instances 6-10) and
//! `suite:bbob-heldout-functions-d<D>` (f2, f7, f11, f16, f21 on instances 1-5), for
//! `D` in 5, 10, 20.

use std::path::Path;

use super::Objective;
use super::bbob::BbobObjective;
use super::command::{self, CommandObjective};
use super::faults::{DIVERGE_PREFIX, Diverging, parse_diverge_fraction};
use super::gpt::live::LiveTask;
use super::gpt::suite::{SHIPPED, Split, shipped_table};
use super::gpt::table::{GptTable, Table};
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
pub const TASK_FORMS: &str = "gpt-table, gpt-table:<table> (see `outerloop task list`), gpt-table:<file.tsv>, gpt-live:<corpus>[:b<gflop>][:c<context>] (e.g. gpt-live:records:b20:c32), bbob-f<1..24>-i<instance>-d<dim>[-mixed][-noise<sd>][-full] (e.g. bbob-f8-i1-d5; -full: one exact fidelity level), cmd:<spec.toml> (your program, one run per trial), probe, any of these with +diverge<P> (configs whose first knob is in the top fraction P of its range diverge, e.g. bbob-f8-i1-d5+diverge0.2), or a suite: suite:gpt-train, suite:gpt-heldout, suite:gpt-heldout-xl, suite:gpt-all, suite:bbob-train-d<5|10|20>, suite:bbob-heldout-instances-d<5|10|20>, suite:bbob-heldout-functions-d<5|10|20>";

/// How to fix an unknown task: for a command spec, how a spec is written; else the forms.
pub fn task_hint(error: &UnknownTask) -> String {
    if error.name.starts_with(command::PREFIX) {
        "a command spec names its program and [space]: see scenarios/own/problem0.toml and README \"Bring your own problem\"".into()
    } else {
        format!("task names: {TASK_FORMS}")
    }
}

/// The BBOB functions every BBOB suite holds out of training: the second of each of
/// the five function groups (separable ellipsoid, step ellipsoid, discus, Weierstrass,
/// Gallagher 101 peaks), so every group keeps training functions and has a held-out one.
pub const BBOB_HELD_OUT_FUNCTIONS: [u8; 5] = [2, 7, 11, 16, 21];
/// The instances training sees.
pub const BBOB_TRAIN_INSTANCES: std::ops::RangeInclusive<u32> = 1..=3;
/// The instances only evaluation sees, on the training functions.
pub const BBOB_HELD_OUT_INSTANCES: std::ops::RangeInclusive<u32> = 6..=10;
/// The instances of the held-out functions.
pub const BBOB_HELD_OUT_FUNCTION_INSTANCES: std::ops::RangeInclusive<u32> = 1..=5;

/// A split of the BBOB suites (all in the single-fidelity `-full` setting of the field).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BbobSplit {
    /// The training functions on the training instances.
    Train,
    /// The training functions on instances training never sees.
    HeldOutInstances,
    /// The held-out functions ([`BBOB_HELD_OUT_FUNCTIONS`]).
    HeldOutFunctions,
}

/// A named list of tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Suite {
    /// The tables evolution may see.
    GptTrain,
    /// The tables only evaluation sees.
    GptHeldOut,
    /// The extra-large held-out tables, where the cheapest fidelity misleads.
    GptHeldOutXl,
    /// Both.
    GptAll,
    /// A BBOB split at a dimension (5, 10 or 20).
    Bbob(BbobSplit, u8),
}

impl Suite {
    /// Every suite.
    pub const ALL: &'static [Suite] = &[
        Suite::GptTrain,
        Suite::GptHeldOut,
        Suite::GptHeldOutXl,
        Suite::GptAll,
        Suite::Bbob(BbobSplit::Train, 5),
        Suite::Bbob(BbobSplit::HeldOutInstances, 5),
        Suite::Bbob(BbobSplit::HeldOutFunctions, 5),
        Suite::Bbob(BbobSplit::Train, 10),
        Suite::Bbob(BbobSplit::HeldOutInstances, 10),
        Suite::Bbob(BbobSplit::HeldOutFunctions, 10),
        Suite::Bbob(BbobSplit::Train, 20),
        Suite::Bbob(BbobSplit::HeldOutInstances, 20),
        Suite::Bbob(BbobSplit::HeldOutFunctions, 20),
    ];

    /// The name after `suite:`, e.g. `gpt-train` or `bbob-heldout-instances-d10`.
    pub fn name(self) -> String {
        match self {
            Suite::GptTrain => "gpt-train".into(),
            Suite::GptHeldOut => "gpt-heldout".into(),
            Suite::GptHeldOutXl => "gpt-heldout-xl".into(),
            Suite::GptAll => "gpt-all".into(),
            Suite::Bbob(split, dim) => {
                let split = match split {
                    BbobSplit::Train => "train",
                    BbobSplit::HeldOutInstances => "heldout-instances",
                    BbobSplit::HeldOutFunctions => "heldout-functions",
                };
                format!("bbob-{split}-d{dim}")
            }
        }
    }

    /// Parse `suite:<name>`.
    pub fn parse(name: &str) -> Option<Suite> {
        let rest = name.strip_prefix("suite:")?;
        Suite::ALL.iter().copied().find(|s| s.name() == rest)
    }

    /// The task names of the suite, in a fixed order (BBOB: functions outer, instances
    /// inner).
    pub fn tasks(self) -> Vec<String> {
        let keep: fn(Split) -> bool = match self {
            Suite::GptTrain => |split| split == Split::Train,
            Suite::GptHeldOut => |split| split == Split::HeldOut,
            Suite::GptHeldOutXl => |split| split == Split::HeldOutXl,
            Suite::GptAll => |split| split != Split::Quickstart,
            Suite::Bbob(split, dim) => return bbob_suite_tasks(split, dim),
        };
        SHIPPED.iter().filter(|t| keep(t.split)).map(|t| format!("gpt-table:{}", t.name)).collect()
    }
}

/// The `-full` BBOB tasks of a split at a dimension, functions outer, instances inner.
fn bbob_suite_tasks(split: BbobSplit, dim: u8) -> Vec<String> {
    let trained = (1..=24u8).filter(|f| !BBOB_HELD_OUT_FUNCTIONS.contains(f));
    let (functions, instances): (Vec<u8>, _) = match split {
        BbobSplit::Train => (trained.collect(), BBOB_TRAIN_INSTANCES),
        BbobSplit::HeldOutInstances => (trained.collect(), BBOB_HELD_OUT_INSTANCES),
        BbobSplit::HeldOutFunctions => (BBOB_HELD_OUT_FUNCTIONS.to_vec(), BBOB_HELD_OUT_FUNCTION_INSTANCES),
    };
    functions.iter().flat_map(|f| instances.clone().map(move |i| format!("bbob-f{f}-i{i}-d{dim}-full"))).collect()
}

/// Expand a task name or suite name into task names, checking each names an objective.
pub fn expand_tasks(name: &str) -> Result<Vec<String>, UnknownTask> {
    if name.starts_with("suite:") && name.contains('+') {
        return Err(suite_modifier(name));
    }
    if name.starts_with("suite:") {
        let suite = Suite::parse(name).ok_or_else(|| UnknownTask {
            name: name.to_string(),
            reason: format!(
                "no such suite (suites: {})",
                Suite::ALL.iter().map(|s| format!("suite:{}", s.name())).collect::<Vec<_>>().join(", ")
            ),
        })?;
        let tasks = suite.tasks();
        for t in &tasks {
            objective_by_name(t)?;
        }
        return Ok(tasks);
    }
    objective_by_name(name)?;
    Ok(vec![name.to_string()])
}

/// Expand a list of task and suite names (comma-separated entries allowed), keeping the
/// first occurrence of each task.
pub fn expand_task_list<S: AsRef<str>>(names: &[S]) -> Result<Vec<String>, UnknownTask> {
    let mut out: Vec<String> = Vec::new();
    for entry in names {
        for name in entry.as_ref().split(',').map(str::trim).filter(|n| !n.is_empty()) {
            for t in expand_tasks(name)? {
                if !out.contains(&t) {
                    out.push(t);
                }
            }
        }
    }
    Ok(out)
}

fn suite_modifier(name: &str) -> UnknownTask {
    UnknownTask {
        name: name.to_string(),
        reason: "a suite takes no modifier; list its tasks (`outerloop task list`) with the modifier on each".into(),
    }
}

/// Split a trailing modifier (`+diverge0.15`) off a task name: the text after the last
/// `+`, unless it holds a `/` (then the `+` belongs to a table file's path).
fn split_modifier(name: &str) -> Option<(&str, &str)> {
    let at = name.rfind('+')?;
    let (base, suffix) = name.split_at(at);
    (!suffix.contains('/')).then_some((base, suffix))
}

/// Build the objective a task name refers to.
pub fn objective_by_name(name: &str) -> Result<Box<dyn Objective>, UnknownTask> {
    let unknown = |reason: String| UnknownTask { name: name.to_string(), reason };
    if let Some((base, suffix)) = split_modifier(name) {
        if base.starts_with("suite:") {
            return Err(suite_modifier(name));
        }
        let Some(fraction) = suffix.strip_prefix(DIVERGE_PREFIX) else {
            return Err(unknown(format!(
                "unknown modifier `{suffix}` (the one modifier is {DIVERGE_PREFIX}<P>, e.g. +diverge0.15)"
            )));
        };
        let fraction = parse_diverge_fraction(fraction).map_err(unknown)?;
        let inner = objective_by_name(base).map_err(|e| unknown(e.reason))?;
        return Ok(Box::new(Diverging::new(inner, fraction, suffix)));
    }
    if name == "gpt-table" {
        return shipped_table("synthetic")
            .map(|o| Box::new(o) as Box<dyn Objective>)
            .map_err(|e| unknown(e.to_string()));
    }
    if let Some(table) = name.strip_prefix("gpt-table:") {
        if table.contains('/') || table.ends_with(".tsv") {
            let path = Path::new(table);
            let (loaded, identity) = Table::load_hashed(path).map_err(|e| unknown(e.to_string()))?;
            if loaded.rows.is_empty() {
                return Err(unknown("the table holds no trials".into()));
            }
            return Ok(Box::new(GptTable::new(name, loaded).with_input_identity(identity)));
        }
        return shipped_table(table).map(|o| Box::new(o) as Box<dyn Objective>).map_err(|e| unknown(e.to_string()));
    }
    if name.starts_with("gpt-live:") {
        let task = LiveTask::parse(name).map_err(unknown)?;
        return task.objective().map(|o| Box::new(o) as Box<dyn Objective>).map_err(unknown);
    }
    if let Some(path) = name.strip_prefix(command::PREFIX) {
        return CommandObjective::load(name, path)
            .map(|o| Box::new(o) as Box<dyn Objective>)
            .map_err(|e| unknown(e.to_string()));
    }
    if name == "probe" {
        return Ok(Box::new(Probe::default()));
    }
    if name.starts_with("bbob-") {
        return BbobObjective::from_name(name)
            .map(|o| Box::new(o) as Box<dyn Objective>)
            .map_err(|e| unknown(e.to_string()));
    }
    if name.starts_with("suite:") {
        return Err(unknown("a suite names several tasks; use it where a list of tasks is expected".into()));
    }
    Err(unknown(format!("expected {TASK_FORMS}")))
}

/// The budget on the tasks `to` worth as many budget units ([`Objective::budget_unit`]:
/// full trials, or `d` evaluations on BBOB) as `budget` on the tasks `from` (their mean
/// unit): how a run's budget carries over to tasks it never saw. The tasks of `to` must
/// count budgets in one unit.
pub fn budget_in_units_of(budget: f64, from: &[String], to: &[String]) -> Result<f64, String> {
    let costs = |names: &[String]| -> Result<Vec<f64>, String> {
        names.iter().map(|n| objective_by_name(n).map(|o| o.budget_unit()).map_err(|e| e.to_string())).collect()
    };
    let from_costs = costs(from)?;
    let to_costs = costs(to)?;
    if to_costs.windows(2).any(|w| w[0] != w[1]) {
        return Err(format!(
            "the tasks {} count budgets in different units (a unit of budget is {}); compare them separately",
            to.join(", "),
            to_costs.iter().map(|c| format!("{c}")).collect::<Vec<_>>().join(", ")
        ));
    }
    let from_full = from_costs.iter().sum::<f64>() / from_costs.len().max(1) as f64;
    Ok(budget / from_full * to_costs.first().copied().unwrap_or(1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budgets_carry_over_in_full_trials_and_mixed_units_are_refused() {
        let quick = ["gpt-table".to_string()];
        let suite = expand_tasks("suite:gpt-heldout").unwrap();
        let full = objective_by_name("gpt-table").unwrap().full_cost();
        // 15 full trials of the quickstart's table are 15 full trials of the suite's.
        let b = budget_in_units_of(15.0 * full, &quick, &suite).unwrap();
        assert!((b - 15.0 * objective_by_name(&suite[0]).unwrap().full_cost()).abs() < 1e-9, "{b}");
        let mixed = ["gpt-table".to_string(), "bbob-f1-i1-d5".to_string()];
        assert!(budget_in_units_of(15.0, &quick, &mixed).unwrap_err().contains("different units"));
    }

    #[test]
    fn names_parse_or_explain() {
        assert!(objective_by_name("gpt-table").is_ok());
        assert_eq!(objective_by_name("gpt-table:synthetic").unwrap().name(), "gpt-table:synthetic");
        assert!(objective_by_name("bbob-f8-i1-d5").is_ok());
        for (bad, needle) in [
            ("gpt-table:nope", "no shipped table"),
            ("gpt-table:/nonexistent/x.tsv", "x.tsv"),
            ("gpt-live:moon", "unknown corpus"),
            ("gpt-live:records:b0", "budget"),
            ("gpt-live:records:q7", "unknown part"),
            ("suite:gpt-train", "suite"),
            ("gpt", "expected"),
            ("bbob-f8-i1-d5+diverge0", "(0, 1)"),
            ("bbob-f8-i1-d5+diverge1.5", "(0, 1)"),
            ("bbob-f8-i1-d5+divergex", "(0, 1)"),
            ("bbob-f8-i1-d5+diverge", "(0, 1)"),
            ("bbob-f8-i1-d5+foo", "unknown modifier `+foo`"),
            ("bbob-f99-i1-d5+diverge0.1", "f99"),
            ("suite:gpt-train+diverge0.1", "a suite takes no modifier"),
        ] {
            let e = objective_by_name(bad).err().unwrap_or_else(|| panic!("{bad} parsed"));
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    #[test]
    fn suites_split_the_tables() {
        let train = Suite::GptTrain.tasks();
        let held = Suite::GptHeldOut.tasks();
        let xl = Suite::GptHeldOutXl.tasks();
        assert!(train.len() >= 3 && held.len() >= 3 && xl.len() >= 2);
        assert!(train.iter().all(|t| !held.contains(t) && !xl.contains(t)), "train and held-out are disjoint");
        assert!(held.iter().all(|t| !xl.contains(t)));
        let all = Suite::GptAll.tasks();
        assert_eq!(all.len(), train.len() + held.len() + xl.len());
        assert!(!all.contains(&"gpt-table:synthetic".to_string()), "the quickstart grid is in no suite");
        assert!(expand_tasks("suite:nope").unwrap_err().reason.contains("suite:gpt-train"));
        assert_eq!(expand_task_list(&["gpt-table, gpt-table", "bbob-f1-i1-d2"]).unwrap().len(), 2);
        assert!(expand_tasks("suite:gpt-train+diverge0.1").unwrap_err().reason.contains("no modifier"));
        assert_eq!(expand_tasks("gpt-table:records-s+diverge0.15").unwrap(), vec!["gpt-table:records-s+diverge0.15"]);
    }
}
