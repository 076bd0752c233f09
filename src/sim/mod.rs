//! The outer loop as a deterministic bevy_ecs simulation.
//!
//! Mechanisms are entities; agents are systems run in one chained schedule per tick
//! ([`schedule::tick_schedule`]). A run is a pure function of (scenario, seed): every
//! random stream is derived from the root seed, every iteration that can influence a
//! decision is sorted by mechanism id, and parallel episode batches are gathered in a
//! fixed order.

pub mod agents;
pub mod components;
pub mod credit;
pub mod diagnosis;
pub mod episode_batch;
pub mod episodes;
pub mod evaluate;
pub mod evaluator;
pub mod events;
pub mod held_out;
pub mod operators;
pub mod predictor;
pub mod record;
pub mod resources;
pub mod schedule;
pub mod seeds;
pub mod select;
pub mod snapshot;
pub mod spawn;
pub mod tuning;
pub mod writer;

use bevy_ecs::prelude::*;
use bevy_ecs::world::CommandQueue;

use components::{AgentKind, Cost, Fitness, Lineage, MechId, Mechanism, ParentInfo, Status, Traits};
use events::Event;
use operators::MadeBy;
use resources::*;
use spawn::{Birth, novelty, prepare, spawn};

use self::evaluator::{EvaluationError, Evaluator};
use self::snapshot::{FolderState, LessonsFile, MechanismDto, Snapshot};
use crate::exec::Executor;
use crate::genome::{Limits, Program, load as load_genome, syntax};
use crate::objective::registry::objective_by_name;
use crate::scenario::Scenario;

/// Errors setting up a simulation.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// A task name the registry does not know.
    #[error("{0}")]
    Task(String),
    /// A genome in a snapshot or lessons file that no longer checks.
    #[error("stored genome of mechanism {id} is invalid: {message}")]
    Genome {
        /// Mechanism id.
        id: u64,
        /// The first diagnostic.
        message: String,
    },
}

/// A running simulation: the world and its tick schedule.
pub struct Simulation {
    world: World,
    schedule: Schedule,
    ticks_done: u32,
}

/// What a finished (or current) champion looks like to callers.
#[derive(Debug, Clone, PartialEq)]
pub struct Champion {
    /// Mechanism id.
    pub id: u64,
    /// Canonical genome text.
    pub genome: String,
    /// Claimed fitness.
    pub claimed: Option<f64>,
    /// Verified fitness.
    pub verified: Option<f64>,
    /// Per-episode verified gains.
    pub verified_episodes: Vec<f64>,
    /// Per-episode claimed gains.
    pub claimed_episodes: Vec<f64>,
}

/// The champion measured on the report seeds: episodes that played no part in choosing
/// it (not as claims, not in the race, not in verification), so its mean is an unbiased
/// estimate of the champion's fitness. The verified number it was chosen on is biased
/// upward by the choice (the best of `chosen_from`), and is shown beside it, labelled.
#[derive(Debug, Clone, PartialEq)]
pub struct ChampionReport {
    /// The champion as chosen.
    pub champion: Champion,
    /// Per-episode gains over the reference on the report episodes (block order).
    pub gains: Vec<f64>,
    /// How many mechanisms were verified (the pool the champion is the best of).
    pub chosen_from: usize,
    /// The champion on each of the scenario's held-out sets (empty when it names none).
    pub held_out: Vec<held_out::HeldOutReport>,
}

/// Why a tick could not be run (it was not persisted; resuming redoes it).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TickError {
    /// The executor could not run a batch of episodes.
    #[error("{0}")]
    Executor(String),
    /// The language-model proposer needed a reply that is not recorded and could not be
    /// asked for.
    #[error("{0}")]
    MissingReply(String),
}

/// One row of the population table.
#[derive(Debug, Clone, PartialEq)]
pub struct PopulationRow {
    /// Mechanism id.
    pub id: u64,
    /// Status name.
    pub status: &'static str,
    /// Claimed fitness.
    pub claimed: Option<f64>,
    /// Verified fitness.
    pub verified: Option<f64>,
    /// Birth tick.
    pub tick: u32,
    /// What made it.
    pub operator: MadeBy,
    /// Parent ids.
    pub parents: Vec<u64>,
    /// Genome size in nodes.
    pub size: usize,
}

