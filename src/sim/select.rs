//! Selection: a bounded, age-regularised population. When over capacity the oldest
//! mechanisms leave first, except the verified elites, which are protected.

use bevy_ecs::prelude::*;

use super::components::{Fitness, Lineage, MechId, Status};
use super::events::{Event, RetireReason};
use super::resources::{Clock, EventQueue, Settings};

/// The selection system.
pub fn select(
    mut commands: Commands,
    cfg: Res<Settings>,
    clock: Res<Clock>,
    mut events: ResMut<EventQueue>,
    q: Query<(Entity, &MechId, &Status, &Fitness, &Lineage)>,
) {
    let sc = &cfg.0;
    let mut live: Vec<(Entity, u64, u32, Option<f64>)> = q
        .iter()
        .filter(|r| matches!(r.2, Status::Evaluated | Status::Verified))
        .map(|(e, id, _, f, l)| (e, id.0, l.tick, f.verified))
        .collect();
    if live.len() <= sc.population_size {
        return;
    }
    let mut by_verified: Vec<(u64, f64)> = live.iter().filter_map(|r| Some((r.1, r.3?))).collect();
    by_verified.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let protected: Vec<u64> = by_verified.iter().take(sc.elites).map(|r| r.0).collect();
    // Oldest first: birth tick, then id.
    live.sort_by_key(|r| (r.2, r.1));
    let mut excess = live.len() - sc.population_size;
    for (entity, id, _, _) in live {
        if excess == 0 {
            break;
        }
        if protected.contains(&id) {
            continue;
        }
        events.0.push(Event::Retired { tick: clock.tick, id, reason: RetireReason::AgedOut });
        commands.entity(entity).despawn();
        excess -= 1;
    }
}
