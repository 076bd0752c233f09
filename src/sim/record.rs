//! Record: the tick's metrics row and the hall of fame.

use bevy_ecs::prelude::*;

use super::components::{Fitness, MechId, Mechanism, Status};
use super::resources::{Clock, DebateBudget, DebateStats, HallEntry, Lessons, Metrics, MetricsRow};
use crate::genome::syntax::print;
use crate::inner::league::median;

/// Hall-of-fame size.
pub const HALL_OF_FAME: usize = 10;

/// The record system.
pub fn record(
    clock: Res<Clock>,
    debate: Res<DebateStats>,
    budget: Res<DebateBudget>,
    mut lessons: ResMut<Lessons>,
    mut metrics: ResMut<Metrics>,
    q: Query<(&MechId, &Mechanism, &Status, &Fitness)>,
) {
    let live: Vec<_> = q.iter().filter(|r| matches!(r.2, Status::Evaluated | Status::Verified)).collect();
    for (id, m, status, f) in &live {
        let (Status::Verified, Some(v)) = (status, f.verified) else { continue };
        let full = lessons.hall_of_fame.len() >= HALL_OF_FAME;
        let worst = lessons.hall_of_fame.last().map(|h| h.verified).unwrap_or(f64::NEG_INFINITY);
        if (full && v <= worst) || lessons.hall_of_fame.iter().any(|h| h.id == id.0) {
            continue;
        }
        let genome = print(&m.genome);
        if lessons.hall_of_fame.iter().any(|h| h.id == id.0 || h.genome == genome) {
            continue;
        }
        lessons.hall_of_fame.push(HallEntry { id: id.0, genome, verified: v });
    }
    lessons.hall_of_fame.sort_by(|a, b| b.verified.total_cmp(&a.verified).then(a.id.cmp(&b.id)));
    lessons.hall_of_fame.truncate(HALL_OF_FAME);
    let fitnesses: Vec<f64> = live.iter().filter_map(|r| r.3.best_known()).collect();
    let best_claimed = live.iter().filter_map(|r| r.3.claimed).fold(f64::NAN, f64::max);
    let gaps = &metrics.tick_gaps;
    let verifier_gap = if gaps.is_empty() { f64::NAN } else { gaps.iter().sum::<f64>() / gaps.len() as f64 };
    let row = MetricsRow {
        tick: clock.tick,
        population: live.len(),
        best_verified: lessons.hall_of_fame.first().map(|h| h.verified).unwrap_or(f64::NAN),
        best_claimed,
        median_fitness: median(&fitnesses),
        evaluated: metrics.tick_evaluated,
        verified: gaps.len(),
        verifier_gap,
        debate_precision: debate.precision().unwrap_or(f64::NAN),
        debate_extra: budget.extra,
        compute: metrics.compute,
    };
    metrics.rows.push(row);
}
