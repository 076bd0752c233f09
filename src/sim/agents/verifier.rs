//! The verifier: re-runs would-be elites on the shared verification seeds (never used
//! by any claim, the same for every mechanism, so elites are compared episode by
//! episode),
//! checks that a claim episode re-runs bit for bit, audits live genes (genes that never
//! fired are reported and simplified away), and replaces claimed by verified fitness.

use std::ops::Range;

use bevy_ecs::prelude::*;

use crate::genome::Program;
use crate::genome::ops::prune_dead;
use crate::inner::trace::gene_report;
use crate::sim::components::{AgentKind, Fitness, Lineage, MechId, Mechanism, Status, Traits};

use crate::sim::credit::credit_child;
use crate::sim::evaluator::{Evaluator, sum_live};
use crate::sim::events::{Event, LessonKind};
use crate::sim::operators::MadeBy;
use crate::sim::resources::{AgentYield, Metrics, OperatorStats, Settings};
use crate::sim::seeds::{SeedKind, claim_episodes, episode_blocks};
use crate::sim::spawn::{Birth, Births, novelty, parent_info, prepare};
use crate::stats::mean_sd;

/// One mechanism's verification this tick: which blocks of verification seeds it runs.
struct Plan {
    entity: Entity,
    id: u64,
    program: Program,
    blocks: Range<u32>,
    episodes: Vec<(usize, u64)>,
}

/// What the verifier reads and writes on each mechanism.
type VerifyRow<'a> = (Entity, &'a MechId, &'a mut Mechanism, &'a mut Status, &'a mut Fitness, &'a Lineage, &'a Traits);

