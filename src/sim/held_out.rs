//! The champion on tasks the run never saw, for the run's own summary: against the best
//! library mechanism and against the best trivial baseline (a library mechanism pinned
//! to the lowest fidelity), on each `verifier.held_out` entry at the run's budget carried
//! over ([`budget_in_units_of`]), with per-group intervals (BBOB function groups) and the
//! area over the convergence curve (BBOB's anytime measure) on BBOB tasks.
//!
//! A champion that only beats the reference on the tasks it evolved on has not answered
//! the user's question; this does, in the summary the main job prints. The rivals are
//! chosen on the same episodes they are compared on, which favours them: the champion's
//! margin is conservative. The episodes are the analysis's held-out episodes (same root
//! and purpose), so `outerloop analyze` reports the same numbers for the library.

use super::episode_batch::EpisodeResult;
use super::episodes::{Episodes, analysis_root, compile, median_regret};
use crate::genome::interp::Program;
use crate::genome::library::{AT_LOWEST, LIBRARY, pin_to_lowest_fidelity};
use crate::genome::{Limits, load};
use crate::objective::bbob::group_of;
use crate::objective::registry::budget_in_units_of;
use crate::scenario::Scenario;
use crate::stats::{Interval, bootstrap_mean};

/// A mechanism the champion is compared with.
pub struct Rival {
    /// `cma-es`, or `cma-es@lowest` for its lowest-fidelity variant.
    pub name: String,
    /// Compiled program.
    pub program: Program,
    /// Whether it is a trivial baseline (every trial at the lowest fidelity).
    pub trivial: bool,
}

/// The seed library, then every library mechanism pinned to the lowest fidelity
/// (`lib:NAME@lowest`): the trivial baselines that a discovery of "use the cheapest
/// fidelity" must beat to count.
pub fn rivals() -> Vec<Rival> {
    let genomes: Vec<(&str, crate::genome::Genome)> =
        LIBRARY.iter().filter_map(|(name, text)| load(text, &Limits::default()).ok().map(|g| (*name, g))).collect();
    let library = genomes.iter().map(|(name, g)| (name.to_string(), g.clone(), false));
    let pinned = genomes.iter().map(|(name, g)| (format!("{name}{AT_LOWEST}"), pin_to_lowest_fidelity(g), true));
    library
        .chain(pinned)
        .filter_map(|(name, genome, trivial)| compile(&genome).ok().map(|program| Rival { name, program, trivial }))
        .collect()
}

/// The champion's area over the convergence curve against a rival's, on tasks that know
/// their optimum.
#[derive(Debug, Clone, PartialEq)]
pub struct AoccVersus {
    /// The champion's mean AOCC over the episodes.
    pub champion: f64,
    /// The rival's mean AOCC.
    pub rival: f64,
    /// Mean paired difference (champion minus rival) with its 95% bootstrap interval:
    /// above 0, the champion converges better.
    pub difference: Interval,
}

/// The champion against a rival on one group of held-out tasks: a BBOB function group,
/// or one task elsewhere.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupVersus {
    /// `separable`, ... for BBOB (see [`FunctionGroup::name`]); the task's short name
    /// otherwise.
    pub group: String,
    /// Mean log10 regret ratio (rival over champion) with its interval.
    pub gain: Interval,
    /// Mean AOCC difference (champion minus rival) with its interval, where known.
    pub aocc: Option<Interval>,
    /// Episodes in the group.
    pub episodes: usize,
}

/// The champion against one rival on the held-out episodes.
#[derive(Debug, Clone, PartialEq)]
pub struct Versus {
    /// The rival's name.
    pub rival: String,
    /// Median true regret of the champion over every held-out episode.
    pub champion_regret: f64,
    /// Median true regret of the rival.
    pub rival_regret: f64,
    /// Mean log10(rival regret / champion regret) over every episode, with its 95%
    /// bootstrap interval: above 0, the champion is better.
    pub gain: Interval,
    /// The same per group of tasks, in order of first appearance.
    pub per_group: Vec<GroupVersus>,
    /// Episodes the champion wins, ties and loses.
    pub wins: usize,
    /// Episodes with equal regret.
    pub ties: usize,
    /// Episodes in all.
    pub episodes: usize,
    /// Area over the convergence curve, when every held-out task is a BBOB task.
    pub aocc: Option<AoccVersus>,
}

