//! The champion on tasks the run never saw, for the run's own summary: against the best
//! library mechanism and against the best trivial baseline (a library mechanism pinned
//! to the lowest fidelity), on `verifier.held_out` at the run's budget in full trials.
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
    /// The same per held-out task, in task order.
    pub per_task: Vec<Interval>,
    /// Episodes the champion wins, ties and loses.
    pub wins: usize,
    /// Episodes with equal regret.
    pub ties: usize,
    /// Episodes in all.
    pub episodes: usize,
}

/// The summary's held-out section.
#[derive(Debug, Clone, PartialEq)]
pub struct HeldOutReport {
    /// Held-out task names.
    pub tasks: Vec<String>,
    /// Episodes per task.
    pub per_task: u32,
    /// Budget per episode on the held-out tasks (their units).
    pub budget: f64,
    /// How many rivals were compared (library and trivial baselines).
    pub rivals: usize,
    /// Against the best library mechanism on these episodes.
    pub library: Versus,
    /// Against the best trivial baseline on these episodes.
    pub trivial: Versus,
}

/// Run the champion and every rival on the scenario's held-out episodes; `None` when
/// the scenario names no held-out tasks.
pub fn held_out_report(champion: &Program, sc: &Scenario) -> Result<Option<HeldOutReport>, String> {
    if sc.held_out.is_empty() {
        return Ok(None);
    }
    let root = analysis_root(sc);
    let budget = budget_in_units_of(sc.inner_budget, &sc.tasks, &sc.held_out)?;
    let episodes = Episodes::new(&sc.held_out, root, "held-out", sc.held_out_seeds)?;
    let champ = episodes.run(champion, budget);
    let (library, trivial): (Vec<Rival>, Vec<Rival>) = rivals().into_iter().partition(|r| !r.trivial);
    let count = library.len() + trivial.len();
    let versus_best = |kind: Vec<Rival>, seed: u64| -> Result<Versus, String> {
        let (rival, theirs) = best_rival(&episodes, kind, budget).ok_or("the library compiled to no rival")?;
        Ok(versus(&episodes, &champ, &rival.name, &theirs, seed))
    };
    Ok(Some(HeldOutReport {
        tasks: sc.held_out.clone(),
        per_task: sc.held_out_seeds,
        budget,
        rivals: count,
        library: versus_best(library, root)?,
        trivial: versus_best(trivial, root ^ 1)?,
    }))
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
    let per_task = (0..episodes.names.len())
        .map(|t| {
            let g: Vec<f64> = champ.iter().zip(&gains).filter(|(r, _)| r.task == t).map(|(_, g)| *g).collect();
            bootstrap_mean(&g, seed ^ (t as u64 + 1))
        })
        .collect();
    Versus {
        rival: rival.to_string(),
        champion_regret: median_regret(champ),
        rival_regret: median_regret(theirs),
        gain: bootstrap_mean(&gains, seed),
        per_task,
        wins: gains.iter().filter(|g| **g > 0.0).count(),
        ties: gains.iter().filter(|g| **g == 0.0).count(),
        episodes: gains.len(),
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
}
