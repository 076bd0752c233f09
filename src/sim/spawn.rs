//! Creating mechanism entities: compile, fingerprint, check novelty, emit `Born`.

use std::sync::atomic::{AtomicU64, Ordering};

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::components::{AgentKind, Cost, Fitness, Lineage, MechId, Mechanism, ParentInfo, Status, Traits};
use super::diagnosis::{Diagnosis, TraceStats};
use super::events::{DuplicateKind, Event};
use super::resources::{Clock, EventQueue, Known};
use crate::genome::hash::{SubtreeBag, structural_hash};
use crate::genome::{Genome, Limits, Program, syntax};
use crate::inner::fingerprint::{behavioural_distance, fingerprint};

/// A compiled, fingerprinted genome not yet in the world.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The mechanism component.
    pub mechanism: Mechanism,
}

/// Why a candidate was not spawned.
#[derive(Debug, Clone, PartialEq)]
pub enum NotNovel {
    /// Same canonical structure as a known mechanism.
    Structure(u64),
    /// Same behaviour on the probe task as a known mechanism.
    Behaviour(u64),
}

impl NotNovel {
    /// The `Duplicate` event for a proposal that was dropped as not novel.
    pub fn event(&self, tick: u32, parent: u64, operator: &str) -> Event {
        let (kind, of) = match self {
            NotNovel::Structure(of) => (DuplicateKind::Structure, *of),
            NotNovel::Behaviour(of) => (DuplicateKind::Behaviour, *of),
        };
        Event::Duplicate { tick, parent, operator: operator.into(), kind, of }
    }
}

/// Wall-clock nanoseconds spent fingerprinting (probe runs) by this process, for the
/// outer-loop benchmark, which reports it apart from episodes and bookkeeping. Never
/// read by the simulation, so it cannot influence a run.
pub static FINGERPRINT_NANOS: AtomicU64 = AtomicU64::new(0);

/// Fingerprint, timed into [`FINGERPRINT_NANOS`].
fn timed<T>(f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    FINGERPRINT_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    out
}

/// A compiled genome with its structural hash, waiting for its fingerprint.
struct Staged {
    genome: Genome,
    program: Program,
    hash: u64,
}

impl Staged {
    /// Compile and hash (`None` if the genome fails the checker).
    fn of(genome: Genome) -> Option<Staged> {
        let program = Program::compile(&genome, Limits::default()).ok()?;
        let hash = structural_hash(&genome);
        Some(Staged { genome, program, hash })
    }

    /// A structural duplicate of a known mechanism, if it is one.
    fn duplicate(&self, known: &Known) -> Option<NotNovel> {
        known.structures.get(&self.hash).map(|&id| NotNovel::Structure(id))
    }

    /// Fingerprint (an inner run on the probe task) and finish the candidate.
    fn finish(self) -> Candidate {
        let fingerprint = fingerprint(&self.program);
        let bag = SubtreeBag::of(&self.genome);
        Candidate {
            mechanism: Mechanism { genome: self.genome, program: self.program, hash: self.hash, fingerprint, bag },
        }
    }
}

/// Compile and fingerprint a genome (`None` if it fails the checker).
pub fn prepare(genome: Genome) -> Option<Candidate> {
    let staged = Staged::of(genome)?;
    Some(timed(|| staged.finish()))
}

/// Compile a genome and check that it is new, paying for the fingerprint (an inner run
/// on the probe task) only when its structure is new. `None` if it fails the checker.
pub fn prepare_novel(known: &Known, genome: Genome) -> Option<Result<Candidate, NotNovel>> {
    let staged = Staged::of(genome)?;
    if let Some(dup) = staged.duplicate(known) {
        return Some(Err(dup));
    }
    let candidate = timed(|| staged.finish());
    Some(novelty(known, &candidate).map(|()| candidate))
}

/// Compile a batch of genomes, in order: structural duplicates of known mechanisms are
/// found first, then the rest are fingerprinted in parallel (the result of each genome
/// does not depend on the thread count). Behavioural novelty, and duplicates within
/// the batch, are for the caller to check as it admits them in order.
pub fn prepare_batch(known: &Known, genomes: Vec<Genome>) -> Vec<Option<Result<Candidate, NotNovel>>> {
    use rayon::prelude::*;
    let staged: Vec<Option<Result<Staged, NotNovel>>> = genomes
        .into_iter()
        .map(|genome| {
            let staged = Staged::of(genome)?;
            Some(match staged.duplicate(known) {
                Some(dup) => Err(dup),
                None => Ok(staged),
            })
        })
        .collect();
    timed(|| staged.into_par_iter().map(|s| s.map(|r| r.map(Staged::finish))).collect())
}