/// One section of the summary's held-out part: one `verifier.held_out` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOutReport {
    /// The entry as written (a task or a suite).
    pub entry: String,
    /// Its task names.
    pub tasks: Vec<String>,
    /// Episodes per task.
    pub per_task: u32,
    /// Budget per episode on the held-out tasks (their units).
    pub budget: f64,
    /// How many library mechanisms were compared.
    pub rivals: usize,
    /// Against the best library mechanism on these episodes.
    pub library: Versus,
    /// Against the best trivial baseline on these episodes; `None` where every task has
    /// one fidelity level (a pinned mechanism is then the mechanism itself).
    pub trivial: Option<Versus>,
}

/// Run the champion and every rival on each of the scenario's held-out sets; empty when
/// the scenario names none.
pub fn held_out_reports(champion: &Program, sc: &Scenario) -> Result<Vec<HeldOutReport>, String> {
    let root = analysis_root(sc);
    let mut reports = Vec::with_capacity(sc.held_out.len());
    for (k, set) in sc.held_out.iter().enumerate() {
        let seed = root ^ ((k as u64) << 8);
        let budget = budget_in_units_of(sc.inner_budget, &sc.tasks, &set.tasks)?;
        let episodes = Episodes::new(&set.tasks, root, "held-out", sc.held_out_seeds)?;
        let champ = episodes.run(champion, budget);
        let (library, trivial): (Vec<Rival>, Vec<Rival>) = rivals().into_iter().partition(|r| !r.trivial);
        let one_level = episodes.tasks().iter().all(|t| t.fidelities().len() == 1);
        let rivals = library.len();
        let versus_best = |kind: Vec<Rival>, seed: u64| -> Result<Versus, String> {
            let (rival, theirs) = best_rival(&episodes, kind, budget).ok_or("the library compiled to no rival")?;
            Ok(versus(&episodes, &champ, &rival.name, &theirs, seed))
        };
        reports.push(HeldOutReport {
            entry: set.entry.clone(),
            tasks: set.tasks.clone(),
            per_task: sc.held_out_seeds,
            budget,
            rivals,
            library: versus_best(library, seed)?,
            trivial: if one_level { None } else { Some(versus_best(trivial, seed ^ 1)?) },
        });
    }
    Ok(reports)
}

/// The group a task is reported in: its BBOB function group, or its own short name.
pub fn group_label(task: &str) -> String {
    let function = task.strip_prefix("bbob-f").and_then(|rest| rest.split('-').next()).and_then(|f| f.parse().ok());
    match function {
        Some(f) => group_of(f).name().to_string(),
        None => task.rsplit(':').next().unwrap_or(task).to_string(),
    }
}

/// The rival with the lowest mean log10 regret on `episodes` at `budget` (the first on
/// ties), with its results; `None` when there is none.
pub fn best_rival(episodes: &Episodes, rivals: Vec<Rival>, budget: f64) -> Option<(Rival, Vec<EpisodeResult>)> {
    let mut results: Vec<Vec<EpisodeResult>> = rivals.iter().map(|r| episodes.run(&r.program, budget)).collect();
    if results.is_empty() {
        return None;
    }
    let best = episodes.lowest_mean_log_regret(&results);
    let theirs = results.swap_remove(best);
    rivals.into_iter().nth(best).map(|rival| (rival, theirs))
}

