//! Evaluate: race every accepted (or audited) mechanism on the shared claim episodes
//! and record its claimed fitness relative to the reference mechanism.
//!
//! The race: every mechanism gets `inner.min_seeds` blocks of claim episodes (one
//! episode per task each), then one more block at a time up to `inner.seeds`. After
//! each block a child is compared with its primary parent episode by episode (the same
//! claim seeds, common random numbers); when the 95% upper bound of the paired
//! difference is below zero the child is a clear loser and leaves the race (retired as
//! `raced-out`). Close decisions get every block; clear losers cost only the first few.
//! With `min_seeds == seeds` (the default) every mechanism gets the fixed claim set.
//!
//! What each evaluated child teaches the agents (operator credit, the debate's tally,
//! the pragmatist's learning, failure signatures) is left as an [`Outcome`] for the
//! credit step that runs next.

use bevy_ecs::prelude::*;

use super::components::{Cost, Fitness, Lineage, MechId, Mechanism, Status, Traits};
use super::credit::{Outcome, Outcomes};
use super::diagnosis::{TraceStats, mean_stats};
use super::evaluator::EvaluationError;
use super::evaluator::Evaluator;
use super::events::{Event, LessonKind, RetireReason};
use super::predictor::Prediction;
use super::resources::{Clock, EventQueue, Known, Metrics, Settings};
use super::seeds::{SeedKind, episode_blocks};
use super::spawn::prepare;
use super::tuning::{best, tunes, variants};
use crate::genome::Program;
use crate::stats::{mean, mean_half_width, mean_sd};

/// What the evaluator reads and writes on each mechanism.
type EvaluateRow<'a> = (
    Entity,
    &'a MechId,
    &'a mut Mechanism,
    &'a mut Status,
    &'a mut Fitness,
    &'a mut Cost,
    &'a mut Traits,
    &'a Lineage,
    Option<&'a Prediction>,
);

/// Paired differences child minus parent over the episodes both have.
fn paired(child: &[f64], parent: &[f64]) -> Vec<f64> {
    child.iter().zip(parent).map(|(c, p)| c - p).collect()
}

/// Whether a child beat its parent: the mean paired difference on common claim
/// episodes when the parent's claim is known, else the claims' means.
pub fn improved_over_parent(claim: &[f64], lineage: &Lineage) -> Option<bool> {
    let parent = lineage.parent_fitness?;
    let d = paired(claim, &lineage.parent.claim);
    if d.is_empty() { Some(mean(claim) > parent) } else { Some(mean(&d) > 0.0) }
}

/// Whether the race drops a child after its latest block: the paired difference with
/// its parent is clearly negative (upper 95% bound below zero, at least 3 pairs).
pub fn clear_loser(claim: &[f64], lineage: &Lineage) -> bool {
    let d = paired(claim, &lineage.parent.claim);
    if d.len() < 3 {
        return false;
    }
    let (mean, half) = mean_half_width(&d);
    mean + half < 0.0
}

struct Racer {
    entity: Entity,
    id: u64,
    program: Program,
    gains: Vec<f64>,
    stats: Vec<TraceStats>,
    spent: f64,
    racing: bool,
}

/// One tick's constant tuning of structurally new children (`proposer.tune_constants`).
struct Tuning {
    tick: u32,
    seed: u64,
    k: usize,
}