fn build_tasks(sc: &Scenario) -> Result<Vec<Box<dyn crate::objective::Objective>>, SimError> {
    sc.tasks.iter().map(|t| objective_by_name(t).map_err(|e| SimError::Task(e.to_string()))).collect()
}

/// The world every run starts from; `cached` are reference regrets a checkpoint kept.
fn base_world(
    sc: &Scenario,
    executor: Executor,
    cached: std::collections::BTreeMap<(usize, u64), f64>,
) -> Result<World, SimError> {
    let mut world = World::new();
    let reference = Program::compile(&sc.reference.genome, Limits::default())
        .map_err(|d| SimError::Genome { id: 0, message: d.first().map(|x| x.message.clone()).unwrap_or_default() })?;
    let evaluator = Evaluator::new(build_tasks(sc)?, sc.inner_budget, sc.execution, executor).scored_by(sc.score);
    world.insert_resource(evaluator.with_reference(reference, cached));
    world.insert_resource(Settings(sc.clone()));
    world.insert_resource(Clock::default());
    world.insert_resource(Known::default());
    world.insert_resource(OperatorStats::default());
    world.insert_resource(Lessons::default());
    world.insert_resource(EventQueue::default());
    world.insert_resource(DebateStats::default());
    world.insert_resource(DebateBudget { extra: sc.debate_extra });
    world.insert_resource(Pragmatist::default());
    world.insert_resource(AgentYield::default());
    world.insert_resource(Metrics::default());
    world.insert_resource(credit::Outcomes::default());
    world.insert_resource(writer::Writer::default());
    Ok(world)
}

impl Simulation {
    /// A fresh run: the scenario's seed genomes (and an inherited hall of fame) become
    /// the initial population, accepted for evaluation in the first tick. Episodes run
    /// on `executor` (where they run never changes a result).
    pub fn new(sc: &Scenario, inherited: Option<&LessonsFile>, executor: Executor) -> Result<Self, SimError> {
        let mut world = base_world(sc, executor, Default::default())?;
        let mut seeds: Vec<(crate::genome::Genome, MadeBy)> =
            sc.seed_genomes.iter().map(|s| (s.genome.clone(), MadeBy::Seed)).collect();
        if let Some(l) = inherited {
            world.resource_mut::<OperatorStats>().0 =
                l.operator_stats.iter().map(|(d, o, c)| ((*d, o.clone()), *c)).collect();
            world.resource_mut::<Lessons>().failures = l.failures.iter().copied().collect();
            world.resource_mut::<Pragmatist>().0 = l.predictor.clone();
            for h in &l.hall_of_fame {
                let g = load_genome(&h.genome, &Limits::default()).map_err(|d| SimError::Genome {
                    id: h.id,
                    message: d.first().map(|x| x.message.clone()).unwrap_or_default(),
                })?;
                seeds.push((g, MadeBy::Inherited));
            }
        }
        let mut clock = Clock::default();
        let mut known = Known::default();
        let mut events = EventQueue::default();
        let mut queue = CommandQueue::default();
        {
            let mut commands = Commands::new(&mut queue, &world);
            for (genome, operator) in seeds {
                let Some(candidate) = prepare(genome) else { continue };
                if novelty(&known, &candidate).is_err() {
                    continue;
                }
                let birth = Birth {
                    parents: vec![],
                    agent: AgentKind::Seed,
                    operator,
                    diagnosis: None,
                    parent_fitness: None,
                    parent: ParentInfo::default(),
                    coefficients: Vec::new(),
                };
                spawn(
                    &mut commands,
                    &mut clock,
                    &mut known,
                    &mut events,
                    candidate,
                    birth,
                    Status::Accepted,
                    Fitness::default(),
                );
            }
        }
        queue.apply(&mut world);
        world.insert_resource(clock);
        world.insert_resource(known);
        world.insert_resource(events);
        Ok(Simulation { world, schedule: schedule::tick_schedule(), ticks_done: 0 })
    }

