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

use super::novelty::LibraryEntry;
use crate::genome::interp::Program;
use crate::objective::registry::Suite;
use crate::sim::episode_batch::EpisodeResult;
use crate::sim::episodes::{Episodes, held_out_task, median_regret};
use crate::sim::held_out::{best_rival, rivals};
use crate::stats::{Interval, bootstrap_mean};

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
    /// The trivial baseline compared with: a library mechanism pinned to the lowest
    /// fidelity (`NAME@lowest`), the best of them on the held-out tables.
    pub best_trivial: String,
    /// Median true regret of that trivial baseline.
    pub best_trivial_regret: f64,
    /// Champion's mean gain over that trivial baseline.
    pub champion_vs_best_trivial: Interval,
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

/// Results of a program on every episode of `eps`, split per task.
fn per_task(results: &[EpisodeResult], task: usize) -> Vec<&EpisodeResult> {
    results.iter().filter(|r| r.task == task).collect()
}

/// The champion's (`c`), reference's (`r`), best library mechanism's (`b`) and best
/// trivial baseline's (`z`) results on the same episodes.
type Results<'a> = (&'a [EpisodeResult], &'a [EpisodeResult], &'a [EpisodeResult], &'a [EpisodeResult]);

/// One row per task of `eps`; `names` = (best library, best trivial baseline).
fn task_rows(eps: &Episodes, (c, r, b, z): Results, names: (&str, &str), live: bool, seed: u64) -> Vec<HeldOutRow> {
    (0..eps.names.len())
        .map(|t| {
            let owned = |v: &[EpisodeResult]| per_task(v, t).into_iter().cloned().collect::<Vec<_>>();
            let (ct, rt, bt, zt) = (owned(c), owned(r), owned(b), owned(z));
            HeldOutRow {
                task: eps.names[t].clone(),
                live,
                episodes: ct.len(),
                champion_regret: median_regret(&ct),
                reference_regret: median_regret(&rt),
                champion_vs_reference: bootstrap_mean(&eps.gains(&ct, &rt), seed ^ t as u64),
                best_library: names.0.to_string(),
                best_library_regret: median_regret(&bt),
                champion_vs_best_library: bootstrap_mean(&eps.gains(&ct, &bt), seed ^ 0x5a5a ^ t as u64),
                best_trivial: names.1.to_string(),
                best_trivial_regret: median_regret(&zt),
                champion_vs_best_trivial: bootstrap_mean(&eps.gains(&ct, &zt), seed ^ 0x2e20 ^ t as u64),
            }
        })
        .collect()
}

/// Compute the section. `tables` are tabulated held-out episodes on which the caller
/// already ran the champion (`champ`) and every library mechanism (`lib_results[i]` for
/// `lib[i]`; the best of them is the comparison); the trivial baselines (each library
/// mechanism pinned to the lowest fidelity, `sim::held_out::rivals`) run here and the
/// best of them is the second comparison. `live` optional live episodes (champion,
/// reference and those two best only: live trials are expensive).
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
    let best = tables.lowest_mean_log_regret(lib_results);
    let best_name = lib.get(best).map(|l| l.name).unwrap_or_default();
    let best_results = lib_results.get(best).cloned().unwrap_or_default();
    let low = best_rival(tables, rivals().into_iter().filter(|r| r.trivial).collect(), budget);
    let low_name = low.as_ref().map(|(r, _)| r.name.as_str()).unwrap_or_default();
    let low_results = low.as_ref().map(|(_, v)| v.clone()).unwrap_or_default();
    let names = (best_name, low_name);
    let mut rows = task_rows(tables, (champ, &refr, &best_results, &low_results), names, false, seed);
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
            best_trivial: low_name.to_string(),
            best_trivial_regret: regrets(&low_results),
            champion_vs_best_trivial: bootstrap_mean(&tables.gains(champ, &low_results), seed ^ 0xa13),
        });
    }
    if let (Some(live), Some(best_prog), Some((low_prog, _))) = (live, lib.get(best), &low) {
        let c = live.run(champion, budget);
        let r = live.run(reference, budget);
        let b = live.run(&best_prog.program, budget);
        let z = live.run(&low_prog.program, budget);
        rows.extend(task_rows(live, (&c, &r, &b, &z), names, true, seed ^ 0x11fe));
    }
    HeldOut { how, budget, rows }
}