/// The verifier system.
pub fn verify(
    mut births: Births,
    cfg: Res<Settings>,
    mut evaluator: ResMut<Evaluator>,
    mut metrics: ResMut<Metrics>,
    mut stats: ResMut<OperatorStats>,
    mut yields: ResMut<AgentYield>,
    mut q: Query<VerifyRow>,
) {
    let sc = &cfg.0;
    metrics.tick_gaps.clear();
    if !sc.verifier_enabled || sc.verify_per_tick == 0 {
        return;
    }
    // The verified mechanisms, best first: the elite a candidate would displace, and the
    // elites whose verification may be extended.
    let ntasks = evaluator.tasks().len();
    let mut elites: Vec<(Entity, u64, f64, Option<f64>, u32)> = q
        .iter()
        .filter(|r| *r.3 == Status::Verified)
        .filter_map(|r| {
            let f = &r.4;
            Some((r.0, r.1.0, f.verified?, f.claimed, (f.verified_episodes.len() / ntasks.max(1)) as u32))
        })
        .collect();
    elites.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    // Like with like: a candidate's claim is compared with the claim (same claim seeds)
    // of the elite it would displace, the k-th best verified mechanism. Verification and
    // claim seeds are different episode sets, so a claim is never compared with a
    // verified value (their difficulty differs systematically).
    let k = sc.elites.max(1);
    let threshold = elites.iter().filter_map(|e| e.3).nth(k - 1).unwrap_or(f64::NEG_INFINITY);
    let mut candidates: Vec<(Entity, u64, f64)> = q
        .iter()
        .filter(|r| *r.3 == Status::Evaluated)
        .filter_map(|(e, id, _, _, f, _, _)| Some((e, id.0, f.claimed?)))
        .filter(|c| c.2 > threshold)
        .collect();
    candidates.sort_by(|a, b| b.2.total_cmp(&a.2).then(a.1.cmp(&b.1)));
    candidates.truncate(sc.verify_per_tick);
    let claim = claim_episodes(sc.seed, ntasks, sc.inner_seeds);
    let plan = |entity: Entity, id: u64, blocks: Range<u32>| {
        let program = q.get(entity).ok()?.2.program.clone();
        let episodes = episode_blocks(sc.seed, SeedKind::Verify, ntasks, blocks.clone());
        Some(Plan { entity, id, program, blocks, episodes })
    };
    let mut plans: Vec<Plan> =
        candidates.iter().filter_map(|&(entity, id, _)| plan(entity, id, 0..sc.verify_seeds)).collect();
    // Slots no candidate needs go to the closest decision the run makes: which elite is
    // the champion. The best verified elites get another `verify_seeds` blocks (up to
    // `verifier.max_rounds` times the first verification), so a lucky verification regresses
    // before it is crowned.
    for &(entity, id, _, _, blocks) in elites.iter().take(k) {
        if plans.len() >= sc.verify_per_tick {
            break;
        }
        if blocks >= sc.verify_rounds * sc.verify_seeds {
            continue;
        }
        plans.extend(plan(entity, id, blocks..blocks + sc.verify_seeds));
    }
    if plans.is_empty() {
        return;
    }
    for plan in &plans {
        match evaluator.ensure_reference(&plan.episodes) {
            Ok(spent) => metrics.compute += spent,
            Err(failure) => return evaluator.fail(failure),
        }
    }
    // Fresh episodes plus the first claim episode (integrity re-run) for each candidate.
    let jobs: Vec<(&Program, usize, u64)> = plans
        .iter()
        .flat_map(|p| p.episodes.iter().chain(claim.first()).map(move |&(t, s)| (&p.program, t, s)))
        .collect();
    let results = match evaluator.run(&jobs) {
        Ok(results) => results,
        Err(failure) => return evaluator.fail(failure),
    };
    let mut offset = 0;
    for Plan { entity, id, blocks, episodes: fresh, .. } in plans {
        let chunk = &results[offset..offset + fresh.len()];
        let rerun = &results[offset + fresh.len()];
        offset += fresh.len() + 1;
        metrics.compute += chunk.iter().chain(std::iter::once(rerun)).map(|r| r.spent).sum::<f64>();
        let Ok((_, _, mut mechanism, mut status, mut fitness, lineage, traits)) = q.get_mut(entity) else { continue };
        let extension = blocks.start > 0;
        let mut g = evaluator.gains(chunk);
        if extension {
            g.splice(0..0, fitness.verified_episodes.iter().copied());
        }
        let spread = mean_sd(&g).1;
        let value = sc.aggregate.fitness(&g, ntasks);
        let claimed = fitness.claimed.unwrap_or(f64::NAN);
        let rerun_gain = evaluator.gains(std::slice::from_ref(rerun))[0];
        let integrity = fitness.claimed_episodes.first().is_some_and(|c| c.to_bits() == rerun_gain.to_bits());
        fitness.verified = Some(value);
        fitness.verified_episodes = g;
        *status = Status::Verified;
        metrics.tick_gaps.push(claimed - value);
        births.events.0.push(Event::Verified {
            tick: births.clock.tick,
            id,
            claimed,
            verified: value,
            spread,
            gap: claimed - value,
            integrity,
        });
        if extension {
            continue;
        }
        metrics.verified_mechanisms += 1;
        // A verified win: the child's verified fitness beats its parent's fitness at
        // birth. Operator credit and the agents' yields count these, not claims.
        if lineage.parent_fitness.is_some_and(|p| value > p) {
            credit_child(&mut stats, &mut yields, lineage, |c| c.wins += 1);
        }
        let live = sum_live(chunk);
        let dead: Vec<String> =
            gene_report(&mechanism.genome, &live).into_iter().filter(|r| !r.is_live()).map(|r| r.text).collect();
        if dead.is_empty() {
            continue;
        }
        births.events.0.push(Event::DeadGenes { tick: births.clock.tick, id, genes: dead });
        let pruned = prune_dead(&mechanism.genome, &live.evaluated);
        if pruned == mechanism.genome {
            continue;
        }
        let Some(candidate) = prepare(pruned) else { continue };
        if candidate.mechanism.hash == mechanism.hash {
            // Same canonical structure: the dead genes are simplified away in place.
            births.events.0.push(Event::Lesson {
                tick: births.clock.tick,
                id,
                kind: LessonKind::Pruned,
                detail: crate::genome::syntax::print(&candidate.mechanism.genome),
            });
            births.known.behaviours.entry(candidate.mechanism.fingerprint.hash).or_insert(id);
            *mechanism = candidate.mechanism;
            continue;
        }
        if novelty(&births.known, &candidate).is_err() {
            continue;
        }
        let birth = Birth {
            parents: vec![id],
            agent: AgentKind::Verifier,
            operator: MadeBy::PruneDead,
            diagnosis: None,
            parent_fitness: Some(value),
            parent: parent_info(&mechanism, &fitness, &traits.0, &candidate.mechanism),
            coefficients: Vec::new(),
        };
        // The pruned genome differs only in genes that never fired, but it has not been
        // verified itself: it enters with its parent's claim (the claim seeds, so races
        // against it stay paired) and must pass the verifier before it counts as a win.
        let inherited = Fitness {
            claimed: fitness.claimed,
            claimed_episodes: fitness.claimed_episodes.clone(),
            ..Fitness::default()
        };
        births.spawn(candidate, birth, Status::Evaluated, inherited);
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use bevy_ecs::system::RunSystemOnce;

    use super::*;
    use crate::exec::{Executor, FailingExecutor};
    use crate::genome::library::library_text;
    use crate::genome::{Limits, load};
    use crate::objective::registry::objective_by_name;
    use crate::sim::components::ParentInfo;
    use crate::sim::resources::{Clock, EventQueue, Known};
    use crate::sim::spawn::prepare;

    fn uniform_random() -> Mechanism {
        prepare(load(library_text("uniform-random").unwrap(), &Limits::default()).unwrap()).unwrap().mechanism
    }

    /// A world with the smoke scenario's settings (one verification block per task,
    /// `per_tick` verifications, `elites` protected, up to `rounds` rounds) and an
    /// evaluator of its tasks running on `executor`.
    fn world(per_tick: usize, elites: usize, rounds: u32, executor: Executor) -> World {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
        let mut sc = crate::scenario::load(&path).unwrap();
        (sc.verify_per_tick, sc.verify_seeds, sc.verify_rounds, sc.elites) = (per_tick, 1, rounds, elites);
        let tasks = sc.tasks.iter().map(|t| objective_by_name(t).unwrap()).collect();
        let reference = Program::compile(&sc.reference.genome, Limits::default()).unwrap();
        let evaluator = Evaluator::new(tasks, sc.inner_budget, sc.execution, executor);
        let mut w = World::new();
        w.insert_resource(evaluator.with_reference(reference, BTreeMap::new()));
        w.insert_resource(Settings(sc));
        w.insert_resource(Clock { tick: 3, next_id: 50 });
        w.insert_resource(Known::default());
        w.insert_resource(EventQueue::default());
        w.insert_resource(Metrics::default());
        w.insert_resource(OperatorStats::default());
        w.insert_resource(AgentYield::default());
        w
    }

    /// The gain of uniform random search on the scenario's first claim episode, as the
    /// evaluator measures it (what an honest claim starts with).
    fn first_claim_gain(w: &mut World) -> f64 {
        let sc = w.resource::<Settings>().0.clone();
        let first = claim_episodes(sc.seed, sc.tasks.len(), sc.inner_seeds)[0];
        let mut ev = w.resource_mut::<Evaluator>();
        ev.ensure_reference(&[first]).unwrap();
        let program = uniform_random().program;
        let results = ev.run(&[(&program, first.0, first.1)]).unwrap();
        ev.gains(&results)[0]
    }

    fn plant(w: &mut World, id: u64, status: Status, fitness: Fitness) {
        let lineage = Lineage {
            parents: vec![1],
            agent: AgentKind::Proposer,
            operator: "mutate-constant".parse().unwrap(),
            diagnosis: None,
            tick: 2,
            parent_fitness: None,
            parent: ParentInfo::default(),
        };
        w.spawn((MechId(id), uniform_random(), status, fitness, lineage, Traits::default()));
    }

    fn claim(value: f64, first_episode: f64) -> Fitness {
        Fitness { claimed: Some(value), claimed_episodes: vec![first_episode, value], ..Fitness::default() }
    }

    /// `(id, status, verified, verified episodes)` of every mechanism, by id.
    fn states(w: &mut World) -> Vec<(u64, Status, Option<f64>, usize)> {
        let mut rows: Vec<_> = w
            .query::<(&MechId, &Status, &Fitness)>()
            .iter(w)
            .map(|(id, s, f)| (id.0, *s, f.verified, f.verified_episodes.len()))
            .collect();
        rows.sort_by_key(|r| r.0);
        rows
    }

    /// `(id, integrity)` of each `Verified` event, in order.
    fn verified_events(w: &World) -> Vec<(u64, bool)> {
        let events = &w.resource::<EventQueue>().0;
        events
            .iter()
            .filter_map(|e| if let Event::Verified { id, integrity, .. } = e { Some((*id, *integrity)) } else { None })
            .collect()
    }

    #[test]
    fn would_be_elites_are_verified_on_fresh_seeds_and_a_claim_that_does_not_rerun_is_flagged() {
        let mut w = world(2, 2, 2, Executor::local());
        let honest = first_claim_gain(&mut w);
        plant(&mut w, 7, Status::Evaluated, claim(0.5, honest));
        plant(&mut w, 8, Status::Evaluated, claim(0.2, honest + 1.0));
        w.run_system_once(verify).unwrap();
        let tasks = w.resource::<Settings>().0.tasks.len();
        let rows = states(&mut w);
        assert!(rows.iter().all(|r| r.1 == Status::Verified && r.2.is_some() && r.3 == tasks), "{rows:?}");
        // Best claim first; the claim whose first episode does not re-run bit for bit is
        // flagged, the honest one is not.
        assert_eq!(verified_events(&w), vec![(7, true), (8, false)]);
        let metrics = w.resource::<Metrics>();
        assert_eq!((metrics.verified_mechanisms, metrics.tick_gaps.len()), (2, 2));
        assert!(metrics.compute > 0.0, "the verification's episodes are charged");
    }

    #[test]
    fn only_claims_above_the_displaced_elites_claim_are_verified_best_first_up_to_the_slots() {
        let mut w = world(1, 1, 1, Executor::local());
        let elite = Fitness { verified: Some(0.0), verified_episodes: vec![0.0; 2], ..claim(0.4, 0.4) };
        plant(&mut w, 1, Status::Verified, elite);
        plant(&mut w, 2, Status::Evaluated, claim(0.3, 0.3));
        plant(&mut w, 3, Status::Evaluated, claim(0.6, 0.6));
        plant(&mut w, 4, Status::Evaluated, claim(0.5, 0.5));
        w.run_system_once(verify).unwrap();
        // 0.3 is below the elite's claim of 0.4: never a candidate; of 0.6 and 0.5 the one
        // slot goes to the better claim. The elite, at its round limit, is not extended.
        let statuses: Vec<(u64, Status)> = states(&mut w).into_iter().map(|r| (r.0, r.1)).collect();
        use Status::*;
        assert_eq!(statuses, vec![(1, Verified), (2, Evaluated), (3, Verified), (4, Evaluated)]);
        assert_eq!(verified_events(&w).iter().map(|e| e.0).collect::<Vec<_>>(), vec![3]);
    }

    #[test]
    fn spare_slots_extend_the_best_elites_verification_without_counting_it_again() {
        let mut w = world(2, 1, 2, Executor::local());
        let tasks = w.resource::<Settings>().0.tasks.len();
        let first = Fitness { verified: Some(0.25), verified_episodes: vec![0.25; tasks], ..claim(0.3, 0.3) };
        plant(&mut w, 1, Status::Verified, first);
        w.run_system_once(verify).unwrap();
        let rows = states(&mut w);
        assert_eq!(rows[0].3, 2 * tasks, "a second block of verification seeds");
        assert_eq!(w.resource::<Metrics>().verified_mechanisms, 0, "an extension is not a new verification");
        // At the round limit the elite is left alone.
        w.resource_mut::<EventQueue>().0.clear();
        w.run_system_once(verify).unwrap();
        assert!(verified_events(&w).is_empty());
    }

    #[test]
    fn a_failed_batch_verifies_nothing_and_records_the_failure() {
        let mut w = world(2, 2, 2, Executor::remote(Arc::new(FailingExecutor("the cluster is down"))));
        plant(&mut w, 7, Status::Evaluated, claim(0.5, 0.5));
        w.run_system_once(verify).unwrap();
        assert_eq!(states(&mut w), vec![(7, Status::Evaluated, None, 0)], "no made-up verification");
        assert!(verified_events(&w).is_empty());
        assert_eq!(w.resource::<Metrics>().verified_mechanisms, 0);
        let failure = w.resource_mut::<Evaluator>().take_failure().expect("the failure is recorded");
        assert!(failure.0.contains("the cluster is down"), "{failure}");
    }
}
