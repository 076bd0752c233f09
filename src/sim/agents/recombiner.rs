//! The recombiner: type-safe crossover between elites, preferring structurally distant
//! parents, and the constant swarm: Model Swarms moves over the numeric constants of
//! verified elites that share a structure.
//!
//! The constant swarm ([`constant_swarm`], `[recombiner] constant_swarm`) groups the
//! elites by structure (`genome::constants`: the canonical genome without its numeric
//! constants); each group of two or more is a swarm whose particles are the members'
//! constant vectors. A move uses the one update rule of [`crate::pso_update`] with the Model
//! Swarms defaults ([`WEIGHTS`], step 1). It is stateless: everything a particle needs
//! is read from the living population each tick, so the checkpoint holds no swarm state
//! and a resumed run moves exactly as an uninterrupted one.
//!
//! - position `x`: the particle's constants;
//! - velocity `v`: `x` minus its primary parent's constants when that parent is alive and
//!   shares the structure (the last move that made it), else zero;
//! - personal best `p`: that parent when it is an elite of the group with better fitness,
//!   else `x`;
//! - global best `g` and worst `w`: the group's best and worst elite.
//!
//! The update is linear, so the child's constants are the affine combination of the
//! sources `x, p, g, w` and the parent with the coefficients of [`pso_update::terms`], summed
//! per distinct source; the birth records the sources as parents (the particle first,
//! the primary parent) and their coefficients, which rebuild the child's constants to
//! rounding. No constant is snapped: every finite number is a valid literal, and the
//! initial-design size, the one integer count, is structure. A child whose
//! simplification would change its structure (a constant that makes a branch foldable)
//! is skipped.
//!
//! Weight-space merges of trained models use the same update rule in `src/swarm/`, run
//! by `kind = "model-swarm"` scenarios (`outerloop run`/`swarm`).

use bevy_ecs::prelude::*;

use crate::genome::Limits;
use crate::genome::constants::{Constants, constants, rebuild};
use crate::genome::hash::canonical;
use crate::genome::ops::crossover;
use crate::genome::syntax::print;
use crate::pso_update::{self, Weights};
use crate::rng;
use crate::sim::agents::debater::evaluation_slots;
use crate::sim::components::{AgentKind, Fitness, Lineage, MechId, Mechanism, Status, Traits};
use crate::sim::operators::{MadeBy, Operator};
use crate::sim::resources::{AgentYield, Settings};
use crate::sim::spawn::{Birth, Births, parent_info, prepare_novel};

/// Attempts (pairs tried) per wanted crossover child.
const ATTEMPTS_PER_CHILD: usize = 4;

/// The weights of a constant-swarm move: the Model Swarms defaults the model swarm
/// uses (`swarm::pso::PsoConfig::default`).
pub const WEIGHTS: Weights = Weights { inertia: 0.4, cognitive: 0.3, social: 0.5, repel: 0.1 };

/// The step length of a constant-swarm move.
pub const STEP: f64 = 1.0;

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

/// What the recombiner reads of a living mechanism.
type Row<'a> = (&'a MechId, &'a Mechanism, &'a Status, &'a Fitness, &'a Traits, &'a Lineage);

/// The recombiner system: up to `constant_swarm` of its children are constant-swarm
/// merges, the rest crossovers.
pub fn recombine(
    mut births: Births,
    cfg: Res<Settings>,
    yields: Res<AgentYield>,
    q: Query<(&MechId, &Mechanism, &Status, &Fitness, &Traits, &Lineage)>,
) {
    let sc = &cfg.0;
    let wanted = crossovers_this_tick(sc, &yields);
    if wanted == 0 {
        return;
    }
    let mut rows: Vec<Row> = q.iter().collect();
    rows.sort_by_key(|r| r.0.0);
    let merged =
        if sc.constant_swarm > 0 { constant_swarm(&mut births, sc, &rows, sc.constant_swarm.min(wanted)) } else { 0 };
    crossovers(&mut births, sc, &rows, wanted - merged);
}

/// Crossover of the most distant pairs of elites.
fn crossovers(births: &mut Births, sc: &crate::scenario::Scenario, rows: &[Row], wanted: usize) {
    if wanted == 0 {
        return;
    }
    let elite_status = if sc.verifier_enabled { Status::Verified } else { Status::Evaluated };
    let mut elites: Vec<(u64, f64, &Mechanism, &Fitness, &Traits)> = rows
        .iter()
        .filter(|r| *r.2 == elite_status)
        .filter_map(|&(id, m, _, f, t, _)| Some((id.0, f.best_known()?, m, f, t)))
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
                births.events.0.push(dup.event(births.clock.tick, a.0, MadeBy::Operator(Operator::Crossover)));
                continue;
            }
        };
        let birth = Birth {
            parents: vec![a.0, b.0],
            agent: AgentKind::Recombiner,
            operator: MadeBy::Crossover { distance },
            diagnosis: None,
            parent_fitness: Some(a.1.max(b.1)),
            parent: parent_info(a.2, a.3, &a.4.0, &candidate.mechanism),
            coefficients: Vec::new(),
        };
        births.spawn(candidate, birth, Status::Proposed, Fitness::default());
        made += 1;
    }
}

