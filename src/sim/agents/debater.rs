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
use bevy_ecs::system::SystemParam;
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
    let credit = cx.stats.0.get(&(diagnosis, lineage.operator.to_string())).copied().unwrap_or_default();
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

/// What the run has learned that the panel reads: operator credit, failure
/// signatures, the pragmatist's model and the debate's record (its base rate).
#[derive(SystemParam)]
pub struct Learned<'w> {
    /// Operator credit per diagnosis.
    pub stats: Res<'w, OperatorStats>,
    /// The hall of fame and failure signatures.
    pub lessons: Res<'w, Lessons>,
    /// The pragmatist's model.
    pub pragmatist: Res<'w, Pragmatist>,
    /// The debate's record so far.
    pub debate: Res<'w, DebateStats>,
}

/// The debater system.
pub fn debate(
    mut commands: Commands,
    cfg: Res<Settings>,
    clock: Res<Clock>,
    learned: Learned,
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
        stats: &learned.stats,
        lessons: &learned.lessons,
        novelty_threshold: sc.novelty_threshold,
        pragmatist: &learned.pragmatist,
        base_rate: learned.debate.base_rate(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::library_text;
    use crate::sim::components::{AgentKind, ParentInfo};
    use crate::sim::predictor::{FEATURES, Predictor};
    use crate::sim::spawn::prepare;
    use bevy_ecs::system::RunSystemOnce;

    /// A library mechanism, compiled and fingerprinted.
    fn mechanism(name: &str) -> Mechanism {
        let genome = crate::genome::load(library_text(name).unwrap(), &Limits::default()).unwrap();
        prepare(genome).unwrap().mechanism
    }

    fn lineage(parent_fitness: f64) -> Lineage {
        Lineage {
            parents: vec![1],
            agent: AgentKind::Proposer,
            operator: "mutate-constant".parse().unwrap(),
            diagnosis: None,
            tick: 4,
            parent_fitness: Some(parent_fitness),
            parent: ParentInfo::default(),
        }
    }

    fn logistic(z: f64) -> f64 {
        1.0 / (1.0 + (-z).exp())
    }

    /// A pragmatist that reads only the parent's fitness: a proposal's probability is the
    /// logistic of its parent's fitness, so a test chooses the ranking. The feature is
    /// found by varying the parent's fitness alone, not by its index.
    fn parent_fitness_pragmatist() -> Pragmatist {
        let s = Signals { operator_credit: 0.5, neighbour: 0.5, novelty: 0.5, risk: 0.0, parent_rank: 0.5 };
        let (a, b) = (features(&lineage(0.0), s), features(&lineage(1.0), s));
        let k = (0..FEATURES).find(|&k| a[k] != b[k]).unwrap();
        let mut weights = vec![0.0; FEATURES];
        weights[k] = 1.0;
        Pragmatist(Predictor { weights, updates: 1 })
    }

    /// A world with the smoke scenario's settings, `children + crossover` evaluation
    /// slots and the given audit rate, at tick 4, with nothing learned yet.
    fn world(children: usize, crossover: usize, audit_rate: f64, pragmatist: Pragmatist) -> World {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
        let mut scenario = crate::scenario::load(&path).unwrap();
        scenario.children_per_tick = children;
        scenario.crossover_per_tick = crossover;
        scenario.audit_rate = audit_rate;
        let mut w = World::new();
        w.insert_resource(Settings(scenario));
        w.insert_resource(Clock { tick: 4, next_id: 100 });
        w.insert_resource(EventQueue::default());
        w.insert_resource(OperatorStats::default());
        w.insert_resource(Lessons::default());
        w.insert_resource(pragmatist);
        w.insert_resource(DebateStats::default());
        w
    }

    fn propose(w: &mut World, id: u64, parent_fitness: f64, m: &Mechanism) {
        w.spawn((MechId(id), m.clone(), Status::Proposed, Fitness::default(), lineage(parent_fitness)));
    }

    fn member(w: &mut World, id: u64, claimed: f64, m: &Mechanism) {
        let fitness = Fitness { claimed: Some(claimed), ..Default::default() };
        w.spawn((MechId(id), m.clone(), Status::Evaluated, fitness, lineage(0.0)));
    }

    /// Every mechanism left, by id: its status and its prediction's probability.
    fn left(w: &mut World) -> Vec<(u64, Status, Option<f64>)> {
        let mut v: Vec<_> = w
            .query::<(&MechId, &Status, Option<&Prediction>)>()
            .iter(w)
            .map(|(id, s, p)| (id.0, *s, p.map(|p| p.probability)))
            .collect();
        v.sort_by_key(|m| m.0);
        v
    }

    /// The debate's verdicts in the order written: (id, verdict, audited).
    fn verdicts(w: &World) -> Vec<(u64, Verdict, bool)> {
        let events = &w.resource::<EventQueue>().0;
        events
            .iter()
            .filter_map(|e| match e {
                Event::Debated { tick: 4, id, verdict, audited, .. } => Some((*id, *verdict, *audited)),
                _ => None,
            })
            .collect()
    }

    /// The ids retired as rejected, in the order written.
    fn rejected(w: &World) -> Vec<u64> {
        let events = &w.resource::<EventQueue>().0;
        events
            .iter()
            .filter_map(|e| match e {
                Event::Retired { tick: 4, id, reason: RetireReason::Rejected } => Some(*id),
                _ => None,
            })
            .collect()
    }

    /// The votes written for one proposal.
    fn votes(w: &World, of: u64) -> Vec<Vote> {
        let events = &w.resource::<EventQueue>().0;
        events
            .iter()
            .find_map(|e| match e {
                Event::Debated { id, votes, .. } if *id == of => Some(votes.clone()),
                _ => None,
            })
            .unwrap()
    }

    /// Five proposals (ids 1 to 5) whose parents' fitnesses rank them 2, 5, 4, 1, 3, and
    /// an evaluated member (id 9) that is not debated.
    fn five_proposals(w: &mut World) {
        let m = mechanism("uniform-random");
        for (id, parent) in [(1, 0.1), (2, 0.9), (3, -0.5), (4, 0.4), (5, 0.7)] {
            propose(w, id, parent, &m);
        }
        member(w, 9, 0.3, &mechanism("tabu-search"));
    }

    /// The debate changes what is evaluated, never how much: the three slots (two
    /// proposer, one recombiner) go to the three proposals the pragmatist ranks highest,
    /// which keep their prediction for the credit step; the other two are retired as
    /// rejected and leave the world.
    #[test]
    fn the_most_probable_proposals_fill_the_slots_and_the_rest_are_rejected() {
        let mut w = world(2, 1, 0.0, parent_fitness_pragmatist());
        five_proposals(&mut w);
        w.run_system_once(debate).unwrap();
        use Verdict::*;
        assert_eq!(
            verdicts(&w),
            vec![(2, Accept, false), (5, Accept, false), (4, Accept, false), (1, Reject, false), (3, Reject, false)]
        );
        assert_eq!(rejected(&w), vec![1, 3]);
        assert_eq!(
            left(&mut w),
            vec![
                (2, Status::Accepted, Some(logistic(0.9))),
                (4, Status::Accepted, Some(logistic(0.4))),
                (5, Status::Accepted, Some(logistic(0.7))),
                (9, Status::Evaluated, None),
            ]
        );
    }

    /// With `audit_rate` 1 every rejected proposal is audited, and each audit takes the
    /// slot of the lowest-ranked accepted proposal: of the top three only the first stays
    /// accepted, the next two are rejected and retired, and the two rejected at the
    /// bottom are evaluated instead, so evaluations still equal the slots.
    #[test]
    fn audits_take_the_slots_of_the_lowest_ranked_accepted_proposals() {
        let mut w = world(2, 1, 1.0, parent_fitness_pragmatist());
        five_proposals(&mut w);
        w.run_system_once(debate).unwrap();
        use Verdict::*;
        assert_eq!(
            verdicts(&w),
            vec![(2, Accept, false), (5, Reject, false), (4, Reject, false), (1, Reject, true), (3, Reject, true)]
        );
        assert_eq!(rejected(&w), vec![5, 4]);
        assert_eq!(
            left(&mut w),
            vec![
                (1, Status::Audited, Some(logistic(0.1))),
                (2, Status::Accepted, Some(logistic(0.9))),
                (3, Status::Audited, Some(logistic(-0.5))),
                (9, Status::Evaluated, None),
            ]
        );
    }

    /// Equal probabilities (an untrained pragmatist says 0.5 for everything) are ranked
    /// by accept votes, then by id: proposal 1 resembles a past failure, so the
    /// contrarian rejects it and it ranks last despite the lowest id, while 2, 3 and 4,
    /// with the same votes, keep their id order.
    #[test]
    fn ties_go_to_more_accept_votes_then_to_the_lower_id() {
        let mut w = world(1, 1, 0.0, Pragmatist::default());
        let (failed, plain) = (mechanism("tabu-search"), mechanism("uniform-random"));
        w.resource_mut::<Lessons>().failures.insert(failed.hash);
        propose(&mut w, 1, 0.0, &failed);
        for id in [2, 3, 4] {
            propose(&mut w, id, 0.0, &plain);
        }
        w.run_system_once(debate).unwrap();
        assert_eq!(accepts(&votes(&w, 1)), 2);
        assert_eq!(accepts(&votes(&w, 2)), 3);
        use Verdict::*;
        assert_eq!(verdicts(&w), vec![(2, Accept, false), (3, Accept, false), (4, Reject, false), (1, Reject, false)]);
        assert_eq!(rejected(&w), vec![4, 1]);
    }

    /// The log keeps each role's vote and score: the innovator's novelty is the distance
    /// (half structural, half behavioural) to the nearest evaluated member, so a copy of
    /// a member scores 0 and is voted down; the pragmatist accepts at or above the base
    /// rate (0.5 with nothing measured); the contrarian's risk is half the genome's share
    /// of the node limit, plus 0.6 when its structure or its behaviour failed before, and
    /// it rejects from CONTRARIAN_THRESHOLD up. Votes do not gate: with a slot for every
    /// proposal, all are accepted whatever the votes.
    #[test]
    fn each_role_votes_with_its_score_and_the_contrarian_rejects_from_its_threshold() {
        let mut w = world(3, 1, 0.0, parent_fitness_pragmatist());
        let plain = mechanism("uniform-random");
        let large = mechanism("dehb");
        let (failed_structure, failed_behaviour) = (mechanism("greedy-keep-discard"), mechanism("one-plus-one-es"));
        member(&mut w, 9, 0.2, &plain);
        {
            let mut lessons = w.resource_mut::<Lessons>();
            lessons.failures.insert(failed_structure.hash);
            lessons.failures.insert(failed_behaviour.fingerprint.hash);
        }
        propose(&mut w, 1, 1.0, &plain);
        propose(&mut w, 2, -1.0, &large);
        propose(&mut w, 3, 0.5, &failed_structure);
        propose(&mut w, 4, 0.5, &failed_behaviour);
        w.run_system_once(debate).unwrap();

        let size_risk = |m: &Mechanism| 0.5 * (m.genome.size() as f64 / Limits::default().max_nodes as f64);
        let novelty = |m: &Mechanism| {
            0.5 * (m.bag.distance(&plain.bag) + behavioural_distance(&m.fingerprint, &plain.fingerprint))
        };
        let expected = [
            (1, &plain, 1.0, size_risk(&plain)),
            (2, &large, -1.0, size_risk(&large)),
            (3, &failed_structure, 0.5, size_risk(&failed_structure) + 0.6),
            (4, &failed_behaviour, 0.5, size_risk(&failed_behaviour) + 0.6),
        ];
        for (id, m, parent, risk) in expected {
            let v = votes(&w, id);
            assert_eq!(
                v.iter().map(|v| v.role).collect::<Vec<_>>(),
                [Role::Innovator, Role::Pragmatist, Role::Contrarian]
            );
            assert!((v[0].score - novelty(m)).abs() < 1e-12, "{id}: novelty {}", v[0].score);
            assert!((v[1].score - logistic(parent)).abs() < 1e-12, "{id}: probability {}", v[1].score);
            assert!((v[2].score - risk).abs() < 1e-12, "{id}: risk {}", v[2].score);
            let ballot = |ok: bool| if ok { Ballot::Accept } else { Ballot::Reject };
            assert_eq!(v[0].vote, ballot(v[0].score >= w.resource::<Settings>().0.novelty_threshold), "{id}");
            assert_eq!(v[1].vote, ballot(parent >= 0.0), "{id}");
            assert_eq!(v[2].vote, ballot(risk < CONTRARIAN_THRESHOLD), "{id}");
        }
        // The cases the rules are checked on: a copy of a member, a genome large enough
        // to be risky by size alone, and both kinds of resemblance to a failure.
        assert_eq!(votes(&w, 1)[0], Vote { role: Role::Innovator, vote: Ballot::Reject, score: 0.0 });
        assert_eq!(votes(&w, 1)[2].vote, Ballot::Accept);
        assert!(size_risk(&large) >= CONTRARIAN_THRESHOLD, "dehb is no longer large: pick another");
        assert_eq!(votes(&w, 2)[2].vote, Ballot::Reject);
        assert_eq!(votes(&w, 3)[2].vote, Ballot::Reject);
        assert_eq!(votes(&w, 4)[2].vote, Ballot::Reject);
        assert!(verdicts(&w).iter().all(|v| v.1 == Verdict::Accept && !v.2));
        assert!(rejected(&w).is_empty());
    }

    /// The innovator's novelty of a tabu-search proposal among 69 uniform-random
    /// members and one tabu-search member: the panel compares with the 32 fittest and
    /// the 32 most recent of the rest only, so the tabu-search member counts (novelty 0)
    /// when it is among the fittest or the most recent, and not when it is old and unfit.
    fn novelty_beside(tabu_id: u64, tabu_fitness: f64) -> f64 {
        let mut w = world(1, 0, 0.0, Pragmatist::default());
        let (plain, tabu) = (mechanism("uniform-random"), mechanism("tabu-search"));
        member(&mut w, tabu_id, tabu_fitness, &tabu);
        // Ids 2 to 33 are the fittest plain members; 34 to 70 are the recent ones.
        for id in 2..=70 {
            member(&mut w, id, if id <= 33 { 1.0 } else { 0.0 }, &plain);
        }
        propose(&mut w, 100, 0.0, &tabu);
        w.run_system_once(debate).unwrap();
        votes(&w, 100)[0].score
    }

    /// A debate costs the same whatever the population: the reference set is the
    /// fittest half and the most recent half of PANEL_REFERENCE members.
    #[test]
    fn the_panel_compares_with_the_fittest_and_the_most_recent_members_only() {
        assert_eq!(novelty_beside(1, 2.0), 0.0, "the fittest member is compared with");
        assert_eq!(novelty_beside(200, -1.0), 0.0, "the most recent member is compared with");
        assert!(novelty_beside(1, -1.0) > 0.0, "an old, unfit member is not");
    }

    /// With the debater off every proposal is accepted, beyond the slots too, and
    /// nothing is voted, predicted or retired (the ablation arm).
    #[test]
    fn a_disabled_debater_accepts_every_proposal_without_a_vote() {
        let mut w = world(1, 0, 1.0, parent_fitness_pragmatist());
        w.resource_mut::<Settings>().0.debater_enabled = false;
        five_proposals(&mut w);
        w.run_system_once(debate).unwrap();
        assert!(w.resource::<EventQueue>().0.is_empty());
        let mut expected: Vec<_> = (1..=5).map(|id| (id, Status::Accepted, None)).collect();
        expected.push((9, Status::Evaluated, None));
        assert_eq!(left(&mut w), expected);
    }

    /// An evaluated population with no proposals is left as it is.
    #[test]
    fn no_proposals_no_debate() {
        let mut w = world(2, 1, 1.0, parent_fitness_pragmatist());
        member(&mut w, 9, 0.3, &mechanism("tabu-search"));
        w.run_system_once(debate).unwrap();
        assert!(w.resource::<EventQueue>().0.is_empty());
        assert_eq!(left(&mut w), vec![(9, Status::Evaluated, None)]);
    }
}