    /// Rebuild a simulation from a checkpoint, its episodes running on `executor`.
    pub fn restore(sc: &Scenario, snap: &Snapshot, executor: Executor) -> Result<Self, SimError> {
        let cached = snap.reference_cache.iter().map(|&(t, s, r)| ((t, s), r)).collect();
        let mut world = base_world(sc, executor, cached)?;
        world.insert_resource(Clock { tick: snap.ticks_done, next_id: snap.next_id });
        world.insert_resource(Known {
            structures: snap.known_structures.iter().copied().collect(),
            behaviours: snap.known_behaviours.iter().copied().collect(),
        });
        world.insert_resource(OperatorStats(
            snap.operator_stats.iter().map(|(d, o, c)| ((*d, o.clone()), *c)).collect(),
        ));
        world.insert_resource(Lessons {
            hall_of_fame: snap.hall_of_fame.clone(),
            failures: snap.failures.iter().copied().collect(),
        });
        world.insert_resource(snap.debate);
        world.insert_resource(snap.debate_budget);
        world.insert_resource(Pragmatist(snap.predictor.clone()));
        world.insert_resource(snap.agent_yield);
        world.insert_resource(Metrics {
            rows: snap.metrics.clone(),
            compute: snap.compute,
            verified_mechanisms: snap.verified_mechanisms,
            ..Metrics::default()
        });
        for m in &snap.mechanisms {
            let genome = load_genome(&m.genome, &Limits::default()).map_err(|d| SimError::Genome {
                id: m.id,
                message: d.first().map(|x| x.message.clone()).unwrap_or_default(),
            })?;
            let candidate =
                prepare(genome).ok_or_else(|| SimError::Genome { id: m.id, message: "does not compile".into() })?;
            let status = Status::from(m.status);
            world.spawn((
                MechId(m.id),
                candidate.mechanism,
                status,
                Fitness {
                    claimed: m.claimed,
                    claimed_episodes: m.claimed_episodes.clone(),
                    verified: m.verified,
                    verified_episodes: m.verified_episodes.clone(),
                },
                Lineage {
                    parents: m.parents.clone(),
                    agent: m.agent,
                    operator: m.operator,
                    diagnosis: m.diagnosis,
                    tick: m.tick,
                    parent_fitness: m.parent_fitness,
                    parent: ParentInfo {
                        claim: m.parent_claim.clone(),
                        traits: m.parent_traits,
                        structural: m.parent_distance.0,
                        behavioural: m.parent_distance.1,
                    },
                },
                Cost(m.cost),
                Traits(m.traits),
            ));
        }
        Ok(Simulation { world, schedule: schedule::tick_schedule(), ticks_done: snap.ticks_done })
    }

    /// Ticks completed so far.
    pub fn ticks_done(&self) -> u32 {
        self.ticks_done
    }

    /// Take the events recorded since the last call (seeding events included).
    pub fn drain_events(&mut self) -> Vec<Event> {
        std::mem::take(&mut self.world.resource_mut::<EventQueue>().0)
    }

    /// Have the language-model proposer ask `oracle` (the run's record of exchanges and
    /// the endpoint; a scenario with `[proposer.llm]` cannot tick without one).
    pub fn set_oracle(&mut self, oracle: std::sync::Arc<dyn writer::Oracle>) {
        self.world.resource_mut::<writer::Writer>().oracle = Some(oracle);
    }

    /// Run one tick. When a batch of episodes fails, or a language-model reply the
    /// proposer needs is neither recorded nor can be asked for, the rest of the tick is
    /// skipped and the failure returned: the world is then mid-tick, and the simulation
    /// must be dropped without being persisted (resuming from the last checkpoint redoes
    /// it).
    pub fn tick(&mut self) -> Result<(), TickError> {
        self.world.resource_mut::<Clock>().tick = self.ticks_done;
        self.schedule.run(&mut self.world);
        if let Some(failure) = self.world.resource_mut::<Evaluator>().take_failure() {
            return Err(TickError::Executor(failure.0));
        }
        if let Some(missing) = self.world.resource_mut::<writer::Writer>().failure.take() {
            return Err(TickError::MissingReply(missing));
        }
        self.ticks_done += 1;
        self.world.resource_mut::<Clock>().tick = self.ticks_done;
        Ok(())
    }

