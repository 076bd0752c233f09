//! The debater: a panel of three roles scores each proposal before compute is spent,
//! and only as many proposals as there are evaluation slots go on to be evaluated.
//!
//! - innovator: novelty (structural and behavioural distance to the population);
//! - contrarian: risk (size, resemblance to past failures);
//! - pragmatist: the probability that the proposal beats its parent, predicted by a
//!   model learned online from the run's own evaluated children
//!   ([`crate::sim::predictor`]), whose inputs include the other two roles' scores, the
//!   operator's credit, the parent's fitness, spread and trace statistics, and the
//!   child's distance from its parent.
//!
//! Each role votes (kept in the event log), and proposals are ranked by the
//! pragmatist's probability (ties: more accept votes, then lower id). The top ones fill
//! the tick's evaluation slots, so the debate never changes how much is evaluated, only
//! what. A fraction `audit_rate` of the rejected proposals is evaluated anyway, taking a
//! slot from the lowest-ranked accepted one, so the debate's precision is measured
//! against the improvement rate of what it rejects. How many proposals the proposer
//! writes beyond the slots (the debate's budget, [`DebateBudget`]) follows that measured
//! value.

use bevy_ecs::prelude::*;
use rand::RngExt;

use crate::genome::Limits;
use crate::inner::fingerprint::behavioural_distance;
use crate::rng;
use crate::sim::components::{Fitness, Lineage, MechId, Mechanism, Status};
use crate::sim::diagnosis::Diagnosis;
use crate::sim::events::{Ballot, Event, RetireReason, Role, Verdict, Vote};
use crate::sim::predictor::Prediction;
use crate::sim::predictor::{Signals, features};
use crate::sim::resources::{Clock, DebateStats, EventQueue, Lessons, OperatorStats, Pragmatist, Settings};

/// How many population members a proposal is compared with (the fittest half and the
/// most recent half), so a debate costs the same whatever the population size.
const PANEL_REFERENCE: usize = 64;
/// The contrarian rejects when the risk score reaches this.
pub const CONTRARIAN_THRESHOLD: f64 = 0.15;

struct Peer<'a> {
    mechanism: &'a Mechanism,
    fitness: f64,
}

/// What the panel knows besides the proposal: the population it compares with and
/// what the run has learned.
struct Context<'a> {
    peers: Vec<Peer<'a>>,
    stats: &'a OperatorStats,
    lessons: &'a Lessons,
    novelty_threshold: f64,
    pragmatist: &'a Pragmatist,
    base_rate: f64,
}

