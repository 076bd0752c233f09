//! The recombiner: type-safe crossover between elites, preferring structurally distant
//! parents.
//!
//! Weight-space merges of trained models (Model Swarms) are the recombiner's second
//! tool; they operate on model nodes rather than mechanism genomes and live in
//! `src/swarm/`, run by `kind = "model-swarm"` scenarios (`outerloop run`/`swarm`). They
//! are not yet called from this system during an outer-loop run.

use bevy_ecs::prelude::*;

use crate::genome::Limits;
use crate::genome::ops::crossover;
use crate::rng;
use crate::sim::agents::debater::evaluation_slots;
use crate::sim::components::{AgentKind, Fitness, MechId, Mechanism, Status, Traits};
use crate::sim::resources::{AgentYield, Settings};
use crate::sim::spawn::{Birth, Births, parent_info, prepare_novel};

/// Attempts (pairs tried) per wanted crossover child.
const ATTEMPTS_PER_CHILD: usize = 4;

/// Crossover children this tick: the configured share of the evaluation slots, or
/// (adaptive) the share the recombiner's measured yield earns.
pub fn crossovers_this_tick(sc: &crate::scenario::Scenario, yields: &AgentYield) -> usize {
    if !sc.recombiner_enabled || sc.crossover_per_tick == 0 {
        return 0;
    }
    if !sc.recombiner_adaptive || !sc.proposer_enabled {
        return sc.crossover_per_tick;
    }
    yields.recombiner_slots(evaluation_slots(sc), sc.crossover_per_tick)
}

/// The recombiner system.
pub fn recombine(
    mut births: Births,
    cfg: Res<Settings>,
    yields: Res<AgentYield>,
    q: Query<(&MechId, &Mechanism, &Status, &Fitness, &Traits)>,
) {
    let sc = &cfg.0;
    let wanted = crossovers_this_tick(sc, &yields);
    if wanted == 0 {
        return;
    }
    let elite_status = if sc.verifier_enabled { Status::Verified } else { Status::Evaluated };
    let mut elites: Vec<(u64, f64, &Mechanism, &Fitness, &Traits)> = q
        .iter()
        .filter(|r| *r.2 == elite_status)
        .filter_map(|(id, m, _, f, t)| Some((id.0, f.best_known()?, m, f, t)))
        .collect();
    elites.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    elites.truncate(sc.elites.max(2) * 2);
    if elites.len() < 2 {
        return;
    }
    let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
    for i in 0..elites.len() {
        for j in i + 1..elites.len() {
            pairs.push((elites[i].2.bag.distance(&elites[j].2.bag), i, j));
        }
    }
    pairs.sort_by(|a, b| b.0.total_cmp(&a.0).then((a.1, a.2).cmp(&(b.1, b.2))));
    let mut rng = rng::stream(sc.seed, "recombine", &[births.clock.tick as u64]);
    let mut made = 0;
    // Like the proposer, a bounded number of attempts per wanted child: each new
    // structure costs a fingerprint, so the loop does not walk every pair of elites.
    for (distance, i, j) in pairs.into_iter().take(ATTEMPTS_PER_CHILD * wanted) {
        if made >= wanted {
            break;
        }
        let (a, b) = (&elites[i], &elites[j]);
        let Some(mut genome) = crossover(&a.2.genome, &b.2.genome, &mut rng, &Limits::default()) else { continue };
        genome.name = format!("{}-m{}", sc.name, births.clock.next_id + 1);
        let candidate = match prepare_novel(&births.known, genome) {
            None => continue,
            Some(Ok(c)) => c,
            Some(Err(dup)) => {
                births.events.0.push(dup.event(births.clock.tick, a.0, "crossover"));
                continue;
            }
        };
        let birth = Birth {
            parents: vec![a.0, b.0],
            agent: AgentKind::Recombiner,
            operator: format!("crossover(d={distance:.2})"),
            diagnosis: None,
            parent_fitness: Some(a.1.max(b.1)),
            parent: parent_info(a.2, a.3, &a.4.0, &candidate.mechanism),
            coefficients: Vec::new(),
        };
        births.spawn(candidate, birth, Status::Proposed, Fitness::default());
        made += 1;
    }
}
