//! The proposer: choose a parent by tournament, diagnose its inner-loop trace, pick an
//! operator conditioned on the diagnosis (credit learned online), write a child.

use bevy_ecs::prelude::*;
use rand::RngExt;

use crate::genome::Limits;
use crate::rng;
use crate::sim::components::{AgentKind, Fitness, MechId, Mechanism, Status, Traits};
use crate::sim::diagnosis::{Diagnosis, diagnose};
use crate::sim::events::Event;
use crate::sim::operators::rank_operators;
use crate::sim::resources::{Clock, Config, EventQueue, Known, OperatorStats};
use crate::sim::spawn::{Birth, novelty, prepare, spawn};

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

/// The proposer system.
pub fn propose(
    mut commands: Commands,
    cfg: Res<Config>,
    mut clock: ResMut<Clock>,
    mut known: ResMut<Known>,
    stats: Res<OperatorStats>,
    mut events: ResMut<EventQueue>,
    population: Query<(&MechId, &Mechanism, &Status, &Fitness, &Traits)>,
) {
    let sc = &cfg.0;
    if !sc.proposer_enabled || sc.children_per_tick == 0 {
        return;
    }
    let mut pool: Vec<ParentView> = population
        .iter()
        .filter(|(_, _, s, _, _)| matches!(s, Status::Evaluated | Status::Verified))
        .filter_map(|(id, m, _, f, t)| {
            Some(ParentView { id: id.0, mechanism: m, fitness: f.best_known()?, diagnosis: diagnose(&t.0) })
        })
        .collect();
    pool.sort_by_key(|p| p.id);
    let mut rng = rng::stream(sc.seed, "propose", &[clock.tick as u64]);
    let limits = Limits::default();
    for _ in 0..sc.children_per_tick {
        let Some(parent) = tournament(&pool, sc.tournament, &mut rng) else { return };
        let donor = &pool[rng.random_range(0..pool.len())];
        let mut child = None;
        for op in rank_operators(&stats, parent.diagnosis, &mut rng) {
            if let Some(g) = op.apply(&parent.mechanism.genome, &donor.mechanism.genome, &mut rng, &limits) {
                child = Some((op, g));
                break;
            }
        }
        let Some((op, mut genome)) = child else {
            events.0.push(Event::Lesson {
                tick: clock.tick,
                id: parent.id,
                kind: "operator-failed".into(),
                detail: "no operator produced a valid child".into(),
            });
            continue;
        };
        genome.name = format!("{}-m{}", sc.name, clock.next_id + 1);
        // Refine: operators return checked genomes, so a compile failure here means a
        // limit was hit after renaming; pivot to the parent's behaviour by skipping.
        let Some(candidate) = prepare(genome) else {
            events.0.push(Event::Lesson {
                tick: clock.tick,
                id: parent.id,
                kind: "pivot".into(),
                detail: op.name().into(),
            });
            continue;
        };
        if let Err(dup) = novelty(&known, &candidate) {
            events.0.push(dup.event(clock.tick, parent.id, op.name()));
            continue;
        }
        let parents =
            if matches!(op, crate::sim::operators::Operator::Graft | crate::sim::operators::Operator::Crossover) {
                vec![parent.id, donor.id]
            } else {
                vec![parent.id]
            };
        let birth = Birth {
            parents,
            agent: AgentKind::Proposer,
            operator: op.name().to_string(),
            diagnosis: Some(parent.diagnosis),
            parent_fitness: Some(parent.fitness),
        };
        spawn(
            &mut commands,
            &mut clock,
            &mut known,
            &mut events,
            candidate,
            birth,
            Status::Proposed,
            Fitness::default(),
        );
    }
}