fn versus(episodes: &Episodes, champ: &[EpisodeResult], rival: &str, theirs: &[EpisodeResult], seed: u64) -> Versus {
    let gains = episodes.gains(champ, theirs);
    // The AOCC is BBOB's anytime measure (its clipping bounds are BBOB's); on GPT tables
    // its curve of observed low-fidelity scores would answer another question.
    let bbob = episodes.names.iter().all(|n| n.starts_with("bbob-"));
    let aocc_differences: Option<Vec<f64>> =
        if bbob { champ.iter().zip(theirs).map(|(c, r)| Some(c.aocc? - r.aocc?)).collect() } else { None };
    let labels: Vec<String> = episodes.names.iter().map(|n| group_label(n)).collect();
    let mut groups: Vec<&String> = Vec::new();
    for label in &labels {
        if !groups.contains(&label) {
            groups.push(label);
        }
    }
    let per_group = groups
        .iter()
        .enumerate()
        .map(|(g, &label)| {
            let members: Vec<usize> = (0..champ.len()).filter(|&i| &labels[champ[i].task] == label).collect();
            let pick = |xs: &[f64]| members.iter().map(|&i| xs[i]).collect::<Vec<f64>>();
            let group_seed = seed ^ (g as u64 + 1);
            GroupVersus {
                group: label.clone(),
                gain: bootstrap_mean(&pick(&gains), group_seed),
                aocc: aocc_differences.as_ref().map(|d| bootstrap_mean(&pick(d), group_seed ^ 0xA0CC)),
                episodes: members.len(),
            }
        })
        .collect();
    let mean_aocc = |rs: &[EpisodeResult]| crate::stats::mean(&rs.iter().filter_map(|r| r.aocc).collect::<Vec<_>>());
    Versus {
        rival: rival.to_string(),
        champion_regret: median_regret(champ),
        rival_regret: median_regret(theirs),
        gain: bootstrap_mean(&gains, seed),
        per_group,
        wins: gains.iter().filter(|g| **g > 0.0).count(),
        ties: gains.iter().filter(|g| **g == 0.0).count(),
        episodes: gains.len(),
        aocc: aocc_differences.map(|d| AoccVersus {
            champion: mean_aocc(champ),
            rival: mean_aocc(theirs),
            difference: bootstrap_mean(&d, seed ^ 0xA0CC),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_library_mechanism_has_a_lowest_fidelity_twin() {
        let rivals = rivals();
        let library = rivals.iter().filter(|r| !r.trivial).count();
        assert_eq!(library, LIBRARY.len());
        assert_eq!(rivals.len(), 2 * LIBRARY.len());
        let sha = rivals.iter().find(|r| r.name == "successive-halving@lowest").unwrap();
        assert!(sha.trivial);
        assert!(matches!(sha.program.genome().fidelity.op, crate::genome::ast::Op::Num(v) if v == 0.0));
    }

    #[test]
    fn the_aocc_is_reported_on_bbob_tasks_only() {
        let rivals = rivals();
        let (one, two) = (&rivals[0], &rivals[1]);
        for (task, expect_aocc) in [("bbob-f1-i1-d2", true), ("gpt-table", false)] {
            let episodes = Episodes::new(&[task.to_string()], 3, "test", 2).unwrap();
            let budget = 4.0 * episodes.tasks()[0].full_cost();
            let (a, b) = (episodes.run(&one.program, budget), episodes.run(&two.program, budget));
            assert!(a.iter().all(|r| r.aocc.is_some()), "both tasks know their optimum");
            let v = versus(&episodes, &a, &two.name, &b, 1);
            assert_eq!(v.aocc.is_some(), expect_aocc, "{task}");
            assert_eq!(v.per_group.iter().all(|g| g.aocc.is_some()), expect_aocc, "{task}");
        }
    }

    #[test]
    fn bbob_tasks_group_by_function_group_and_others_by_name() {
        assert_eq!(group_label("bbob-f7-i6-d5-full"), "moderate");
        assert_eq!(group_label("bbob-f21-i1-d20"), "weak-structure");
        assert_eq!(group_label("gpt-table:records-l"), "records-l");
        assert_eq!(group_label("gpt-live:records"), "records");
    }
}
