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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::components::AgentKind;
    use bevy_ecs::system::RunSystemOnce;

    fn lineage(tick: u32) -> Lineage {
        Lineage {
            parents: Vec::new(),
            agent: AgentKind::Seed,
            operator: "seed".parse().unwrap(),
            diagnosis: None,
            tick,
            parent_fitness: None,
            parent: Default::default(),
        }
    }

    /// A world with the smoke scenario's settings, `population` slots and `elites`
    /// protected; `mechs` are (id, birth tick, status, verified fitness).
    fn world(population: usize, elites: usize, mechs: &[(u64, u32, Status, Option<f64>)]) -> World {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/smoke.toml");
        let mut scenario = crate::scenario::load(&path).unwrap();
        scenario.population_size = population;
        scenario.elites = elites;
        let mut w = World::new();
        w.insert_resource(Settings(scenario));
        w.insert_resource(Clock { tick: 9, ..Default::default() });
        w.insert_resource(EventQueue::default());
        for &(id, tick, status, verified) in mechs {
            let fitness = Fitness { claimed: Some(0.0), verified, ..Default::default() };
            w.spawn((MechId(id), status, fitness, lineage(tick)));
        }
        w
    }

    fn survivors(w: &mut World) -> Vec<u64> {
        let mut ids: Vec<u64> = w.query::<&MechId>().iter(w).map(|m| m.0).collect();
        ids.sort();
        ids
    }

    fn retired(w: &World) -> Vec<u64> {
        w.resource::<EventQueue>()
            .0
            .iter()
            .map(|e| match e {
                Event::Retired { id, reason: RetireReason::AgedOut, tick: 9 } => *id,
                other => panic!("unexpected event {other:?}"),
            })
            .collect()
    }

    #[test]
    fn the_oldest_leave_first_but_verified_elites_stay() {
        use Status::*;
        // Six evaluated or verified, room for four: two must go. The oldest are 1 and 2
        // (tick 0), but 1 is the best verified and protected, so 2 and then 3 (tick 1,
        // lower id than 4) leave. Mechanisms not yet evaluated are never counted or retired.
        let mut w = world(
            4,
            1,
            &[
                (1, 0, Verified, Some(0.9)),
                (2, 0, Evaluated, None),
                (3, 1, Verified, Some(0.1)),
                (4, 1, Evaluated, None),
                (5, 2, Evaluated, None),
                (6, 3, Evaluated, None),
                (7, 0, Proposed, None),
                (8, 0, Accepted, None),
            ],
        );
        w.run_system_once(select).unwrap();
        assert_eq!(retired(&w), vec![2, 3]);
        assert_eq!(survivors(&mut w), vec![1, 4, 5, 6, 7, 8]);
    }

    #[test]
    fn a_population_within_capacity_is_left_alone() {
        let mut w = world(3, 0, &[(1, 0, Status::Evaluated, None), (2, 0, Status::Evaluated, None)]);
        w.run_system_once(select).unwrap();
        assert!(retired(&w).is_empty());
        assert_eq!(survivors(&mut w), vec![1, 2]);
    }
}
