//! The proposer: choose a parent by tournament, diagnose its inner-loop trace, pick an
//! operator conditioned on the diagnosis (credit learned online), write a child.

use bevy_ecs::prelude::*;
use rand::RngExt;

use crate::genome::syntax::print;
use crate::genome::{Genome, Limits};
use crate::rng;
use crate::sim::agents::debater::evaluation_slots;
use crate::sim::components::{AgentKind, Fitness, Lineage, MechId, Mechanism, Status, Traits};
use crate::sim::diagnosis::{Diagnosis, TraceStats, diagnose};
use crate::sim::events::{Event, LessonKind};
use crate::sim::operators::{MadeBy, Operator, rank_operators};
use crate::sim::resources::{DebateBudget, Lessons, OperatorStats, Settings};
use crate::sim::spawn::{Birth, Births, novelty, parent_info, prepare_batch};
use crate::sim::writer::{DraftPrompt, MissingReply, Writer, prompt, write_children};

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
    lessons: Res<Lessons>,
    mut writer: ResMut<Writer>,
    population: Query<(&MechId, &Mechanism, &Status, &Fitness, &Traits, &Lineage)>,
) {
    let sc = &cfg.0;
    if !sc.proposer_enabled || sc.children_per_tick == 0 {
        return;
    }
    let mut pending = 0;
    let mut pool: Vec<ParentView> = Vec::new();
    for (id, m, s, f, t, _) in population.iter() {
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
    let tick = births.clock.tick;
    let mut rng = rng::stream(sc.seed, "propose", &[tick as u64]);
    let limits = Limits::default();
    let target = proposals_this_tick(sc, pending, &budget);
    let llm = sc.llm.as_ref().filter(|l| l.share > 0.0);
    let (mut made, mut attempts, mut draft_index) = (0, 0, 0);
    // Duplicates and failed operators do not use up the tick's proposals: try again,
    // up to a bounded number of attempts, so the slots are filled with new children.
    // Each round drafts the children still wanted (the model's share of them in one
    // batch of requests after the typed ones), then fingerprints the structurally new
    // ones in parallel (the fingerprint, an inner run on the probe task, is the outer
    // loop's largest cost), then admits them in draft order.
    while made < target && attempts < ATTEMPTS_PER_CHILD * target {
        let want = (target - made).min(ATTEMPTS_PER_CHILD * target - attempts);
        attempts += want;
        let mut drafts: Vec<(&ParentView, &ParentView, MadeBy, Genome)> = Vec::new();
        let mut for_model: Vec<(&ParentView, &ParentView, u64)> = Vec::new();
        for _ in 0..want {
            let Some(parent) = tournament(&pool, sc.tournament, &mut rng) else { return };
            let donor = &pool[rng.random_range(0..pool.len())];
            let index = draft_index as u64;
            draft_index += 1;
            if llm.is_some_and(|l| l.writes(index as usize)) {
                for_model.push((parent, donor, index));
                continue;
            }
            match typed_child(parent, donor, &stats, sc, &mut rng, &limits) {
                Some((op, genome)) => drafts.push((parent, donor, MadeBy::Operator(op), genome)),
                None => births.events.0.push(operator_failed(tick, parent.id)),
            }
        }
        if let (Some(settings), false) = (llm, for_model.is_empty()) {
            let Some(oracle) = writer.oracle.clone() else {
                writer.failure =
                    Some("the scenario's proposer asks a language model, but no oracle is installed".into());
                return;
            };
            let prompts: Vec<DraftPrompt> = for_model
                .iter()
                .map(|&(parent, _, index)| DraftPrompt {
                    messages: prompt::conversation(&facts(sc, parent, &lessons, &population)),
                    seed: rng::derive(sc.seed, "llm-request", &[tick as u64, index, 0]),
                    repair_seed: rng::derive(sc.seed, "llm-request", &[tick as u64, index, 1]),
                })
                .collect();
            let written = match write_children(oracle.as_ref(), settings, &prompts, &limits) {
                Ok(w) => w,
                Err(MissingReply(why)) => {
                    writer.failure = Some(why);
                    return;
                }
            };
            for ((parent, donor, _), w) in for_model.into_iter().zip(written) {
                births.events.0.push(Event::Written {
                    tick,
                    parent: parent.id,
                    exchanges: w.exchanges,
                    result: w.result,
                    reason: w.genome.as_ref().err().cloned(),
                    tokens: w.tokens,
                    wall_ms: w.wall_ms,
                    model: w.model.clone(),
                });
                match w.genome {
                    Ok(genome) => drafts.push((parent, donor, MadeBy::Llm, genome)),
                    // The model wrote nothing usable: a typed operator writes the child.
                    Err(_) => match typed_child(parent, donor, &stats, sc, &mut rng, &limits) {
                        Some((op, genome)) => drafts.push((parent, donor, MadeBy::Operator(op), genome)),
                        None => births.events.0.push(operator_failed(tick, parent.id)),
                    },
                }
            }
        }
        let prepared = prepare_batch(&births.known, drafts.iter().map(|d| d.3.clone()).collect());
        for ((parent, donor, made_by, _), prepared) in drafts.into_iter().zip(prepared) {
            // Operators return checked genomes, so a compile failure here means a limit
            // was hit; pivot to the parent's behaviour by skipping.
            let Some(prepared) = prepared else {
                births.events.0.push(Event::Lesson {
                    tick,
                    id: parent.id,
                    kind: LessonKind::Pivot,
                    detail: made_by.name().into(),
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
                    births.events.0.push(dup.event(tick, parent.id, made_by));
                    continue;
                }
            };
            let parents = if matches!(made_by, MadeBy::Operator(Operator::Graft | Operator::Crossover)) {
                vec![parent.id, donor.id]
            } else {
                vec![parent.id]
            };
            let birth = Birth {
                parents,
                agent: AgentKind::Proposer,
                operator: made_by,
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

/// The first operator, in the credit's ranking for the parent's diagnosis, that
/// writes a valid child.
fn typed_child(
    parent: &ParentView,
    donor: &ParentView,
    stats: &OperatorStats,
    sc: &crate::scenario::Scenario,
    rng: &mut rng::Rng,
    limits: &Limits,
) -> Option<(Operator, Genome)> {
    rank_operators(stats, parent.diagnosis, sc.operators, rng)
        .into_iter()
        .find_map(|op| op.apply(&parent.mechanism.genome, &donor.mechanism.genome, rng, limits).map(|g| (op, g)))
}

fn operator_failed(tick: u32, parent: u64) -> Event {
    Event::Lesson {
        tick,
        id: parent,
        kind: LessonKind::OperatorFailed,
        detail: "no operator produced a valid child".into(),
    }
}

/// What the model is told about `parent`: its record and line of descent, the hall of
/// fame, and its children that did worse.
fn facts<'a>(
    sc: &'a crate::scenario::Scenario,
    parent: &'a ParentView<'a>,
    lessons: &'a Lessons,
    population: &Query<(&MechId, &Mechanism, &Status, &Fitness, &Traits, &Lineage)>,
) -> prompt::Facts<'a> {
    let by_id: std::collections::BTreeMap<u64, (&Fitness, &Lineage)> =
        population.iter().map(|(id, _, _, f, _, l)| (id.0, (f, l))).collect();
    let mut lineage = Vec::new();
    let mut at = Some(parent.id);
    // Up to the oldest ancestor still alive (a bounded walk: ids only decrease).
    while let Some(id) = at {
        let Some((f, l)) = by_id.get(&id) else { break };
        lineage.push(prompt::Ancestor { id, made_by: l.operator.to_string(), fitness: f.best_known() });
        at = l.parents.first().copied().filter(|&p| p < id);
    }
    lineage.reverse();
    let mut worse_children: Vec<(u64, String, f64)> = population
        .iter()
        .filter(|(_, _, _, _, _, l)| l.parents.first() == Some(&parent.id))
        .filter_map(|(id, m, _, f, _, _)| {
            let fitness = f.best_known()?;
            (fitness < parent.fitness).then(|| (id.0, print(&m.genome), fitness))
        })
        .collect();
    // The most recent first.
    worse_children.sort_by_key(|c| std::cmp::Reverse(c.0));
    prompt::Facts {
        scenario: sc,
        parent_id: parent.id,
        parent: &parent.mechanism.genome,
        claimed: parent.record.claimed,
        verified: parent.record.verified,
        diagnosis: parent.diagnosis,
        traits: parent.traits,
        lineage,
        hall_of_fame: &lessons.hall_of_fame,
        worse_children: worse_children.into_iter().map(|(_, g, f)| (g, f)).collect(),
        failure_signatures: lessons.failures.len() / 2,
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
