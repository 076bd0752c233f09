//! Property tests of the mechanism language: the text syntax round-trips, every genetic
//! operator keeps genomes well-typed, the structural hash ignores cosmetic differences,
//! the interpreter always terminates inside its budget, and runs are deterministic.
//!
//! Genomes come from `ops::random_genome` (seeded by a proptest-drawn `u64`) and from
//! library mechanisms put through a few random mutations. Case counts are moderate so
//! the whole file runs in seconds in release mode.

use outerloop::genome::ast::{Expr, Genome, Op};
use outerloop::genome::check::check;
use outerloop::genome::hash::structural_hash;
use outerloop::genome::interp::Program;
use outerloop::genome::library::LIBRARY;
use outerloop::genome::ops::{self, Mutation};
use outerloop::genome::simplify::simplify;
use outerloop::genome::syntax::{parse, print};
use outerloop::genome::{Limits, load};
use outerloop::inner::run_inner;
use outerloop::inner::trace::{HealKind, Trace};
use outerloop::objective::Objective;
use outerloop::objective::bbob::BbobObjective;
use outerloop::objective::probe::Probe;
use outerloop::rng::Rng;
use proptest::prelude::*;
use rand::{RngExt, SeedableRng};

/// The BBOB task of the interpreter properties.
const BBOB_TASK: &str = "bbob-f3-i1-d3";

fn library() -> Vec<Genome> {
    LIBRARY.iter().map(|(n, t)| load(t, &Limits::default()).unwrap_or_else(|d| panic!("{n}: {d:?}"))).collect()
}

/// A random genome that may or may not pass the checker.
fn random_genome(seed: u64) -> Genome {
    let mut rng = Rng::seed_from_u64(seed);
    let depth = rng.random_range(1..=5);
    ops::random_genome(&mut rng, depth)
}

/// A random genome that passes the checker (redrawn from derived seeds until one does).
fn random_checked(seed: u64) -> Genome {
    let limits = Limits::default();
    (0..64u64)
        .map(|i| random_genome(seed.wrapping_add(i.wrapping_mul(0x9e37_79b9_7f4a_7c15))))
        .find(|g| check(g, &limits).is_empty())
        .unwrap_or_else(|| ops::random_genome(&mut Rng::seed_from_u64(seed), 1))
}

/// Library mechanism `index`, put through up to `steps` random mutations.
fn mutated_library(index: usize, seed: u64, steps: usize) -> Genome {
    let limits = Limits::default();
    let lib = library();
    let mut g = lib[index % lib.len()].clone();
    let mut rng = Rng::seed_from_u64(seed);
    for _ in 0..steps {
        let op = Mutation::ALL[rng.random_range(0..Mutation::ALL.len())];
        if let Some(c) = ops::mutate(&g, op, &mut rng, &limits) {
            g = c;
        }
    }
    g
}

/// An "evolved" genome: a random one crossed with a library mechanism, grafted and
/// mutated a few times, as the outer loop would produce them.
fn evolved(seed: u64, index: usize, steps: usize) -> Genome {
    let limits = Limits::default();
    let lib = library();
    let mut rng = Rng::seed_from_u64(seed ^ 0x5151_5151);
    let mut g = random_checked(seed);
    let donor = &lib[index % lib.len()];
    if let Some(c) = ops::crossover(&g, donor, &mut rng, &limits) {
        g = c;
    }
    if let Some(c) = ops::graft(&g, donor, &mut rng, &limits) {
        g = c;
    }
    for _ in 0..steps {
        let op = Mutation::ALL[rng.random_range(0..Mutation::ALL.len())];
        if let Some(c) = ops::mutate(&g, op, &mut rng, &limits) {
            g = c;
        }
    }
    g
}

/// Any kind of checked genome: random, mutated library, or evolved.
fn any_genome() -> impl Strategy<Value = Genome> {
    prop_oneof![
        any::<u64>().prop_map(random_checked),
        (0..LIBRARY.len(), any::<u64>(), 0..6usize).prop_map(|(i, s, n)| mutated_library(i, s, n)),
        (any::<u64>(), 0..LIBRARY.len(), 0..10usize).prop_map(|(s, i, n)| evolved(s, i, n)),
    ]
}

fn assert_checks(g: &Genome, what: &str) -> Result<(), TestCaseError> {
    let diags = check(g, &Limits::default());
    prop_assert!(diags.is_empty(), "{what} produced an ill-typed genome: {diags:?}\n{}", print(g));
    Ok(())
}

/// Rename the mechanism and every state variable (consistently, in every node).
fn renamed(g: &Genome) -> Genome {
    fn walk(e: &mut Expr) {
        if let Op::Get(n) | Op::Set(n) = &mut e.op {
            *n = format!("renamed-{n}");
        }
        e.args.iter_mut().for_each(walk);
    }
    let mut r = g.clone();
    r.name = format!("{}-renamed", g.name);
    for v in &mut r.state {
        v.name = format!("renamed-{}", v.name);
    }
    for root in [&mut r.init, &mut r.propose, &mut r.filter, &mut r.fidelity].into_iter().chain(r.update.iter_mut()) {
        walk(root);
    }
    r
}

