//! `run_inner`: one mechanism driving trials on one objective under a compute budget.
//!
//! Each step: propose (or take the next initial-design point), snap to the space's
//! grid, filter (retrying propose on rejection), choose a fidelity, run the trial,
//! record it, run `update`. Under [`FaultPolicy::SelfHealing`] (the default) genome faults
//! and failed trials never abort the loop: each is healed with a defined fallback and
//! recorded in the trace. Under [`FaultPolicy::CrashOnFault`] the first out-of-fuel hook
//! or failed trial ends the episode (see [`run_inner_with`]).

use rand::RngExt;

use super::study::Study;
use super::trace::{Crash, Heal, HealKind, Trace};
use crate::genome::interp::{Env, Machine, Program};
use crate::history::Source;
use crate::objective::{Objective, TrialStatus};
use crate::rng;

/// How the inner loop meets a genome fault (a hook out of fuel) or a failed trial
/// (diverged or invalid). A filter that never accepts and a fidelity lowered to fit the
/// budget are normal behaviour under both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum FaultPolicy {
    /// Heal every fault with a defined fallback and go on (the default).
    #[default]
    SelfHealing,
    /// No self-healing: the first fault crashes the episode, which is scored on the
    /// trials run so far (an untuned random config when none succeeded).
    CrashOnFault,
}

impl FaultPolicy {
    /// The mode of the scenario key `[inner] self_heal`.
    pub fn from_self_heal(self_heal: bool) -> Self {
        if self_heal { FaultPolicy::SelfHealing } else { FaultPolicy::CrashOnFault }
    }

    /// Lower-case name for reports.
    pub fn name(self) -> &'static str {
        match self {
            FaultPolicy::SelfHealing => "self-healing",
            FaultPolicy::CrashOnFault => "crash-on-fault",
        }
    }
}

pub use super::study::{MAX_TRIALS, cheapest_trial, max_budget};

/// Run `prog` on `objective` with `seed` until `budget` compute units are spent,
/// healing every fault ([`FaultPolicy::SelfHealing`]).
pub fn run_inner(prog: &Program, objective: &dyn Objective, seed: u64, budget: f64) -> Trace {
    run_inner_with(prog, objective, seed, budget, FaultPolicy::SelfHealing)
}