    /// The metrics rows so far.
    pub fn metrics(&self) -> &[MetricsRow] {
        &self.world.resource::<Metrics>().rows
    }

    /// Debate statistics so far.
    pub fn debate_stats(&self) -> DebateStats {
        *self.world.resource::<DebateStats>()
    }

    /// The best verified mechanism alive (or, with the verifier off, the best claimed).
    pub fn champion(&mut self) -> Option<Champion> {
        let verifier = self.world.resource::<Settings>().0.verifier_enabled;
        let mut q = self.world.query::<(&MechId, &Mechanism, &Status, &Fitness)>();
        let mut best: Option<(f64, Champion)> = None;
        for (id, m, s, f) in q.iter(&self.world) {
            let score = match (verifier, s) {
                (true, Status::Verified) => f.verified,
                (false, Status::Evaluated | Status::Verified) => f.claimed,
                _ => None,
            };
            let Some(score) = score else { continue };
            let better = best.as_ref().is_none_or(|(b, c)| score > *b || (score == *b && id.0 < c.id));
            if better {
                best = Some((
                    score,
                    Champion {
                        id: id.0,
                        genome: syntax::print(&m.genome),
                        claimed: f.claimed,
                        verified: f.verified,
                        verified_episodes: f.verified_episodes.clone(),
                        claimed_episodes: f.claimed_episodes.clone(),
                    },
                ));
            }
        }
        best.map(|(_, c)| c)
    }

    /// Run the champion and the reference on the report seeds
    /// (`verifier.report_seeds` per task). A pure function of the state: it changes
    /// nothing in the world, so a resumed run reports the same numbers. `None` when no
    /// mechanism was evaluated.
    pub fn report(&mut self) -> Result<Option<ChampionReport>, EvaluationError> {
        let Some(champion) = self.champion() else { return Ok(None) };
        let compiled = load_genome(&champion.genome, &Limits::default())
            .ok()
            .and_then(|genome| Program::compile(&genome, Limits::default()).ok());
        let Some(program) = compiled else { return Ok(None) };
        let w = &self.world;
        let sc = &w.resource::<Settings>().0;
        let evaluator = w.resource::<Evaluator>();
        let episodes = seeds::report_episodes(sc.seed, evaluator.tasks().len(), sc.report_seeds);
        let reference = evaluator.reference().expect("a simulation's evaluator has a reference");
        let jobs: Vec<(&Program, usize, u64)> = episodes
            .iter()
            .map(|&(t, s)| (reference, t, s))
            .chain(episodes.iter().map(|&(t, s)| (&program, t, s)))
            .collect();
        let results = evaluator.run(&jobs)?;
        let (base, mine) = results.split_at(episodes.len());
        let gains = evaluator.paired_gains(mine, base);
        let metrics = w.resource::<Metrics>();
        let chosen_from = if sc.verifier_enabled {
            metrics.verified_mechanisms as usize
        } else {
            metrics.rows.iter().map(|r| r.evaluated).sum()
        };
        let held_out = held_out::held_out_reports(&program, sc).map_err(EvaluationError)?;
        Ok(Some(ChampionReport { champion, gains, chosen_from, held_out }))
    }

    /// The live population, by id.
    pub fn population(&mut self) -> Vec<PopulationRow> {
        let mut q = self.world.query::<(&MechId, &Mechanism, &Status, &Fitness, &Lineage)>();
        let mut rows: Vec<PopulationRow> = q
            .iter(&self.world)
            .map(|(id, m, s, f, l)| PopulationRow {
                id: id.0,
                status: s.as_str(),
                claimed: f.claimed,
                verified: f.verified,
                tick: l.tick,
                operator: l.operator,
                parents: l.parents.clone(),
                size: m.genome.size(),
            })
            .collect();
        rows.sort_by_key(|r| r.id);
        rows
    }

