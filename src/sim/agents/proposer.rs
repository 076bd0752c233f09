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
use crate::sim::operators::{Operator, rank_operators};
use crate::sim::resources::{Clock, Config, DebateBudget, EventQueue, Known, OperatorStats};
use crate::sim::spawn::{Birth, novelty, parent_info, prepare_batch, spawn};

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
#[expect(clippy::too_many_arguments, reason = "a system names each resource it touches")]
pub fn propose(
    mut commands: Commands,
    cfg: Res<Config>,
    mut clock: ResMut<Clock>,
    mut known: ResMut<Known>,
    stats: Res<OperatorStats>,
    budget: Res<DebateBudget>,
    mut events: ResMut<EventQueue>,
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
    let mut rng = rng::stream(sc.seed, "propose", &[clock.tick as u64]);
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
            let child = rank_operators(&stats, parent.diagnosis, &mut rng).into_iter().find_map(|op| {
                op.apply(&parent.mechanism.genome, &donor.mechanism.genome, &mut rng, &limits).map(|g| (op, g))
            });
            match child {
                Some((op, genome)) => drafts.push((parent, donor, op, genome)),
                None => events.0.push(Event::Lesson {
                    tick: clock.tick,
                    id: parent.id,
                    kind: LessonKind::OperatorFailed,
                    detail: "no operator produced a valid child".into(),
                }),
            }
        }
        let prepared = prepare_batch(&known, drafts.iter().map(|d| d.3.clone()).collect());
        for ((parent, donor, op, _), prepared) in drafts.into_iter().zip(prepared) {
            // Operators return checked genomes, so a compile failure here means a limit
            // was hit; pivot to the parent's behaviour by skipping.
            let Some(prepared) = prepared else {
                events.0.push(Event::Lesson {
                    tick: clock.tick,
                    id: parent.id,
                    kind: LessonKind::Pivot,
                    detail: op.name().into(),
                });
                continue;
            };
            // Earlier children of this round are known now: check again.
            let candidate = match prepared.and_then(|c| novelty(&known, &c).map(|()| c)) {
                Ok(mut c) => {
                    c.mechanism.genome.name = format!("{}-m{}", sc.name, clock.next_id + 1);
                    c
                }
                Err(dup) => {
                    events.0.push(dup.event(clock.tick, parent.id, op.name()));
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
                operator: op.name().to_string(),
                diagnosis: Some(parent.diagnosis),
                parent_fitness: Some(parent.fitness),
                parent: parent_info(parent.mechanism, parent.record, parent.traits, &candidate.mechanism),
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
            made += 1;
            if made == target {
                break;
            }
        }
    }
}
