//! The debater: a panel of three roles votes on each proposal before compute is spent.
//!
//! - innovator: novelty (structural and behavioural distance to the population);
//! - pragmatist: predicted fitness (operator credit under the diagnosis, and the
//!   fitness of the behaviourally nearest evaluated mechanism relative to the parent);
//! - contrarian: risk (size, cost, resemblance to past failures).
//!
//! Two or three accepts: accept. One: revise (one bounded revision round through the
//! proposer's constant mutation, then a second vote). None: reject. A configurable
//! fraction of rejected proposals is evaluated anyway, so the debate's precision is
//! measured rather than assumed.

use bevy_ecs::prelude::*;
use rand::RngExt;

use crate::genome::Limits;
use crate::genome::ops::{Mutation, mutate};
use crate::inner::fingerprint::behavioural_distance;
use crate::rng;
use crate::sim::components::{Fitness, Lineage, MechId, Mechanism, Status};
use crate::sim::diagnosis::Diagnosis;
use crate::sim::events::{Event, Vote};
use crate::sim::resources::{Clock, Config, EventQueue, Known, Lessons, OperatorStats};
use crate::sim::spawn::{novelty, prepare};

/// How many population members a proposal is compared with (the fittest half and the
/// most recent half), so a debate costs the same whatever the population size.
const PANEL_REFERENCE: usize = 64;
/// The pragmatist accepts when its predicted chance of beating the parent reaches this.
pub const PRAGMATIST_THRESHOLD: f64 = 0.45;
/// The contrarian rejects when the risk score reaches this.
pub const CONTRARIAN_THRESHOLD: f64 = 0.15;

struct Peer {
    mechanism: Mechanism,
    fitness: f64,
}

/// The panel's view of one proposal.
fn votes(
    proposal: &Mechanism,
    lineage: &Lineage,
    peers: &[Peer],
    stats: &OperatorStats,
    lessons: &Lessons,
    threshold: f64,
) -> Vec<Vote> {
    let (mut structural, mut behavioural, mut nn_fitness) = (1.0f64, 1.0f64, None);
    let mut nearest = f64::INFINITY;
    for p in peers {
        structural = structural.min(proposal.bag.distance(&p.mechanism.bag));
        let b = behavioural_distance(&proposal.fingerprint, &p.mechanism.fingerprint);
        behavioural = behavioural.min(b);
        if b < nearest {
            nearest = b;
            nn_fitness = Some(p.fitness);
        }
    }
    let novelty = 0.5 * (structural + behavioural);
    let diagnosis = lineage.diagnosis.unwrap_or(Diagnosis::Healthy);
    let credit = stats.0.get(&(diagnosis, lineage.operator.clone())).copied().unwrap_or_default();
    let p_success = (credit.wins as f64 + 1.0) / (credit.trials as f64 + 2.0);
    let parent = lineage.parent_fitness.unwrap_or(0.0);
    let neighbour = nn_fitness.map(|f| 1.0 / (1.0 + (-4.0 * (f - parent)).exp())).unwrap_or(0.5);
    let predicted = 0.5 * p_success + 0.5 * neighbour;
    let size = proposal.genome.size() as f64 / Limits::default().max_nodes as f64;
    let resembles_failure =
        lessons.failures.contains(&proposal.hash) || lessons.failures.contains(&proposal.fingerprint.hash);
    let risk = 0.5 * size + if resembles_failure { 0.6 } else { 0.0 };
    let vote = |role: &str, ok: bool, score: f64| Vote {
        role: role.into(),
        vote: if ok { "accept" } else { "reject" }.into(),
        score,
    };
    vec![
        vote("innovator", novelty >= threshold, novelty),
        vote("pragmatist", predicted >= PRAGMATIST_THRESHOLD, predicted),
        vote("contrarian", risk < CONTRARIAN_THRESHOLD, risk),
    ]
}

fn accepts(votes: &[Vote]) -> usize {
    votes.iter().filter(|v| v.vote == "accept").count()
}