/// Run `prog` on `objective` and check the trace's invariants.
fn run_and_check(prog: &Program, objective: &dyn Objective, seed: u64, budget: f64) -> Result<Trace, TestCaseError> {
    let trace = run_inner(prog, objective, seed, budget);
    prop_assert!(trace.outcome.spent <= budget + 1e-9, "spent {} of a budget of {budget}", trace.outcome.spent);
    let recount: f64 = trace.trials.iter().map(|t| t.cost).sum();
    prop_assert!(recount <= budget + 1e-9);
    prop_assert!(!trace.trials.is_empty());
    let dims = objective.space().dim();
    for t in &trace.trials {
        prop_assert_eq!(t.point.len(), dims);
        prop_assert!(t.point.iter().all(|x| (0.0..=1.0).contains(x)), "point outside the unit cube: {:?}", t.point);
        prop_assert!(t.score.is_finite());
        prop_assert!(t.level < objective.fidelities().len());
    }
    prop_assert_eq!(trace.live.evaluated.len(), prog.len());
    prop_assert_eq!(trace.live.reached.len(), prog.len());
    prop_assert_eq!(prog.len(), prog.genome().size());
    for (e, r) in trace.live.evaluated.iter().zip(&trace.live.reached) {
        prop_assert!(r <= e, "a node reached more decisions ({r}) than it was evaluated ({e})");
    }
    Ok(trace)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// (a) Random genomes (checked or not) print, parse back to the same genome, and
    /// print again to the same text.
    #[test]
    fn random_genomes_round_trip(seed in any::<u64>()) {
        let g = random_genome(seed);
        let text = print(&g);
        let parsed = parse(&text);
        prop_assert!(parsed.diagnostics.is_empty(), "{:?}\n{text}", parsed.diagnostics);
        let back = parsed.genome.expect("a genome");
        prop_assert_eq!(&back, &g);
        prop_assert_eq!(print(&back), text);
    }

    /// (a) Mutated library genomes round-trip too (evolved constants included).
    #[test]
    fn mutated_library_genomes_round_trip(i in 0..LIBRARY.len(), seed in any::<u64>(), steps in 1..12usize) {
        let g = mutated_library(i, seed, steps);
        let text = print(&g);
        let back = parse(&text).genome.expect("a genome");
        prop_assert_eq!(&back, &g);
        prop_assert_eq!(print(&back), text);
        // The checked loader accepts what the operators produced.
        prop_assert!(load(&print(&back), &Limits::default()).is_ok());
    }

    /// (b) Every mutation operator returns a well-typed genome within limits, or nothing.
    #[test]
    fn mutations_keep_genomes_well_typed(g in any_genome(), seed in any::<u64>()) {
        let limits = Limits::default();
        let mut rng = Rng::seed_from_u64(seed);
        for op in Mutation::ALL {
            if let Some(c) = ops::mutate(&g, op, &mut rng, &limits) {
                assert_checks(&c, op.name())?;
            }
        }
    }

    /// (b) Crossover and graft return well-typed genomes, or nothing.
    #[test]
    fn crossover_and_graft_keep_genomes_well_typed(a in any_genome(), b in any_genome(), seed in any::<u64>()) {
        let limits = Limits::default();
        let mut rng = Rng::seed_from_u64(seed);
        if let Some(c) = ops::crossover(&a, &b, &mut rng, &limits) {
            assert_checks(&c, "crossover")?;
        }
        if let Some(c) = ops::graft(&a, &b, &mut rng, &limits) {
            assert_checks(&c, "graft")?;
        }
    }

    /// (b) and (c): simplification keeps genomes well-typed, is idempotent and does not
    /// change the structural hash; neither does renaming the mechanism or its variables.
    #[test]
    fn simplify_is_idempotent_and_hash_stable(g in any_genome()) {
        let s = simplify(&g);
        assert_checks(&s, "simplify")?;
        prop_assert!(s.size() <= g.size());
        let twice = simplify(&s);
        prop_assert_eq!(&twice, &s);
        prop_assert_eq!(print(&twice), print(&s));
        let h = structural_hash(&g);
        prop_assert_eq!(h, structural_hash(&s));
        prop_assert_eq!(h, structural_hash(&renamed(&g)));
        prop_assert_eq!(h, structural_hash(&renamed(&s)));
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// (b) Pruning the genes a probe run never evaluated keeps the genome well-typed.
    #[test]
    fn prune_dead_keeps_genomes_well_typed(g in any_genome(), seed in any::<u64>()) {
        let prog = Program::compile(&g, Limits::default()).expect("checked genome");
        let trace = run_inner(&prog, &Probe::default(), seed, 6.0);
        let pruned = ops::prune_dead(&g, &trace.live.evaluated);
        assert_checks(&pruned, "prune_dead")?;
        prop_assert!(pruned.size() <= g.size());
    }

    /// (d) The interpreter terminates inside the budget on the probe and on BBOB, with
    /// default fuel and with so little fuel that most hook calls run dry and are healed.
    #[test]
    fn interpreter_terminates_inside_the_budget(g in any_genome(), seed in any::<u64>()) {
        let bbob = BbobObjective::from_name(BBOB_TASK).expect("a valid task name");
        let tiny = Limits { fuel_per_call: 5, fuel_per_trial: 0, ..Default::default() };
        for limits in [Limits::default(), tiny] {
            let prog = Program::compile(&g, limits).expect("checked genome");
            let a = run_and_check(&prog, &Probe::default(), seed, 6.0)?;
            run_and_check(&prog, &bbob, seed, 12.0)?;
            // (e) for evolved genomes too: a rerun gives the same trace.
            prop_assert_eq!(run_inner(&prog, &Probe::default(), seed, 6.0), a);
        }
    }
}

/// (d) With five units of fuel, a model-based mechanism runs dry in `propose` on every
/// trial after its initial design, and the loop still completes with fallback points.
#[test]
fn tiny_fuel_is_healed_not_fatal() {
    let g = load(outerloop::genome::library::library_text("tpe-density-ratio").unwrap(), &Limits::default()).unwrap();
    let prog = Program::compile(&g, Limits { fuel_per_call: 5, fuel_per_trial: 0, ..Default::default() }).unwrap();
    let bbob = BbobObjective::from_name(BBOB_TASK).unwrap();
    let trace = run_inner(&prog, &bbob, 7, 20.0);
    assert!(trace.outcome.spent <= 20.0 + 1e-9);
    assert!(trace.heals.iter().any(|h| h.kind == HealKind::OutOfFuel { hook: "propose" }), "{:?}", trace.heals);
    assert!(trace.trials.iter().all(|t| t.point.iter().all(|x| (0.0..=1.0).contains(x))));
}

/// (e) The same mechanism, task and seed give the same trace bit for bit, for every
/// library mechanism, on the probe and on BBOB.
#[test]
fn library_runs_are_deterministic() {
    let bbob = BbobObjective::from_name(BBOB_TASK).unwrap();
    let probe = Probe::default();
    let tasks: [(&dyn Objective, f64); 2] = [(&probe, 16.0), (&bbob, 40.0)];
    for g in library() {
        let prog = Program::compile(&g, Limits::default()).unwrap();
        for (task, budget) in tasks {
            for seed in [0, 1, 0xdead_beef] {
                let a = run_inner(&prog, task, seed, budget);
                let b = run_inner(&prog, task, seed, budget);
                assert_eq!(a, b, "{} on {}", g.name, task.name());
                let bits = |t: &Trace| -> Vec<u64> {
                    let mut v: Vec<u64> = t.trials.iter().flat_map(|x| x.point.iter().map(|c| c.to_bits())).collect();
                    v.extend(t.trials.iter().map(|x| x.score.to_bits()));
                    v.extend([t.outcome.final_score.to_bits(), t.outcome.auc.to_bits(), t.outcome.spent.to_bits()]);
                    v.extend(t.outcome.regret.map(f64::to_bits));
                    v
                };
                assert_eq!(bits(&a), bits(&b), "{} on {}", g.name, task.name());
                // A fresh compile of the same genome behaves the same as well.
                let again = Program::compile(&g, Limits::default()).unwrap();
                assert_eq!(run_inner(&again, task, seed, budget), a, "{} recompiled", g.name);
            }
            // Different seeds give different traces (the seed is actually used), except
            // for mechanisms whose first proposals do not draw random numbers.
            let a = run_inner(&prog, task, 0, budget);
            let b = run_inner(&prog, task, 1, budget);
            assert!(a != b || a.trials.is_empty(), "{} ignores its seed on {}", g.name, task.name());
        }
    }
}

/// (d) Random genomes from a wide range of depths, including ones the checker rejects at
/// the default limits but which fit looser limits, run without panics.
#[test]
fn deeper_random_genomes_run_under_loose_limits() {
    let loose = Limits { max_nodes: 2000, max_depth: 20, ..Default::default() };
    let probe = Probe::default();
    for seed in 0..48u64 {
        let mut rng = Rng::seed_from_u64(seed);
        let g = ops::random_genome(&mut rng, 6);
        let Ok(prog) = Program::compile(&g, loose) else { continue };
        let trace = run_inner(&prog, &probe, seed, 4.0);
        assert!(trace.outcome.spent <= 4.0 + 1e-9);
        assert_eq!(trace.live.evaluated.len(), prog.len());
    }
}