impl Tuning {
    /// Try `k` constant vectors of every structurally new racer on the first claim block
    /// (one batch for all of them), and give each the best: its program for the race,
    /// its mechanism (recompiled and fingerprinted) for the population. The compute is
    /// charged to the run and the child; each tuning is a `Tuned` event.
    fn run(
        &self,
        racers: &mut [Racer],
        evaluator: &mut Evaluator,
        metrics: &mut Metrics,
        events: &mut EventQueue,
        known: &mut Known,
        q: &mut Query<EvaluateRow>,
    ) -> Result<(), EvaluationError> {
        let ntasks = evaluator.tasks().len();
        let block = episode_blocks(self.seed, SeedKind::Claim, ntasks, 0..1);
        let tuned: Vec<(usize, Vec<(crate::genome::Genome, Program)>)> = racers
            .iter()
            .enumerate()
            .filter_map(|(i, r)| {
                let row = q.get(r.entity).ok()?;
                tunes(row.7.operator).then(|| (i, variants(&row.2.genome, self.k, self.seed, r.id)))
            })
            .filter(|(_, v)| v.len() > 1)
            .collect();
        if tuned.is_empty() {
            return Ok(());
        }
        metrics.compute += evaluator.ensure_reference(&block)?;
        let jobs: Vec<(&Program, usize, u64)> = tuned
            .iter()
            .flat_map(|(_, vs)| vs.iter().flat_map(|(_, p)| block.iter().map(move |&(t, s)| (p, t, s))))
            .collect();
        let results = evaluator.run(&jobs)?;
        let mut at = 0;
        for (i, vs) in tuned {
            let per = block.len();
            let chunks: Vec<&[super::episode_batch::EpisodeResult]> =
                (0..vs.len()).map(|k| &results[at + k * per..at + (k + 1) * per]).collect();
            at += vs.len() * per;
            let means: Vec<f64> = chunks.iter().map(|c| mean(&evaluator.gains(c))).collect();
            let spent: f64 = chunks.iter().flat_map(|c| c.iter().map(|e| e.spent)).sum();
            let pick = best(&means);
            let r = &mut racers[i];
            let Ok(mut row) = q.get_mut(r.entity) else { continue };
            row.5.0 += spent;
            metrics.compute += spent;
            let (genome, program) = vs.into_iter().nth(pick).expect("the pick is one of the variants");
            if pick > 0
                && let Some(candidate) = prepare(genome)
            {
                known.structures.entry(candidate.mechanism.hash).or_insert(r.id);
                known.behaviours.entry(candidate.mechanism.fingerprint.hash).or_insert(r.id);
                *row.2 = candidate.mechanism;
                r.program = program;
            }
            events.0.push(Event::Tuned {
                tick: self.tick,
                id: r.id,
                tried: means.len(),
                spent,
                before: means[0],
                after: means[pick],
                hash: format!("{:016x}", row.2.hash),
                genome: crate::genome::syntax::print(&row.2.genome),
            });
        }
        Ok(())
    }
}