/// One constant-swarm move: the child's constants and its sources with their summed
/// coefficients, the particle first.
#[derive(Debug, Clone, PartialEq)]
pub struct SwarmMove {
    /// The new constants.
    pub values: Vec<f64>,
    /// Source ids and coefficients (distinct ids, the particle first, zero coefficients
    /// of other sources dropped).
    pub sources: Vec<(u64, f64)>,
}

/// A particle's view of its group: `(id, constants)` of itself, its primary parent
/// (velocity source, when it shares the structure), its personal best, the group's best
/// and worst.
#[derive(Debug, Clone, Copy)]
pub struct Particle<'a> {
    /// The particle.
    pub x: (u64, &'a [f64]),
    /// Its primary parent, when alive with the same structure.
    pub previous: Option<(u64, &'a [f64])>,
    /// Its personal best.
    pub personal_best: (u64, &'a [f64]),
    /// The group's best elite.
    pub global_best: (u64, &'a [f64]),
    /// The group's worst elite.
    pub global_worst: (u64, &'a [f64]),
}

/// Move a particle with normalised coefficients `coef` ([`pso_update::coefficients`]) and step
/// `s`: [`pso_update::step`] on the constants, [`pso_update::terms`] for the sources.
pub fn swarm_move(p: &Particle, coef: [f64; 4], s: f64) -> SwarmMove {
    let mut values = p.x.1.to_vec();
    let mut velocity: Vec<f64> = match p.previous {
        Some((_, prev)) => p.x.1.iter().zip(prev).map(|(a, b)| a - b).collect(),
        None => vec![0.0; values.len()],
    };
    pso_update::step(coef, s, &mut values, &mut velocity, p.personal_best.1, p.global_best.1, p.global_worst.1);
    let t = pso_update::terms(coef, s);
    let mut terms = vec![
        (p.x.0, t.position),
        (p.personal_best.0, t.personal_best),
        (p.global_best.0, t.global_best),
        (p.global_worst.0, t.global_worst),
    ];
    if let Some((prev, _)) = p.previous {
        terms.push((p.x.0, t.momentum));
        terms.push((prev, -t.momentum));
    }
    let mut sources: Vec<(u64, f64)> = Vec::new();
    for (id, c) in terms {
        match sources.iter_mut().find(|s| s.0 == id) {
            Some(s) => s.1 += c,
            None => sources.push((id, c)),
        }
    }
    let particle = p.x.0;
    sources.retain(|s| s.0 == particle || s.1 != 0.0);
    SwarmMove { values, sources }
}

/// Constant-swarm merges (at most `wanted`); returns how many children were born.
fn constant_swarm(births: &mut Births, sc: &crate::scenario::Scenario, rows: &[Row], wanted: usize) -> usize {
    let elite_status = if sc.verifier_enabled { Status::Verified } else { Status::Evaluated };
    // Every living mechanism's structure and constants, by id (rows are sorted by id).
    let split: Vec<Constants> = rows.iter().map(|r| constants(&r.1.genome)).collect();
    let keys: Vec<String> = split.iter().map(Constants::key).collect();
    let at = |id: u64| rows.binary_search_by_key(&id, |r| r.0.0).ok();
    let fitness = |i: usize| (*rows[i].2 == elite_status).then(|| rows[i].3.best_known()).flatten();
    // Groups of elites sharing a structure, members best first.
    let mut groups: std::collections::BTreeMap<&str, Vec<usize>> = std::collections::BTreeMap::new();
    for (i, key) in keys.iter().enumerate() {
        if fitness(i).is_some() {
            groups.entry(key.as_str()).or_default().push(i);
        }
    }
    let by_fitness = |a: &usize, b: &usize| {
        let (fa, fb) = (fitness(*a).unwrap_or(f64::NEG_INFINITY), fitness(*b).unwrap_or(f64::NEG_INFINITY));
        fb.total_cmp(&fa).then(rows[*a].0.0.cmp(&rows[*b].0.0))
    };
    let mut particles: Vec<(usize, usize, usize)> = Vec::new(); // (particle, best, worst)
    for members in groups.values_mut().filter(|m| m.len() >= 2) {
        members.sort_by(by_fitness);
        let (best, worst) = (members[0], members[members.len() - 1]);
        particles.extend(members.iter().map(|&i| (i, best, worst)));
    }
    particles.sort_by(|a, b| by_fitness(&a.0, &b.0));
    let mut rng = rng::stream(sc.seed, "constant-swarm", &[births.clock.tick as u64]);
    let mut made = 0;
    for (i, best, worst) in particles.into_iter().take(ATTEMPTS_PER_CHILD * wanted) {
        if made >= wanted {
            break;
        }
        let (id, mech, _, fit, traits, lineage) = rows[i];
        let view = |j: usize| (rows[j].0.0, split[j].values.as_slice());
        let previous = lineage.parents.first().and_then(|&p| at(p)).filter(|&j| keys[j] == keys[i]);
        let personal_best =
            previous.filter(|&j| fitness(j).zip(fitness(i)).is_some_and(|(fp, fi)| fp > fi)).unwrap_or(i);
        let particle = Particle {
            x: view(i),
            previous: previous.map(view),
            personal_best: view(personal_best),
            global_best: view(best),
            global_worst: view(worst),
        };
        let coef = pso_update::coefficients(&WEIGHTS, pso_update::draw(&mut rng));
        let m = swarm_move(&particle, coef, STEP);
        if m.values == split[i].values {
            continue;
        }
        let Some(mut genome) = rebuild(&split[i].structure, &m.values) else { continue };
        // The child must be canonical as built, so its constants read back as written.
        if print(&canonical(&genome)) != print(&genome) {
            continue;
        }
        genome.name = format!("{}-m{}", sc.name, births.clock.next_id + 1);
        let candidate = match prepare_novel(&births.known, genome) {
            None => continue,
            Some(Ok(c)) => c,
            Some(Err(dup)) => {
                births.events.0.push(dup.event(births.clock.tick, id.0, MadeBy::ConstantSwarm));
                continue;
            }
        };
        let birth = Birth {
            parents: m.sources.iter().map(|s| s.0).collect(),
            agent: AgentKind::Recombiner,
            operator: MadeBy::ConstantSwarm,
            diagnosis: None,
            parent_fitness: fit.best_known(),
            parent: parent_info(mech, fit, &traits.0, &candidate.mechanism),
            coefficients: m.sources.iter().map(|s| s.1).collect(),
        };
        births.spawn(candidate, birth, Status::Proposed, Fitness::default());
        made += 1;
    }
    made
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_is_the_affine_combination_its_sources_and_coefficients_say() {
        let (x, prev, best, worst) = ([1.0, 2.0, 0.5], [0.5, 2.5, 0.5], [3.0, 1.0, 0.25], [-1.0, 4.0, 2.0]);
        let table: [(u64, &[f64]); 4] = [(7, &x), (3, &prev), (9, &best), (2, &worst)];
        let mut rng = rng::stream(1, "constant-swarm-test", &[]);
        for with_previous in [true, false] {
            for personal_best in [(7, &x[..]), (3, &prev[..])] {
                let p = Particle {
                    x: (7, &x),
                    previous: with_previous.then_some((3, &prev[..])),
                    personal_best,
                    global_best: (9, &best),
                    global_worst: (2, &worst),
                };
                let coef = pso_update::coefficients(&WEIGHTS, pso_update::draw(&mut rng));
                let m = swarm_move(&p, coef, STEP);
                assert_eq!(m.sources[0].0, 7, "the particle is the primary parent");
                let total: f64 = m.sources.iter().map(|s| s.1).sum();
                assert!((total - 1.0).abs() < 1e-12, "coefficients sum to {total}");
                let ids: Vec<u64> = m.sources.iter().map(|s| s.0).collect();
                let distinct: std::collections::BTreeSet<u64> = ids.iter().copied().collect();
                assert_eq!(distinct.len(), ids.len(), "one coefficient per source: {ids:?}");
                assert_eq!(ids.contains(&3), with_previous || personal_best.0 == 3, "{ids:?}");
                for d in 0..3 {
                    let rebuilt: f64 =
                        m.sources.iter().map(|(id, c)| c * table.iter().find(|t| t.0 == *id).unwrap().1[d]).sum();
                    assert!((rebuilt - m.values[d]).abs() < 1e-12, "dim {d}: {rebuilt} vs {}", m.values[d]);
                }
                assert_ne!(m.values, x.to_vec(), "the particle moved");
            }
        }
    }
}
