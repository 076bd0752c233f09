//! Evaluate: run every accepted (or audited) mechanism's claim episodes in parallel and
//! record its claimed fitness relative to the reference mechanism.

use bevy_ecs::prelude::*;

use super::components::{Cost, Fitness, Lineage, MechId, Mechanism, Status, Traits};
use super::diagnosis::mean_stats;
use super::episodes::{claim_episodes, ensure_reference, gains, mean_sd, run_jobs};
use super::events::Event;
use super::resources::{
    Clock, Config, DebateStats, EventQueue, Lessons, Metrics, OperatorStats, Reference, ReferenceCache, Tasks,
};
use crate::genome::Program;

/// A child that does this much worse than its parent (in log10 regret ratio) is
/// remembered as a failure signature.
const FAILURE_MARGIN: f64 = 0.3;

/// What the evaluator reads and writes on each mechanism.
type EvaluateRow<'a> =
    (Entity, &'a MechId, &'a Mechanism, &'a mut Status, &'a mut Fitness, &'a mut Cost, &'a mut Traits, &'a Lineage);

/// The evaluate system.
#[expect(clippy::too_many_arguments, reason = "a system names each resource it touches")]
pub fn evaluate(
    mut commands: Commands,
    cfg: Res<Config>,
    clock: Res<Clock>,
    tasks: Res<Tasks>,
    reference: Res<Reference>,
    mut cache: ResMut<ReferenceCache>,
    mut stats: ResMut<OperatorStats>,
    mut debate: ResMut<DebateStats>,
    mut lessons: ResMut<Lessons>,
    mut metrics: ResMut<Metrics>,
    mut events: ResMut<EventQueue>,
    mut q: Query<EvaluateRow>,
) {
    let sc = &cfg.0;
    let mut todo: Vec<(Entity, u64)> = q
        .iter()
        .filter(|(_, _, _, s, ..)| matches!(**s, Status::Accepted | Status::Audited))
        .map(|(e, id, ..)| (e, id.0))
        .collect();
    todo.sort_by_key(|t| t.1);
    metrics.tick_evaluated = todo.len();
    if todo.is_empty() {
        return;
    }
    let episodes = claim_episodes(sc.seed, tasks.0.len(), sc.inner_seeds);
    metrics.compute += ensure_reference(&mut cache, &reference.0, &episodes, &tasks.0, sc.inner_budget);
    let programs: Vec<Program> = todo.iter().filter_map(|(e, _)| q.get(*e).ok().map(|r| r.2.program.clone())).collect();
    let jobs: Vec<(&Program, usize, u64)> =
        programs.iter().flat_map(|p| episodes.iter().map(move |&(t, s)| (p, t, s))).collect();
    let results = run_jobs(&jobs, &tasks.0, sc.inner_budget);
    for (i, (entity, id)) in todo.into_iter().enumerate() {
        let chunk = &results[i * episodes.len()..(i + 1) * episodes.len()];
        let Ok((_, _, mechanism, mut status, mut fitness, mut cost, mut traits, lineage)) = q.get_mut(entity) else {
            continue;
        };
        let g = gains(chunk, &cache, &tasks.0);
        let (claimed, spread) = mean_sd(&g);
        let spent: f64 = chunk.iter().map(|r| r.spent).sum();
        cost.0 += spent;
        metrics.compute += spent;
        fitness.claimed = Some(claimed);
        fitness.claimed_episodes = g;
        traits.0 = mean_stats(&chunk.iter().map(|r| r.stats).collect::<Vec<_>>());
        let improved = lineage.parent_fitness.map(|p| claimed > p);
        let audited = *status == Status::Audited;
        events.0.push(Event::Evaluated {
            tick: clock.tick,
            id,
            claimed,
            spread,
            episodes: chunk.len(),
            cost: spent,
            audited,
            improved,
        });
        if traits.0.failures > 0.2 {
            events.0.push(Event::Lesson {
                tick: clock.tick,
                id,
                kind: "inner-heals".into(),
                detail: format!("{:.0}% of trials failed or were healed", 100.0 * traits.0.failures),
            });
        }
        if let (Some(improved), Some(diagnosis)) = (improved, lineage.diagnosis) {
            let credit = stats.0.entry((diagnosis, lineage.operator.clone())).or_default();
            credit.trials += 1;
            credit.wins += u64::from(improved);
        }
        if let Some(parent) = lineage.parent_fitness {
            if claimed < parent - FAILURE_MARGIN {
                lessons.failures.insert(mechanism.hash);
                lessons.failures.insert(mechanism.fingerprint.hash);
            }
            if audited {
                debate.audited += 1;
                debate.audited_improved += u64::from(claimed > parent);
            } else if lineage.agent == super::components::AgentKind::Proposer {
                debate.accepted += 1;
                debate.accepted_improved += u64::from(claimed > parent);
            }
        }
        if audited {
            // Audits only measure the debate; the rejection stands.
            events.0.push(Event::Retired { tick: clock.tick, id, reason: "audited".into() });
            commands.entity(entity).despawn();
        } else {
            *status = Status::Evaluated;
        }
    }
}