/// The panel's view of one proposal: the pragmatist's inputs and the three votes.
fn panel(proposal: &Mechanism, lineage: &Lineage, cx: &Context) -> (Prediction, Vec<Vote>) {
    let (mut structural, mut behavioural, mut nn_fitness) = (1.0f64, 1.0f64, None);
    let mut nearest = f64::INFINITY;
    for p in &cx.peers {
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
    let credit = cx.stats.0.get(&(diagnosis, lineage.operator.clone())).copied().unwrap_or_default();
    let operator_credit = (credit.wins as f64 + 1.0) / (credit.trials as f64 + 2.0);
    let parent = lineage.parent_fitness.unwrap_or(0.0);
    let neighbour = nn_fitness.map(|f| 1.0 / (1.0 + (-4.0 * (f - parent)).exp())).unwrap_or(0.5);
    let size = proposal.genome.size() as f64 / Limits::default().max_nodes as f64;
    let resembles_failure =
        cx.lessons.failures.contains(&proposal.hash) || cx.lessons.failures.contains(&proposal.fingerprint.hash);
    let risk = 0.5 * size + if resembles_failure { 0.6 } else { 0.0 };
    let fitter = cx.peers.iter().filter(|p| p.fitness > parent).count();
    let parent_rank = if cx.peers.is_empty() { 0.5 } else { fitter as f64 / cx.peers.len() as f64 };
    let x = features(lineage, Signals { operator_credit, neighbour, novelty, risk, parent_rank });
    let probability = cx.pragmatist.0.predict(&x);
    let vote =
        |role: Role, ok: bool, score: f64| Vote { role, vote: if ok { Ballot::Accept } else { Ballot::Reject }, score };
    let votes = vec![
        vote(Role::Innovator, novelty >= cx.novelty_threshold, novelty),
        vote(Role::Pragmatist, probability >= cx.base_rate, probability),
        vote(Role::Contrarian, risk < CONTRARIAN_THRESHOLD, risk),
    ];
    (Prediction { features: x, probability }, votes)
}

fn accepts(votes: &[Vote]) -> usize {
    votes.iter().filter(|v| v.vote == Ballot::Accept).count()
}

/// Evaluation slots per tick: proposer and recombiner children together. The same
/// The debate's rules for its record, one definition for the simulation's credit step
/// and the analysis's replay of the event log.
impl DebateStats {
    /// Tally an evaluated debated child: an accepted one toward precision, an audited
    /// rejection toward the rate of improvements the panel threw away.
    pub fn record_outcome(&mut self, audited: bool, improved: bool) {
        if audited {
            self.audited += 1;
            self.audited_improved += u64::from(improved);
        } else {
            self.accepted += 1;
            self.accepted_improved += u64::from(improved);
        }
    }

    /// Score the pragmatist's predicted probability against the outcome (Brier), beside
    /// the running base rate's forecast.
    pub fn score_prediction(&mut self, probability: f64, improved: bool) {
        let y = f64::from(u8::from(improved));
        self.scored += 1;
        self.brier_sum += (probability - y).powi(2);
        self.base_brier_sum += (self.base_rate() - y).powi(2);
    }
}

/// whichever agents are switched on, so ablation arms spend equal compute.
pub fn evaluation_slots(sc: &crate::scenario::Scenario) -> usize {
    sc.children_per_tick + sc.crossover_per_tick
}

/// The debater system.
#[expect(clippy::too_many_arguments, reason = "a system names each resource it touches")]
pub fn debate(
    mut commands: Commands,
    cfg: Res<Settings>,
    clock: Res<Clock>,
    stats: Res<OperatorStats>,
    lessons: Res<Lessons>,
    pragmatist: Res<Pragmatist>,
    debate_stats: Res<DebateStats>,
    mut events: ResMut<EventQueue>,
    mut q: Query<(Entity, &MechId, &Mechanism, &mut Status, &Fitness, &Lineage)>,
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
    // The fittest half and the most recent half of the panel's reference set, chosen
    // with partial selections (no full sort of a large population).
    let half = PANEL_REFERENCE / 2;
    let by_fitness = |a: &(u64, f64, Entity), b: &(u64, f64, Entity)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if members.len() > half {
        members.select_nth_unstable_by(half - 1, by_fitness);
    }
    let split = half.min(members.len());
    let (fittest, rest) = members.split_at_mut(split);
    if rest.len() > half {
        rest.select_nth_unstable_by_key(half - 1, |m| std::cmp::Reverse(m.0));
    }
    let mut chosen: Vec<(u64, f64, Entity)> = fittest.to_vec();
    chosen.extend(rest.iter().take(half));
    chosen.sort_by_key(|m| m.0);
    let peers: Vec<Peer> =
        chosen.iter().filter_map(|m| Some(Peer { mechanism: q.get(m.2).ok()?.2, fitness: m.1 })).collect();
    let cx = Context {
        peers,
        stats: &stats,
        lessons: &lessons,
        novelty_threshold: sc.novelty_threshold,
        pragmatist: &pragmatist,
        base_rate: debate_stats.base_rate(),
    };
    let mut scored: Vec<(Entity, u64, Prediction, Vec<Vote>)> = proposals
        .iter()
        .filter_map(|&(e, id)| {
            let (_, _, mechanism, _, _, lineage) = q.get(e).ok()?;
            let (prediction, votes) = panel(mechanism, lineage, &cx);
            Some((e, id, prediction, votes))
        })
        .collect();
    drop(cx);
    scored.sort_by(|a, b| {
        b.2.probability.total_cmp(&a.2.probability).then(accepts(&b.3).cmp(&accepts(&a.3))).then(a.1.cmp(&b.1))
    });
    let slots = evaluation_slots(sc).min(scored.len());
    let mut rng = rng::stream(sc.seed, "debate", &[clock.tick as u64]);
    // Audits: each rejected proposal with probability `audit_rate`; every audit takes
    // the slot of the lowest-ranked accepted proposal, so evaluations stay at `slots`.
    let audited: Vec<bool> = (slots..scored.len()).map(|_| rng.random::<f64>() < sc.audit_rate).collect();
    let accepted = slots.saturating_sub(audited.iter().filter(|a| **a).count());
    for (rank, (entity, id, prediction, votes)) in scored.into_iter().enumerate() {
        let is_audit = rank >= slots && audited[rank - slots];
        let verdict = if rank < accepted { Verdict::Accept } else { Verdict::Reject };
        events.0.push(Event::Debated { tick: clock.tick, id, votes, verdict, audited: is_audit });
        let Ok((_, _, _, mut status, _, _)) = q.get_mut(entity) else { continue };
        if rank < accepted || is_audit {
            *status = if is_audit { Status::Audited } else { Status::Accepted };
            commands.entity(entity).insert(prediction);
        } else {
            events.0.push(Event::Retired { tick: clock.tick, id, reason: RetireReason::Rejected });
            commands.entity(entity).despawn();
        }
    }
}