/// Run `prog` on `objective` with `seed` until `budget` compute units are spent, meeting
/// faults as `execution` says.
///
/// Under [`FaultPolicy::CrashOnFault`] the first out-of-fuel hook (propose, filter,
/// fidelity, update) or failed trial stops the loop with the budget unspent; the trace
/// records the [`Crash`], a failed trial stays in the history as failed, and the outcome
/// is computed over the trials run so far. When no trial succeeded, the episode hands in
/// an untuned config: one uniformly random point (stream `crash-fallback`), snapped and
/// trained at full fidelity, pushed as a [`Source::Fallback`] trial, so the regret stays
/// finite.
pub fn run_inner_with(
    prog: &Program,
    objective: &dyn Objective,
    seed: u64,
    budget: f64,
    execution: FaultPolicy,
) -> Trace {
    let space = objective.space();
    let levels = objective.fidelities().to_vec();
    let dims = space.dim();
    let mut machine = Machine::new(prog, rng::stream(seed, "mechanism", &[]));
    let mut study = Study::new(objective, seed, budget);
    let mut heals = Vec::new();
    let mut crash = None;
    let mut work_spent = false;
    let crash_on_fault = execution == FaultPolicy::CrashOnFault;

    'trials: while study.can_afford() {
        let trial_index = study.history().len();
        // A fault: healed (recorded, the caller applies the fallback) or the crash.
        macro_rules! fault {
            ($kind:expr) => {{
                let kind = $kind;
                if crash_on_fault {
                    crash = Some(Crash { trial: trial_index, fault: kind });
                    break 'trials;
                }
                heals.push(Heal { trial: trial_index, kind });
            }};
        }
        let env = Env { history: study.history(), dims, budget_used: study.budget_used(), levels: &levels };
        let from_init = machine.in_init(prog);
        let mut source = if from_init { Source::Init } else { Source::Propose };
        let mut cand = Vec::new();
        let retries = prog.limits().max_filter_retries;
        for attempt in 0..=retries {
            cand = match machine.propose(prog, &env) {
                Ok(p) => space.snap(&p),
                Err(_) => {
                    fault!(HealKind::OutOfFuel { hook: "propose" });
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
                    fault!(HealKind::OutOfFuel { hook: "filter" });
                    break;
                }
            }
        }
        machine.commit(prog);
        let requested = match machine.fidelity(prog, &env, &cand) {
            Ok(f) => f,
            Err(_) => {
                fault!(HealKind::OutOfFuel { hook: "fidelity" });
                1.0
            }
        };
        let grant = study.ask(requested);
        if grant.lowered {
            heals.push(Heal { trial: trial_index, kind: HealKind::FidelityLowered });
        }
        let (trial, _) = study.evaluate(cand, grant.level, source);
        if trial.status != TrialStatus::Ok {
            fault!(HealKind::TrialFailed);
        }
        let env = Env { history: study.history(), dims, budget_used: study.budget_used(), levels: &levels };
        if machine.update(prog, &env).is_err() {
            fault!(HealKind::OutOfFuel { hook: "update" });
        }
        if machine.work_exhausted() && !work_spent {
            work_spent = true;
            heals.push(Heal { trial: trial_index, kind: HealKind::WorkBoundSpent });
        }
    }

    if crash.is_some() && !study.history().trials().iter().any(|t| t.status == TrialStatus::Ok) {
        // The untuned config is handed in whatever the budget left: at full fidelity.
        let mut draw = rng::stream(seed, "crash-fallback", &[]);
        let point: Vec<f64> = (0..dims).map(|_| draw.random::<f64>()).collect();
        let top = levels.len().saturating_sub(1);
        study.evaluate(space.snap(&point), top, Source::Fallback);
    }

    let outcome = study.outcome(prog.genome().recommend);
    Trace {
        task: objective.name().to_string(),
        seed,
        budget,
        trials: study.history().trials().to_vec(),
        heals,
        crash,
        live: machine.live().clone(),
        outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::{Limits, load};
    use crate::objective::bbob::BbobObjective;

    /// 64 candidates a call, each scored by a density ratio over the whole history: a
    /// call's fuel of 50,000 runs out once the history holds about 190 trials.
    const HUNGRY: &str = "(mechanism hungry (propose (best-of 64 (density-ratio 0.2) (uniform))))";

    fn program(text: &str, limits: Limits) -> Program {
        Program::compile(&load(text, &Limits::default()).unwrap(), limits).unwrap()
    }

    #[test]
    fn a_late_fuel_fault_is_healed_or_crashes_the_episode() {
        let prog = program(HUNGRY, Limits { fuel_per_call: 50_000, fuel_per_trial: 0, ..Limits::default() });
        let task = BbobObjective::from_name("bbob-f1-i1-d2").unwrap();
        let healed = run_inner(&prog, &task, 3, 400.0);
        assert_eq!(healed, run_inner_with(&prog, &task, 3, 400.0, FaultPolicy::SelfHealing));
        let out_of_fuel = HealKind::OutOfFuel { hook: "propose" };
        let first = healed.heals.iter().find(|h| h.kind == out_of_fuel).expect("the history outgrows the fuel").trial;
        assert!(first > 100, "the fault comes late, at trial {first}");
        assert_eq!((healed.crash.as_ref(), healed.trials.len()), (None, 400));

        let crashed = run_inner_with(&prog, &task, 3, 400.0, FaultPolicy::CrashOnFault);
        assert_eq!(crashed.crash, Some(Crash { trial: first, fault: out_of_fuel }));
        // The same trials up to the fault, then nothing: the rest of the budget is unspent.
        assert_eq!(crashed.trials[..], healed.trials[..first]);
        assert!(crashed.heals.is_empty(), "{:?}", crashed.heals);
        assert_eq!(crashed.outcome.spent, first as f64);
        assert!(crashed.trials.iter().all(|t| t.source != Source::Fallback));
        // Scored on what it has, as usual.
        let regret = crashed.outcome.regret.unwrap();
        assert!(regret.is_finite() && regret >= 0.0);
        assert!(crashed.summary().contains("crashed at trial"));
    }

    #[test]
    fn a_crash_before_any_success_hands_in_one_random_config() {
        // Ten units of fuel: `propose` runs dry on the very first call.
        let prog = program(HUNGRY, Limits { fuel_per_call: 10, fuel_per_trial: 0, ..Limits::default() });
        let task = BbobObjective::from_name("bbob-f8-i1-d5").unwrap();
        let healed = run_inner(&prog, &task, 5, 30.0);
        assert_eq!(healed.trials.len(), 30);
        let crashed = run_inner_with(&prog, &task, 5, 30.0, FaultPolicy::CrashOnFault);
        assert_eq!(crashed.crash, Some(Crash { trial: 0, fault: HealKind::OutOfFuel { hook: "propose" } }));
        assert_eq!(crashed.trials.len(), 1);
        let t = &crashed.trials[0];
        assert_eq!((t.source, t.status, t.level), (Source::Fallback, TrialStatus::Ok, task.fidelities().len() - 1));
        let mut draw = rng::stream(5, "crash-fallback", &[]);
        let point: Vec<f64> = (0..5).map(|_| draw.random::<f64>()).collect();
        assert_eq!(t.point, task.space().snap(&point));
        assert_eq!(crashed.outcome.recommended, Some(0));
        assert!(crashed.outcome.regret.unwrap().is_finite());
    }

    #[test]
    fn a_failed_trial_crashes_the_episode_and_stays_in_the_history() {
        let prog = program("(mechanism u (propose (uniform)))", Limits::default());
        let task = crate::objective::registry::objective_by_name("bbob-f1-i1-d2+diverge0.3").unwrap();
        let (mut late, mut first_trial) = (false, false);
        for seed in 0..40 {
            let healed = run_inner(&prog, task.as_ref(), seed, 30.0);
            let first = healed.trials.iter().position(|t| t.status == TrialStatus::Diverged).unwrap();
            assert!(healed.heals.contains(&Heal { trial: first, kind: HealKind::TrialFailed }));
            let crashed = run_inner_with(&prog, task.as_ref(), seed, 30.0, FaultPolicy::CrashOnFault);
            assert_eq!(crashed.crash, Some(Crash { trial: first, fault: HealKind::TrialFailed }));
            assert_eq!(crashed.trials[..=first], healed.trials[..=first]);
            assert!(crashed.outcome.regret.unwrap().is_finite());
            if first > 0 {
                // Successful trials before it: scored on those, nothing added.
                late = true;
                assert_eq!(crashed.trials.len(), first + 1);
                assert_eq!(
                    crashed.outcome.final_score,
                    task.true_score(&task.space().decode(&crashed.trials[crashed.outcome.recommended.unwrap()].point))
                        .unwrap()
                );
            } else {
                // The very first trial failed: one untuned config is handed in.
                first_trial = true;
                assert_eq!(crashed.trials.len(), 2);
                assert_eq!(crashed.trials[1].source, Source::Fallback);
            }
        }
        assert!(late && first_trial, "both cases occur among the seeds");
    }
}