    /// Number of mechanism entities.
    pub fn entity_count(&mut self) -> usize {
        self.world.query::<&MechId>().iter(&self.world).count()
    }

    /// Serialize the state after the last completed tick.
    pub fn snapshot(&mut self, folder: FolderState) -> Snapshot {
        let mut q = self.world.query::<(&MechId, &Mechanism, &Status, &Fitness, &Lineage, &Cost, &Traits)>();
        let mut mechanisms: Vec<MechanismDto> = q
            .iter(&self.world)
            .map(|(id, m, s, f, l, c, t)| MechanismDto {
                id: id.0,
                genome: syntax::print(&m.genome),
                status: (*s).into(),
                claimed: f.claimed,
                claimed_episodes: f.claimed_episodes.clone(),
                verified: f.verified,
                verified_episodes: f.verified_episodes.clone(),
                parents: l.parents.clone(),
                agent: l.agent,
                operator: l.operator,
                diagnosis: l.diagnosis,
                tick: l.tick,
                parent_fitness: l.parent_fitness,
                parent_claim: l.parent.claim.clone(),
                parent_traits: l.parent.traits,
                parent_distance: (l.parent.structural, l.parent.behavioural),
                cost: c.0,
                traits: t.0,
            })
            .collect();
        mechanisms.sort_by_key(|m| m.id);
        let w = &self.world;
        Snapshot {
            ticks_done: self.ticks_done,
            next_id: w.resource::<Clock>().next_id,
            mechanisms,
            reference_cache: w.resource::<Evaluator>().reference_regrets().map(|((t, s), r)| (t, s, r)).collect(),
            known_structures: w.resource::<Known>().structures.iter().map(|(&a, &b)| (a, b)).collect(),
            known_behaviours: w.resource::<Known>().behaviours.iter().map(|(&a, &b)| (a, b)).collect(),
            operator_stats: w.resource::<OperatorStats>().0.iter().map(|((d, o), c)| (*d, o.clone(), *c)).collect(),
            hall_of_fame: w.resource::<Lessons>().hall_of_fame.clone(),
            failures: w.resource::<Lessons>().failures.iter().copied().collect(),
            debate: *w.resource::<DebateStats>(),
            debate_budget: *w.resource::<DebateBudget>(),
            predictor: w.resource::<Pragmatist>().0.clone(),
            agent_yield: *w.resource::<AgentYield>(),
            metrics: w.resource::<Metrics>().rows.clone(),
            compute: w.resource::<Metrics>().compute,
            verified_mechanisms: w.resource::<Metrics>().verified_mechanisms,
            folder,
        }
    }

    /// The lessons this run leaves for later runs.
    pub fn lessons(&self) -> LessonsFile {
        let w = &self.world;
        LessonsFile {
            version: snapshot::FORMAT_VERSION,
            hall_of_fame: w.resource::<Lessons>().hall_of_fame.clone(),
            operator_stats: w.resource::<OperatorStats>().0.iter().map(|((d, o), c)| (*d, o.clone(), *c)).collect(),
            failures: w.resource::<Lessons>().failures.iter().copied().collect(),
            predictor: w.resource::<Pragmatist>().0.clone(),
        }
    }

    /// Put a mechanism straight into the population, bypassing proposal and evaluation
    /// (its lineage says `planted`): how tests plant lucky claims or dead genes and how
    /// benchmarks build large populations.
    pub fn plant(&mut self, id: u64, mechanism: Mechanism, status: Status, fitness: Fitness) {
        self.world.spawn((
            MechId(id),
            mechanism,
            status,
            fitness,
            Lineage {
                parents: vec![],
                agent: AgentKind::Seed,
                operator: MadeBy::Planted,
                diagnosis: None,
                tick: 0,
                parent_fitness: None,
                parent: ParentInfo::default(),
            },
            Cost::default(),
            Traits::default(),
        ));
    }

    /// Direct world access for tests and benchmarks (planting mechanisms, running one
    /// agent system in isolation).
    pub fn world_mut(&mut self) -> &mut World {
        &mut self.world
    }
}
