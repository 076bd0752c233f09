//! The tick schedule: one fixed, chained, single-threaded order of systems.

use bevy_ecs::prelude::*;
use bevy_ecs::schedule::SingleThreadedExecutor;

use super::agents::{debater::debate, proposer::propose, recombiner::recombine, verifier::verify};
use super::credit::credit;
use super::evaluate::evaluate;
use super::evaluator::Evaluator;
use super::record::record;
use super::select::select;
use super::writer::Writer;

/// propose -> debate -> evaluate -> credit -> verify -> recombine -> select -> record.
///
/// Commands (spawns, despawns) are applied between the chained systems, so each agent
/// sees what the previous one did. A system runs only while no batch of episodes has
/// failed and no language-model reply was missing this tick ([`healthy`]).
pub fn tick_schedule() -> Schedule {
    let mut schedule = Schedule::default();
    schedule.set_executor(SingleThreadedExecutor::new());
    schedule.add_systems(
        (propose, debate, evaluate, credit, verify, recombine, select, record).chain().distributive_run_if(healthy),
    );
    schedule
}

/// Run condition: the tick's systems run only while no batch has failed and the
/// language-model proposer found every reply it needed.
pub fn healthy(evaluator: Res<Evaluator>, writer: Res<Writer>) -> bool {
    evaluator.is_healthy() && writer.failure.is_none()
}