/// Whether the candidate is new in structure and behaviour.
pub fn novelty(known: &Known, c: &Candidate) -> Result<(), NotNovel> {
    if let Some(&id) = known.structures.get(&c.mechanism.hash) {
        return Err(NotNovel::Structure(id));
    }
    if let Some(&id) = known.behaviours.get(&c.mechanism.fingerprint.hash) {
        return Err(NotNovel::Behaviour(id));
    }
    Ok(())
}

/// What a new mechanism's lineage says.
#[derive(Debug, Clone)]
pub struct Birth {
    /// Parent ids.
    pub parents: Vec<u64>,
    /// Creating agent.
    pub agent: AgentKind,
    /// Operator name.
    pub operator: String,
    /// Motivating diagnosis.
    pub diagnosis: Option<Diagnosis>,
    /// Fitness of the first parent.
    pub parent_fitness: Option<f64>,
    /// The primary parent's claim, traits and distance (default for seeds).
    pub parent: ParentInfo,
    /// For a merge, each parent's coefficient in `parents` order (empty otherwise).
    pub coefficients: Vec<f64>,
}

/// What a child records of its primary parent.
pub fn parent_info(parent: &Mechanism, fitness: &Fitness, traits: &TraceStats, child: &Mechanism) -> ParentInfo {
    ParentInfo {
        claim: fitness.claimed_episodes.clone(),
        traits: *traits,
        structural: child.bag.distance(&parent.bag),
        behavioural: behavioural_distance(&child.fingerprint, &parent.fingerprint),
    }
}

/// What a system needs to bring mechanisms into the world: commands, the id clock, the
/// known structures and behaviours, and the event queue. The agents that write
/// children (proposer, recombiner, verifier) take this one parameter instead of four.
#[derive(SystemParam)]
pub struct Births<'w, 's> {
    /// Entity commands.
    pub commands: Commands<'w, 's>,
    /// Tick and id clock.
    pub clock: ResMut<'w, Clock>,
    /// Known structures and behaviours.
    pub known: ResMut<'w, Known>,
    /// The tick's events.
    pub events: ResMut<'w, EventQueue>,
}

impl Births<'_, '_> {
    /// [`spawn`] a candidate with this system's resources. Returns its id.
    pub fn spawn(&mut self, candidate: Candidate, birth: Birth, status: Status, fitness: Fitness) -> u64 {
        spawn(&mut self.commands, &mut self.clock, &mut self.known, &mut self.events, candidate, birth, status, fitness)
    }
}

/// Spawn a candidate, register it as known and record its birth. Returns its id.
#[expect(clippy::too_many_arguments, reason = "each resource is borrowed separately by the calling system")]
pub fn spawn(
    commands: &mut Commands,
    clock: &mut Clock,
    known: &mut Known,
    events: &mut EventQueue,
    candidate: Candidate,
    birth: Birth,
    status: Status,
    fitness: Fitness,
) -> u64 {
    let id = clock.new_id();
    let m = candidate.mechanism;
    known.structures.entry(m.hash).or_insert(id);
    known.behaviours.entry(m.fingerprint.hash).or_insert(id);
    events.0.push(Event::Born {
        tick: clock.tick,
        id,
        parents: birth.parents.clone(),
        agent: birth.agent,
        operator: birth.operator.clone(),
        diagnosis: birth.diagnosis,
        hash: format!("{:016x}", m.hash),
        genome: syntax::print(&m.genome),
        coefficients: birth.coefficients.clone(),
    });
    let lineage = Lineage {
        parents: birth.parents,
        agent: birth.agent,
        operator: birth.operator,
        diagnosis: birth.diagnosis,
        tick: clock.tick,
        parent_fitness: birth.parent_fitness,
        parent: birth.parent,
    };
    commands.spawn((MechId(id), m, status, fitness, lineage, Cost::default(), Traits::default()));
    id
}