/// The debater system.
#[expect(clippy::too_many_arguments, reason = "a system names each resource it touches")]
pub fn debate(
    mut commands: Commands,
    cfg: Res<Config>,
    clock: Res<Clock>,
    mut known: ResMut<Known>,
    stats: Res<OperatorStats>,
    lessons: Res<Lessons>,
    mut events: ResMut<EventQueue>,
    mut q: Query<(Entity, &MechId, &mut Mechanism, &mut Status, &Fitness, &Lineage)>,
) {
    let sc = &cfg.0;
    let mut proposals: Vec<(Entity, u64)> =
        q.iter().filter(|(_, _, _, s, _, _)| **s == Status::Proposed).map(|(e, id, ..)| (e, id.0)).collect();
    proposals.sort_by_key(|p| p.1);
    if proposals.is_empty() {
        return;
    }
    if !sc.debater_enabled {
        for (e, _) in proposals {
            if let Ok((_, _, _, mut s, _, _)) = q.get_mut(e) {
                *s = Status::Accepted;
            }
        }
        return;
    }
    let mut members: Vec<(u64, f64, Entity)> = q
        .iter()
        .filter(|(_, _, _, s, _, _)| matches!(**s, Status::Evaluated | Status::Verified))
        .filter_map(|(e, id, _, _, f, _)| Some((id.0, f.best_known()?, e)))
        .collect();
    members.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut chosen: Vec<usize> = (0..members.len().min(PANEL_REFERENCE / 2)).collect();
    let mut recent: Vec<usize> = (0..members.len()).collect();
    recent.sort_by_key(|&i| std::cmp::Reverse(members[i].0));
    for i in recent {
        if chosen.len() >= PANEL_REFERENCE.min(members.len()) {
            break;
        }
        if !chosen.contains(&i) {
            chosen.push(i);
        }
    }
    chosen.sort_unstable();
    let peers: Vec<Peer> = chosen
        .into_iter()
        .filter_map(|i| Some(Peer { mechanism: q.get(members[i].2).ok()?.2.clone(), fitness: members[i].1 }))
        .collect();
    let mut rng = rng::stream(sc.seed, "debate", &[clock.tick as u64]);
    for (entity, id) in proposals {
        let Ok((_, _, mut mechanism, mut status, _, lineage)) = q.get_mut(entity) else { continue };
        let mut panel = votes(&mechanism, lineage, &peers, &stats, &lessons, sc.novelty_threshold);
        let mut verdict = match accepts(&panel) {
            2 | 3 => "accept",
            1 => "revise",
            _ => "reject",
        };
        if verdict == "revise" {
            let revised = mutate(&mechanism.genome, Mutation::Constant, &mut rng, &Limits::default()).and_then(prepare);
            verdict = "reject";
            if let Some(candidate) = revised.filter(|c| novelty(&known, c).is_ok()) {
                let second = votes(&candidate.mechanism, lineage, &peers, &stats, &lessons, sc.novelty_threshold);
                if accepts(&second) >= 2 {
                    known.structures.entry(candidate.mechanism.hash).or_insert(id);
                    known.behaviours.entry(candidate.mechanism.fingerprint.hash).or_insert(id);
                    *mechanism = candidate.mechanism;
                    events.0.push(Event::Lesson {
                        tick: clock.tick,
                        id,
                        kind: "refine".into(),
                        detail: format!(
                            "revised after debate: {}",
                            crate::genome::syntax::print(&mechanism.genome).replace('\n', " ")
                        ),
                    });
                    verdict = "accept";
                }
                panel.extend(second);
            }
        }
        let audited = verdict == "reject" && rng.random::<f64>() < sc.audit_rate;
        events.0.push(Event::Debated { tick: clock.tick, id, votes: panel, verdict: verdict.into(), audited });
        match (verdict, audited) {
            ("accept", _) => *status = Status::Accepted,
            (_, true) => *status = Status::Audited,
            _ => {
                events.0.push(Event::Retired { tick: clock.tick, id, reason: "rejected".into() });
                commands.entity(entity).despawn();
            }
        }
    }
}
