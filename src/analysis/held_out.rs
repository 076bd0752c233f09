//! The champion on tasks it never saw: held-out tables (and live tasks), against the
//! run's reference and against the best library mechanism, with bootstrap intervals.
//!
//! Which tasks are held out: the run's scenario evolves on some tasks; for GPT tasks the
//! held-out set is the suite's held-out split (`suite:gpt-heldout`) minus anything the
//! run saw, for BBOB tasks the same functions on other instances. `analyze
//! --held-out LIST` overrides it and `--live TASK` adds live tasks.
//!
//! Budgets: the run's inner budget is converted to full-trial equivalents of its own
//! tasks, then to the held-out tasks' units, so a quickstart run (GFLOP on a 20-GFLOP
//! table) is evaluated with the same number of full trials on the suite's tables.

use serde::Serialize;

use super::episodes::{Episodes, held_out_task};
use super::novelty::LibraryEntry;
use crate::genome::interp::Program;
use crate::objective::registry::{Suite, objective_by_name};
use crate::sim::episode_batch::EpisodeResult;
use crate::stats::{Interval, bootstrap_mean, median};

/// The champion on one held-out task.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOutRow {
    /// Task name.
    pub task: String,
    /// Whether its trials are live (trained now) rather than tabulated.
    pub live: bool,
    /// Episodes.
    pub episodes: usize,
    /// Median true regret of the champion.
    pub champion_regret: f64,
    /// Median true regret of the reference.
    pub reference_regret: f64,
    /// Champion's mean gain over the reference (log10 regret ratio) with its interval.
    pub champion_vs_reference: Interval,
    /// The library mechanism compared with (best on the held-out tables).
    pub best_library: String,
    /// Median true regret of that library mechanism.
    pub best_library_regret: f64,
    /// Champion's mean gain over that library mechanism.
    pub champion_vs_best_library: Interval,
}

/// The held-out section.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HeldOut {
    /// How the tasks were chosen.
    pub how: String,
    /// Budget per episode on the held-out tasks (their units).
    pub budget: f64,
    /// One row per task, then a pooled row over every tabulated task (`task` = "all tables").
    pub rows: Vec<HeldOutRow>,
}

/// The default held-out tasks of a run with `tasks`, and how they were chosen.
pub fn default_held_out(tasks: &[String]) -> (Vec<String>, String) {
    let gpt = tasks.iter().any(|t| t.starts_with("gpt-"));
    if gpt {
        let held: Vec<String> = Suite::GptHeldOut.tasks().into_iter().filter(|t| !tasks.contains(t)).collect();
        if !held.is_empty() {
            return (held, "the suite's held-out tables (suite:gpt-heldout), never seen by the run".into());
        }
    }
    let held: Vec<String> = tasks.iter().map(|t| held_out_task(t).0).collect();
    (held, "BBOB: instance + 100; other tasks: same task, fresh seeds".into())
}

/// Budget on `held` equal in full trials to `budget` on the run's `tasks`.
pub fn held_out_budget(budget: f64, tasks: &[String], held: &[String]) -> Result<f64, String> {
    let full = |names: &[String]| -> Result<f64, String> {
        let costs = names
            .iter()
            .map(|n| objective_by_name(n).map(|o| o.full_cost()).map_err(|e| e.to_string()))
            .collect::<Result<Vec<f64>, String>>()?;
        Ok(costs.iter().sum::<f64>() / costs.len().max(1) as f64)
    };
    let held_costs: Vec<f64> = held
        .iter()
        .map(|n| objective_by_name(n).map(|o| o.full_cost()).map_err(|e| e.to_string()))
        .collect::<Result<_, _>>()?;
    if held_costs.windows(2).any(|w| w[0] != w[1]) {
        return Err("the held-out tasks count budgets in different units; analyse them separately".into());
    }
    Ok(budget / full(tasks)? * held_costs.first().copied().unwrap_or(1.0))
}

/// Results of a program on every episode of `eps`, split per task.
fn per_task(results: &[EpisodeResult], task: usize) -> Vec<&EpisodeResult> {
    results.iter().filter(|r| r.task == task).collect()
}

/// One row per task of `eps` from the champion's (`c`), reference's (`r`) and best
/// library mechanism's (`b`) results on the same episodes.
fn task_rows(
    eps: &Episodes,
    (c, r, b): (&[EpisodeResult], &[EpisodeResult], &[EpisodeResult]),
    best_library: &str,
    live: bool,
    seed: u64,
) -> Vec<HeldOutRow> {
    (0..eps.names.len())
        .map(|t| {
            let owned = |v: &[EpisodeResult]| per_task(v, t).into_iter().cloned().collect::<Vec<_>>();
            let (ct, rt, bt) = (owned(c), owned(r), owned(b));
            HeldOutRow {
                task: eps.names[t].clone(),
                live,
                episodes: ct.len(),
                champion_regret: median_regret(&ct),
                reference_regret: median_regret(&rt),
                champion_vs_reference: bootstrap_mean(&eps.gains(&ct, &rt), seed ^ t as u64),
                best_library: best_library.to_string(),
                best_library_regret: median_regret(&bt),
                champion_vs_best_library: bootstrap_mean(&eps.gains(&ct, &bt), seed ^ 0x5a5a ^ t as u64),
            }
        })
        .collect()
}

fn median_regret(v: &[EpisodeResult]) -> f64 {
    median(&v.iter().map(|x| x.regret).collect::<Vec<_>>())
}

/// Compute the section. `tables` are tabulated held-out episodes on which the caller
/// already ran the champion (`champ`) and every library mechanism (`lib_results[i]` for
/// `lib[i]`; the best of them is the comparison), `live` optional live episodes
/// (champion, reference and that best library mechanism only: live trials are expensive).
#[expect(clippy::too_many_arguments, reason = "the section's inputs are all distinct")]
pub fn held_out(
    (champion, champ): (&Program, &[EpisodeResult]),
    reference: &Program,
    lib: &[LibraryEntry],
    lib_results: &[Vec<EpisodeResult>],
    tables: &Episodes,
    live: Option<&Episodes>,
    budget: f64,
    how: String,
    seed: u64,
) -> HeldOut {
    let refr = tables.run(reference, budget);
    let best = super::novelty::best_library(tables, lib_results);
    let best_name = lib.get(best).map(|l| l.name).unwrap_or_default();
    let best_results = lib_results.get(best).cloned().unwrap_or_default();
    let mut rows = task_rows(tables, (champ, &refr, &best_results), best_name, false, seed);
    if tables.names.len() > 1 {
        let regrets = median_regret;
        rows.push(HeldOutRow {
            task: "all tables".into(),
            live: false,
            episodes: champ.len(),
            champion_regret: regrets(champ),
            reference_regret: regrets(&refr),
            champion_vs_reference: bootstrap_mean(&tables.gains(champ, &refr), seed ^ 0xa11),
            best_library: best_name.to_string(),
            best_library_regret: regrets(&best_results),
            champion_vs_best_library: bootstrap_mean(&tables.gains(champ, &best_results), seed ^ 0xa12),
        });
    }
    if let (Some(live), Some(best_prog)) = (live, lib.get(best)) {
        let c = live.run(champion, budget);
        let r = live.run(reference, budget);
        let b = live.run(&best_prog.program, budget);
        rows.extend(task_rows(live, (&c, &r, &b), best_name, true, seed ^ 0x11fe));
    }
    HeldOut { how, budget, rows }
}
