//! Record: the tick's metrics row and the hall of fame.

use bevy_ecs::prelude::*;

use super::components::{Fitness, MechId, Mechanism, Status};
use super::resources::{Clock, DebateBudget, DebateStats, HallEntry, Lessons, Metrics, MetricsRow, Settings};
use crate::genome::syntax::print;
use crate::stats::median;

/// Offer verified mechanisms `(id, verified fitness, mechanism)` to the hall of fame:
/// it keeps the best `capacity` (`population.hall_of_fame`) distinct genomes, best first. The list stays sorted
/// and bounded after every insertion, so each candidate is compared with the true worst
/// entry (and genomes are printed only for candidates that qualify).
pub fn update_hall<'a>(
    hall: &mut Vec<HallEntry>,
    capacity: usize,
    candidates: impl Iterator<Item = (u64, f64, &'a Mechanism)>,
) {
    for (id, v, m) in candidates {
        // A mechanism already in the hall keeps its place with its latest verified value
        // (an extended verification moves it).
        if let Some(h) = hall.iter_mut().find(|h| h.id == id) {
            h.verified = v;
            hall.sort_by(|a, b| b.verified.total_cmp(&a.verified).then(a.id.cmp(&b.id)));
            continue;
        }
        let full = hall.len() >= capacity;
        let worst = hall.last().map(|h| h.verified).unwrap_or(f64::NEG_INFINITY);
        if full && v <= worst {
            continue;
        }
        let genome = print(&m.genome);
        if hall.iter().any(|h| h.genome == genome) {
            continue;
        }
        hall.push(HallEntry { id, genome, verified: v });
        hall.sort_by(|a, b| b.verified.total_cmp(&a.verified).then(a.id.cmp(&b.id)));
        hall.truncate(capacity);
    }
}

/// The record system.
pub fn record(
    settings: Res<Settings>,
    clock: Res<Clock>,
    debate: Res<DebateStats>,
    budget: Res<DebateBudget>,
    mut lessons: ResMut<Lessons>,
    mut metrics: ResMut<Metrics>,
    q: Query<(&MechId, &Mechanism, &Status, &Fitness)>,
) {
    let mut live: Vec<_> = q.iter().filter(|r| matches!(r.2, Status::Evaluated | Status::Verified)).collect();
    live.sort_by_key(|r| r.0.0);
    let verified = live.iter().filter_map(|(id, m, status, f)| match (status, f.verified) {
        (Status::Verified, Some(v)) => Some((id.0, v, *m)),
        _ => None,
    });
    update_hall(&mut lessons.hall_of_fame, settings.0.hall_of_fame, verified);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::LIBRARY;
    use crate::genome::{Limits, load};
    use crate::sim::spawn::prepare;

    /// The default `population.hall_of_fame`.
    const HALL: usize = 10;

    fn mechanisms() -> Vec<Mechanism> {
        LIBRARY.iter().map(|(_, t)| prepare(load(t, &Limits::default()).unwrap()).unwrap().mechanism).collect()
    }

    #[test]
    fn every_candidate_is_compared_with_the_true_worst_entry() {
        let m = mechanisms();
        // A full hall whose worst entry is 0.1.
        let mut hall: Vec<HallEntry> = (0..HALL as u64)
            .map(|i| HallEntry { id: i, genome: format!("g{i}"), verified: 1.0 - 0.1 * i as f64 })
            .collect();
        // Two newcomers in one tick: 0.5, then 0.3. Both beat the old worst entries; the
        // old code compared 0.3 with the just-pushed 0.5 and skipped it.
        update_hall(&mut hall, HALL, [(100, 0.5, &m[0]), (101, 0.3, &m[1])].into_iter());
        let ids: Vec<u64> = hall.iter().map(|h| h.id).collect();
        assert!(ids.contains(&100) && ids.contains(&101), "{ids:?}");
        assert_eq!(hall.len(), HALL);
        assert!(hall.windows(2).all(|w| w[0].verified >= w[1].verified));
        // A re-verified member moves with its new value instead of being ignored.
        update_hall(&mut hall, HALL, [(100, -5.0, &m[0])].into_iter());
        assert_eq!(hall.last().map(|h| (h.id, h.verified)), Some((100, -5.0)));
        // The same genome under another id does not enter twice.
        update_hall(&mut hall, HALL, [(102, 2.0, &m[1])].into_iter());
        assert!(!hall.iter().any(|h| h.id == 102));
    }
}
