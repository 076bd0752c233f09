//! Interpreter overhead per proposal for every library mechanism.
//!
//! For each mechanism, each history size (100 and 1,000 trials) and each kind of history
//! (uniform random points on a 5-D BBOB function, either all at full fidelity, as a
//! single-fidelity optimiser builds it, or with fidelity levels mixed the way
//! asynchronous successive halving mixes them: promoted points re-evaluated at higher
//! levels), the mechanism's proposal step exactly as `run_inner` drives it (propose,
//! snap, filter with retries, commit, fidelity, then update after the trial), on a fresh
//! machine and a fresh clone of that history per batch of proposals (a fifth of the
//! history). Only the step is timed: the trial between
//! propose and update (objective and history push) runs outside the timed sections, so
//! the history grows as in a real run and every code path (promotions included) is hit.
//!
//! Run with `cargo bench --bench interpreter` (add `-- --quick` for a shorter run).
//! Goals: under 10 µs for simple mechanisms, under 1 ms for model-based ones, under 5 ms
//! for the Gaussian-process one (its fit is cubic in the trials it learns from).

#![expect(clippy::print_stdout, reason = "a benchmark prints its numbers")]

use std::hint::black_box;
use std::time::{Duration, Instant};

use outerloop::genome::interp::{Env, Machine, Program};
use outerloop::genome::library::LIBRARY;
use outerloop::genome::{Limits, load};
use outerloop::history::{History, Source, Trial};
use outerloop::objective::bbob::BbobObjective;
use outerloop::objective::{Objective, fidelity_level};
use outerloop::rng::{self, Rng};
use rand::{RngExt, SeedableRng};

/// The task the history is drawn from.
const TASK: &str = "bbob-f8-i1-d5";
/// Trials in the prepared histories.
const HISTORIES: [usize; 2] = [100, 1000];
/// Proposals per timed batch, as a fraction of the history (1,000 grows to 1,200).
const STEPS_PER_TRIAL: f64 = 0.2;
/// Mechanisms that fit a model to the history or adapt a distribution on every proposal
/// (goal: under 1 ms).
const MODEL_BASED: &[&str] = &["tpe-density-ratio", "cross-entropy", "cma-es", "knn-ei", "bohb", "dehb", "asha-curve"];
/// Mechanisms built on a Gaussian process (goal: under 5 ms).
const GP_BASED: &[&str] = &["gp-ei"];
/// Goal for simple mechanisms, in µs per proposal.
const SIMPLE_GOAL_US: f64 = 10.0;
/// Goal for model-based mechanisms, in µs per proposal.
const MODEL_GOAL_US: f64 = 1000.0;
/// Goal for Gaussian-process mechanisms, in µs per proposal.
const GP_GOAL_US: f64 = 5000.0;

/// A history of `n` trials: uniform random points, all at full fidelity unless `mixed`;
/// when `mixed`, at the lowest fidelity, and whenever a rung holds three times more
/// trials than the next one (plus one), its best unpromoted point re-evaluated one level up.
fn build_history(objective: &dyn Objective, n: usize, seed: u64, mixed: bool) -> History {
    let levels = objective.fidelities();
    let space = objective.space();
    let mut history = History::new(levels.len());
    let mut rng = Rng::seed_from_u64(seed);
    for i in 0..n {
        let promotion = (0..levels.len() - 1).filter(|_| mixed).find_map(|l| {
            if history.rung(l).len() <= 3 * (history.rung(l + 1).len() + 1) {
                return None;
            }
            history
                .rung(l)
                .iter()
                .map(|&j| &history.trials()[j as usize])
                .filter(|t| history.max_level_of(&t.point) == Some(l))
                .min_by(|a, b| a.score.total_cmp(&b.score))
                .map(|t| (t.point.clone(), l + 1))
        });
        let (point, level) = promotion.unwrap_or_else(|| {
            let u: Vec<f64> = (0..space.dim()).map(|_| rng.random::<f64>()).collect();
            (space.snap(&u), if mixed { 0 } else { levels.len() - 1 })
        });
        let result = objective.score(&space.decode(&point), levels[level], rng::derive(seed, "trial", &[i as u64]));
        history.push(Trial {
            point,
            level,
            score: result.score,
            cost: result.cost,
            status: result.status,
            improved: false,
            source: Source::Propose,
        });
    }
    history
}

/// The part of a step before the trial, as `run_inner` takes it: propose, snap, filter
/// (retrying propose on rejection), commit, fidelity. Returns the candidate and fidelity.
fn propose_step(machine: &mut Machine, prog: &Program, env: &Env, objective: &dyn Objective) -> (Vec<f64>, f64) {
    let space = objective.space();
    let mut cand = Vec::new();
    for _ in 0..=prog.limits().max_filter_retries {
        cand = match machine.propose(prog, env) {
            Ok(p) => space.snap(&p),
            Err(_) => {
                cand = space.snap(&machine.uniform_point(env.dims));
                break;
            }
        };
        match machine.filter(prog, env, &cand) {
            Ok(false) => {}
            Ok(true) | Err(_) => break,
        }
    }
    machine.commit(prog);
    let fidelity = machine.fidelity(prog, env, &cand).unwrap_or(1.0);
    (cand, fidelity)
}

