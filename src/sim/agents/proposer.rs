//! The proposer: choose a parent by tournament, diagnose its inner-loop trace, pick an
//! operator conditioned on the diagnosis (credit learned online), write a child.

use bevy_ecs::prelude::*;
use rand::RngExt;

use crate::genome::Limits;
use crate::rng;
use crate::sim::agents::debater::evaluation_slots;
use crate::sim::components::{AgentKind, Fitness, MechId, Mechanism, Status, Traits};
use crate::sim::diagnosis::{Diagnosis, TraceStats, diagnose};
use crate::sim::events::{Event, LessonKind};
use crate::sim::operators::{MadeBy, Operator, rank_operators};
use crate::sim::resources::{DebateBudget, OperatorStats, Settings};
use crate::sim::spawn::{Birth, Births, novelty, parent_info, prepare_batch};

/// Attempts per wanted child before the proposer gives up for the tick.
const ATTEMPTS_PER_CHILD: usize = 4;

/// A parent the proposer may choose.
pub struct ParentView<'a> {
    /// Its id.
    pub id: u64,
    /// Its mechanism.
    pub mechanism: &'a Mechanism,
    /// Fitness selection trusts.
    pub fitness: f64,
    /// Its diagnosis.
    pub diagnosis: Diagnosis,
    /// Its fitness record (the claim episodes a child is raced against).
    pub record: &'a Fitness,
    /// Its trace statistics.
    pub traits: &'a TraceStats,
}

/// Tournament selection: `size` random entrants, the fittest wins (ties: lower id).
pub fn tournament<'a>(pool: &'a [ParentView<'a>], size: usize, rng: &mut rng::Rng) -> Option<&'a ParentView<'a>> {
    if pool.is_empty() {
        return None;
    }
    (0..size.max(1))
        .map(|_| &pool[rng.random_range(0..pool.len())])
        .max_by(|a, b| a.fitness.total_cmp(&b.fitness).then(b.id.cmp(&a.id)))
}

/// How many children the proposer writes this tick: the evaluation slots the
/// recombiner's pending children leave free, plus the debate's budget of proposals it
/// may reject.
pub fn proposals_this_tick(sc: &crate::scenario::Scenario, pending: usize, debate: &DebateBudget) -> usize {
    let extra = if sc.debater_enabled { debate.extra } else { 0 };
    evaluation_slots(sc).saturating_sub(pending) + extra
}