/// The evaluate system.
#[expect(clippy::too_many_arguments, reason = "a system names each resource it touches")]
pub fn evaluate(
    mut commands: Commands,
    cfg: Res<Settings>,
    clock: Res<Clock>,
    mut evaluator: ResMut<Evaluator>,
    mut outcomes: ResMut<Outcomes>,
    mut metrics: ResMut<Metrics>,
    mut events: ResMut<EventQueue>,
    mut known: ResMut<Known>,
    mut q: Query<EvaluateRow>,
) {
    let sc = &cfg.0;
    let mut todo: Vec<(Entity, u64)> =
        q.iter().filter(|r| matches!(*r.3, Status::Accepted | Status::Audited)).map(|r| (r.0, r.1.0)).collect();
    todo.sort_by_key(|t| t.1);
    metrics.tick_evaluated = todo.len();
    if todo.is_empty() {
        return;
    }
    let mut racers: Vec<Racer> = todo
        .iter()
        .filter_map(|&(entity, id)| {
            let program = q.get(entity).ok()?.2.program.clone();
            Some(Racer { entity, id, program, gains: Vec::new(), stats: Vec::new(), spent: 0.0, racing: true })
        })
        .collect();
    let ntasks = evaluator.tasks().len();
    if sc.tune_constants > 1 {
        let tuning = Tuning { tick: clock.tick, seed: sc.seed, k: sc.tune_constants };
        if let Err(failure) = tuning.run(&mut racers, &mut evaluator, &mut metrics, &mut events, &mut known, &mut q) {
            return evaluator.fail(failure);
        }
    }
    let mut done = 0;
    while done < sc.inner_seeds && racers.iter().any(|r| r.racing) {
        let next = if done == 0 { sc.min_seeds } else { done + 1 };
        let episodes = episode_blocks(sc.seed, SeedKind::Claim, ntasks, done..next);
        let active: Vec<usize> = (0..racers.len()).filter(|&i| racers[i].racing).collect();
        let racing = &racers;
        let jobs: Vec<(&Program, usize, u64)> =
            active.iter().flat_map(|&i| episodes.iter().map(move |&(t, s)| (&racing[i].program, t, s))).collect();
        let run = evaluator.ensure_reference(&episodes).and_then(|spent| Ok((spent, evaluator.run(&jobs)?)));
        let (reference_spent, results) = match run {
            Ok(ran) => ran,
            Err(failure) => return evaluator.fail(failure),
        };
        metrics.compute += reference_spent;
        for (k, &i) in active.iter().enumerate() {
            let chunk = &results[k * episodes.len()..(k + 1) * episodes.len()];
            let r = &mut racers[i];
            r.gains.extend(evaluator.gains(chunk));
            r.stats.extend(chunk.iter().map(|e| e.stats));
            r.spent += chunk.iter().map(|e| e.spent).sum::<f64>();
            if next < sc.inner_seeds
                && let Ok(row) = q.get(r.entity)
                && clear_loser(&r.gains, row.7)
            {
                r.racing = false;
            }
        }
        done = next;
    }
    for r in racers {
        let Ok((_, _, mechanism, mut status, mut fitness, mut cost, mut traits, lineage, prediction)) =
            q.get_mut(r.entity)
        else {
            continue;
        };
        let spread = mean_sd(&r.gains).1;
        let claimed = sc.aggregate.fitness(&r.gains, ntasks);
        let raced_out = r.gains.len() < (sc.inner_seeds as usize) * ntasks;
        cost.0 += r.spent;
        metrics.compute += r.spent;
        let improved = improved_over_parent(&r.gains, lineage);
        fitness.claimed = Some(claimed);
        fitness.claimed_episodes = r.gains;
        traits.0 = mean_stats(&r.stats);
        let audited = *status == Status::Audited;
        events.0.push(Event::Evaluated {
            tick: clock.tick,
            id: r.id,
            claimed,
            spread,
            episodes: fitness.claimed_episodes.len(),
            cost: r.spent,
            audited,
            improved,
        });
        if traits.0.failures > 0.2 {
            events.0.push(Event::Lesson {
                tick: clock.tick,
                id: r.id,
                kind: LessonKind::InnerHeals,
                detail: format!("{:.0}% of trials failed or were healed", 100.0 * traits.0.failures),
            });
        }
        outcomes.0.push(Outcome {
            audited,
            improved,
            claimed,
            prediction: prediction.cloned(),
            lineage: lineage.clone(),
            signatures: [mechanism.hash, mechanism.fingerprint.hash],
        });
        if prediction.is_some() {
            commands.entity(r.entity).remove::<Prediction>();
        }
        if audited || raced_out {
            // Audits only measure the debate (the rejection stands); clear losers of
            // the race leave the population.
            let reason = if audited { RetireReason::Audited } else { RetireReason::RacedOut };
            events.0.push(Event::Retired { tick: clock.tick, id: r.id, reason });
            commands.entity(r.entity).despawn();
        } else {
            *status = Status::Evaluated;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::components::{AgentKind, ParentInfo};

    fn child_of(parent_claim: Vec<f64>) -> Lineage {
        Lineage {
            parents: vec![1],
            agent: AgentKind::Proposer,
            operator: "mutate-constant".parse().unwrap(),
            diagnosis: None,
            tick: 0,
            parent_fitness: Some(parent_claim.iter().sum::<f64>() / parent_claim.len() as f64),
            parent: ParentInfo { claim: parent_claim, ..ParentInfo::default() },
        }
    }

    #[test]
    fn the_race_drops_clear_losers_only_and_compares_episode_by_episode() {
        let parent = vec![0.5, 0.1, 0.9, 0.4, 0.2, 0.8];
        let lineage = child_of(parent.clone());
        // Worse by 0.3 on every episode: clear after three pairs.
        let worse: Vec<f64> = parent.iter().map(|p| p - 0.3).collect();
        assert!(!clear_loser(&worse[..2], &lineage), "two pairs are never enough");
        assert!(clear_loser(&worse[..3], &lineage));
        assert_eq!(improved_over_parent(&worse, &lineage), Some(false));
        // Noisy around the parent: not a clear loser.
        let noisy = vec![0.6, 0.0, 1.0, 0.3, 0.3, 0.7];
        assert!(!clear_loser(&noisy, &lineage));
        // Paired over the episodes the child has: better on each of them.
        let better = vec![0.6, 0.2, 1.0];
        assert_eq!(improved_over_parent(&better, &lineage), Some(true));
    }
}
