//! `run_inner`: one mechanism driving trials on one objective under a compute budget.
//!
//! Each step: propose (or take the next initial-design point), snap to the space's
//! grid, filter (retrying propose on rejection), choose a fidelity, run the trial,
//! record it, run `update`. Genome faults and failed trials never abort the loop:
//! each is healed with a defined fallback and recorded in the trace.

use super::history::{History, Source, Trial};
use super::trace::{Heal, HealKind, Trace, outcome};
use crate::genome::interp::{Env, Machine, Program};
use crate::objective::{Objective, TrialStatus, fidelity_level};
use crate::rng;

/// Run `prog` on `objective` with `seed` until `budget` compute units are spent.
pub fn run_inner(prog: &Program, objective: &dyn Objective, seed: u64, budget: f64) -> Trace {
    let space = objective.space();
    let levels = objective.fidelities().to_vec();
    let dims = space.dim();
    let full_cost = objective.full_cost();
    let mut machine = Machine::new(prog, rng::stream(seed, "mechanism", &[]));
    let mut history = History::new(levels.len());
    let mut heals = Vec::new();
    let mut spent = 0.0;
    let cheapest = levels.first().copied().unwrap_or(1.0) * full_cost;
    let max_trials = 1_000_000usize;

    while spent + cheapest <= budget + 1e-9 && history.len() < max_trials {
        let trial_index = history.len();
        let env = Env { history: &history, dims, budget_used: (spent / budget).min(1.0), levels: &levels };
        let from_init = machine.in_init(prog);
        let mut source = if from_init { Source::Init } else { Source::Propose };
        let mut cand = Vec::new();
        let retries = prog.limits().max_filter_retries;
        for attempt in 0..=retries {
            cand = match machine.propose(prog, &env) {
                Ok(p) => space.snap(&p),
                Err(_) => {
                    heals.push(Heal { trial: trial_index, kind: HealKind::OutOfFuel { hook: "propose" } });
                    source = Source::Fallback;
                    space.snap(&machine.uniform_point(dims))
                }
            };
            if source == Source::Fallback {
                break;
            }
            match machine.filter(prog, &env, &cand) {
                Ok(true) => break,
                Ok(false) if attempt == retries => {
                    heals.push(Heal { trial: trial_index, kind: HealKind::FilterExhausted });
                }
                Ok(false) => {}
                Err(_) => {
                    heals.push(Heal { trial: trial_index, kind: HealKind::OutOfFuel { hook: "filter" } });
                    break;
                }
            }
        }
        machine.commit(prog);
        let requested = match machine.fidelity(prog, &env, &cand) {
            Ok(f) => f,
            Err(_) => {
                heals.push(Heal { trial: trial_index, kind: HealKind::OutOfFuel { hook: "fidelity" } });
                1.0
            }
        };
        let mut level = fidelity_level(&levels, requested);
        while level > 0 && spent + levels[level] * full_cost > budget + 1e-9 {
            level -= 1;
        }
        if level != fidelity_level(&levels, requested) {
            heals.push(Heal { trial: trial_index, kind: HealKind::FidelityLowered });
        }
        let config = space.decode(&cand);
        let result = objective.score(&config, levels[level], rng::derive(seed, "trial", &[trial_index as u64]));
        if result.status != TrialStatus::Ok {
            heals.push(Heal { trial: trial_index, kind: HealKind::TrialFailed });
        }
        // A cost of zero would let a broken objective loop forever; charge the level.
        let cost = if result.cost > 0.0 && result.cost.is_finite() { result.cost } else { levels[level] * full_cost };
        spent += cost;
        let score = if result.score.is_finite() { result.score } else { f64::MAX };
        history.push(Trial { point: cand, level, score, cost, status: result.status, improved: false, source });
        let env = Env { history: &history, dims, budget_used: (spent / budget).min(1.0), levels: &levels };
        if machine.update(prog, &env).is_err() {
            heals.push(Heal { trial: trial_index, kind: HealKind::OutOfFuel { hook: "update" } });
        }
    }

    let trials = history.trials().to_vec();
    let rule = prog.genome().recommend;
    let outcome =
        outcome(&trials, budget, objective.optimum(), rule, |t| objective.true_score(&space.decode(&t.point)));
    Trace { task: objective.name().to_string(), seed, budget, trials, heals, live: machine.live().clone(), outcome }
}