/// The proposer system.
pub fn propose(
    mut births: Births,
    cfg: Res<Settings>,
    stats: Res<OperatorStats>,
    budget: Res<DebateBudget>,
    population: Query<(&MechId, &Mechanism, &Status, &Fitness, &Traits)>,
) {
    let sc = &cfg.0;
    if !sc.proposer_enabled || sc.children_per_tick == 0 {
        return;
    }
    let mut pending = 0;
    let mut pool: Vec<ParentView> = Vec::new();
    for (id, m, s, f, t) in population.iter() {
        match s {
            Status::Proposed => pending += 1,
            Status::Evaluated | Status::Verified => {
                let Some(fitness) = f.best_known() else { continue };
                pool.push(ParentView {
                    id: id.0,
                    mechanism: m,
                    fitness,
                    diagnosis: diagnose(&t.0),
                    record: f,
                    traits: &t.0,
                });
            }
            _ => {}
        }
    }
    pool.sort_by_key(|p| p.id);
    let mut rng = rng::stream(sc.seed, "propose", &[births.clock.tick as u64]);
    let limits = Limits::default();
    let target = proposals_this_tick(sc, pending, &budget);
    let (mut made, mut attempts) = (0, 0);
    // Duplicates and failed operators do not use up the tick's proposals: try again,
    // up to a bounded number of attempts, so the slots are filled with new children.
    // Each round drafts the children still wanted, then fingerprints the structurally
    // new ones in parallel (the fingerprint, an inner run on the probe task, is the
    // outer loop's largest cost), then admits them in draft order.
    while made < target && attempts < ATTEMPTS_PER_CHILD * target {
        let want = (target - made).min(ATTEMPTS_PER_CHILD * target - attempts);
        attempts += want;
        let mut drafts = Vec::new();
        for _ in 0..want {
            let Some(parent) = tournament(&pool, sc.tournament, &mut rng) else { return };
            let donor = &pool[rng.random_range(0..pool.len())];
            let child = rank_operators(&stats, parent.diagnosis, sc.operators, &mut rng).into_iter().find_map(|op| {
                op.apply(&parent.mechanism.genome, &donor.mechanism.genome, &mut rng, &limits).map(|g| (op, g))
            });
            match child {
                Some((op, genome)) => drafts.push((parent, donor, op, genome)),
                None => births.events.0.push(Event::Lesson {
                    tick: births.clock.tick,
                    id: parent.id,
                    kind: LessonKind::OperatorFailed,
                    detail: "no operator produced a valid child".into(),
                }),
            }
        }
        let prepared = prepare_batch(&births.known, drafts.iter().map(|d| d.3.clone()).collect());
        for ((parent, donor, op, _), prepared) in drafts.into_iter().zip(prepared) {
            // Operators return checked genomes, so a compile failure here means a limit
            // was hit; pivot to the parent's behaviour by skipping.
            let Some(prepared) = prepared else {
                births.events.0.push(Event::Lesson {
                    tick: births.clock.tick,
                    id: parent.id,
                    kind: LessonKind::Pivot,
                    detail: op.name().into(),
                });
                continue;
            };
            // Earlier children of this round are known now: check again.
            let candidate = match prepared.and_then(|c| novelty(&births.known, &c).map(|()| c)) {
                Ok(mut c) => {
                    c.mechanism.genome.name = format!("{}-m{}", sc.name, births.clock.next_id + 1);
                    c
                }
                Err(dup) => {
                    births.events.0.push(dup.event(births.clock.tick, parent.id, MadeBy::Operator(op)));
                    continue;
                }
            };
            let parents = if matches!(op, Operator::Graft | Operator::Crossover) {
                vec![parent.id, donor.id]
            } else {
                vec![parent.id]
            };
            let birth = Birth {
                parents,
                agent: AgentKind::Proposer,
                operator: MadeBy::Operator(op),
                diagnosis: Some(parent.diagnosis),
                parent_fitness: Some(parent.fitness),
                parent: parent_info(parent.mechanism, parent.record, parent.traits, &candidate.mechanism),
                coefficients: Vec::new(),
            };
            births.spawn(candidate, birth, Status::Proposed, Fitness::default());
            made += 1;
            if made == target {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::path::Path;

    use crate::genome::ast::{Genome, Op};
    use crate::genome::hash::structural_hash;
    use crate::genome::{Limits, load};
    use crate::sim::Simulation;
    use crate::sim::components::AgentKind;
    use crate::sim::events::Event;
    use crate::sim::operators::MadeBy;

    /// The genome with every numeric constant (and the init count) zeroed and no name:
    /// what is left is its structure.
    fn structure_of(g: &Genome) -> Genome {
        let mut s = g.clone();
        s.name.clear();
        s.init_count = 0;
        for path in g.paths() {
            if let Some(node) = s.node_mut(&path)
                && let Op::Num(_) = node.op
            {
                node.op = Op::Num(0.0);
            }
        }
        s
    }

    /// Run a small scenario with `[proposer] operators = set` and return every event.
    fn events_with(set: &str) -> Vec<Event> {
        let text = format!(
            "name = \"ops\"\nseed = 5\nticks = 4\nreference = \"lib:greedy-keep-discard\"\n\
             [population]\nsize = 8\nelites = 2\n\
             [inner]\ntasks = [\"bbob-f1-i1-d3\"]\nbudget = 20\nseeds = 1\n\
             [seeds]\nlibrary = [\"tabu-search\", \"one-plus-one-es\", \"multiscale-bandit\", \"tpe-density-ratio\"]\n\
             [proposer]\nchildren_per_tick = 4\noperators = \"{set}\"\n\
             [verifier]\nseeds = 1\nreport_seeds = 1\n[recombiner]\nenabled = false\n"
        );
        let sc = crate::scenario::parse(Path::new("ops.toml"), &text).unwrap();
        assert_eq!(sc.operators.name(), set);
        let mut sim = Simulation::new(&sc, None, crate::exec::Executor::local()).unwrap();
        let mut events = sim.drain_events();
        for _ in 0..sc.ticks {
            sim.tick().unwrap();
            events.extend(sim.drain_events());
        }
        events
    }

    /// Every `Born` event: id -> (agent, operator, primary parent, genome).
    fn births(events: &[Event]) -> HashMap<u64, (AgentKind, MadeBy, Option<u64>, Genome)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Born { id, parents, agent, operator, genome, .. } => Some((
                    *id,
                    (*agent, *operator, parents.first().copied(), load(genome, &Limits::default()).unwrap()),
                )),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn constants_only_tune_parameters() {
        let born = births(&events_with("constants"));
        let children: Vec<_> = born.values().filter(|b| b.0 == AgentKind::Proposer).collect();
        assert!(children.len() >= 4, "the proposer wrote {} children", children.len());
        for (_, operator, parent, genome) in children {
            assert_eq!(operator.to_string(), "mutate-constant");
            let parent = &born[&parent.expect("a primary parent")].3;
            assert_ne!(genome, parent);
            assert_eq!(structure_of(genome), structure_of(parent), "only constants change");
            assert_eq!(structural_hash(&structure_of(genome)), structural_hash(&structure_of(parent)));
        }
    }

    #[test]
    fn structure_never_mutates_constants() {
        let events = events_with("structure");
        let born = births(&events);
        let proposed = born.values().filter(|b| b.0 == AgentKind::Proposer).count();
        assert!(proposed >= 4, "the proposer wrote {proposed} children");
        for e in &events {
            let operator = match e {
                Event::Born { operator, .. } | Event::Duplicate { operator, .. } => operator.to_string(),
                _ => continue,
            };
            assert_ne!(operator, "mutate-constant", "{e:?}");
        }
    }
}