/// Cost of one pair of `Instant` readings, subtracted from every timed section.
fn timer_overhead() -> f64 {
    let n = 100_000;
    let mut total = Duration::ZERO;
    for _ in 0..n {
        let t = Instant::now();
        total += black_box(t).elapsed();
    }
    total.as_secs_f64() / f64::from(n)
}

/// Mean µs per proposal: batches of `steps` proposals, each batch on a fresh machine and
/// a fresh clone of `base`. The trial itself (objective and history push) runs between
/// the timed sections, so the history grows as in a real run; the initial design is not
/// timed (it is `init`, not `propose`).
fn time_mechanism(prog: &Program, base: &History, objective: &dyn Objective, steps: usize, min_time: Duration) -> f64 {
    let levels = objective.fidelities();
    let dims = objective.space().dim();
    let overhead = timer_overhead();
    let (mut total, mut timed, mut batch) = (0.0, 0usize, 0u64);
    while batch < 3 || Duration::from_secs_f64(total) < min_time {
        let mut history = base.clone();
        let mut machine = Machine::new(prog, Rng::seed_from_u64(batch));
        let mut taken = 0;
        while taken < steps {
            let in_init = machine.in_init(prog);
            let env = Env { history: &history, dims, budget_used: 0.5, levels };
            let start = Instant::now();
            let (point, fidelity) = black_box(propose_step(&mut machine, prog, &env, objective));
            let proposing = start.elapsed().as_secs_f64();

            let level = fidelity_level(levels, fidelity);
            let seed = rng::derive(batch, "trial", &[history.len() as u64]);
            let result = objective.score(&objective.space().decode(&point), levels[level], seed);
            history.push(Trial {
                point,
                level,
                score: result.score,
                cost: result.cost,
                status: result.status,
                improved: false,
                source: Source::Propose,
            });

            let env = Env { history: &history, dims, budget_used: 0.5, levels };
            let start = Instant::now();
            let _ = black_box(machine.update(prog, &env));
            let updating = start.elapsed().as_secs_f64();
            if !in_init {
                total += (proposing + updating - 2.0 * overhead).max(0.0);
                timed += 1;
                taken += 1;
            }
        }
        batch += 1;
    }
    total * 1e6 / timed as f64
}

fn goal_us(name: &str) -> f64 {
    if GP_BASED.contains(&name) {
        GP_GOAL_US
    } else if MODEL_BASED.contains(&name) {
        MODEL_GOAL_US
    } else {
        SIMPLE_GOAL_US
    }
}

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let min_time = Duration::from_millis(if quick { 50 } else { 400 });
    let objective = BbobObjective::from_name(TASK).expect("a valid BBOB task");
    let mut misses = 0;
    for (trials, mixed) in HISTORIES.iter().flat_map(|&n| [(n, false), (n, true)]) {
        let history = build_history(&objective, trials, 1, mixed);
        let steps = (trials as f64 * STEPS_PER_TRIAL) as usize;
        let rungs: Vec<usize> = (0..history.levels()).map(|l| history.rung(l).len()).collect();
        println!(
            "interpreter overhead per proposal: {TASK}, history of {trials} trials (per fidelity level {rungs:?})"
        );
        println!(
            "step = propose + snap + filter (with retries) + commit + fidelity + update; trial itself excluded; {steps} steps per fresh clone\n"
        );
        println!("{:<24} {:>12} {:>10}  verdict", "mechanism", "µs/proposal", "goal µs");
        for (name, text) in LIBRARY {
            let genome = load(text, &Limits::default()).unwrap_or_else(|d| panic!("library mechanism {name}: {d:?}"));
            let prog = Program::compile(&genome, Limits::default()).unwrap_or_else(|d| panic!("{name}: {d:?}"));
            let us = time_mechanism(&prog, &history, &objective, steps, min_time);
            let goal = goal_us(name);
            let verdict = if us < goal { "ok" } else { "OVER GOAL" };
            misses += usize::from(us >= goal);
            println!("{name:<24} {us:>12.2} {goal:>10.0}  {verdict}");
        }
        println!();
    }
    println!(
        "goal: under {SIMPLE_GOAL_US} µs for simple mechanisms, under {MODEL_GOAL_US} µs for model-based ones ({}), under {GP_GOAL_US} µs for {}; {misses} over goal",
        MODEL_BASED.join(", "),
        GP_BASED.join(", ")
    );
}
