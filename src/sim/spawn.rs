//! Creating mechanism entities: compile, fingerprint, check novelty, emit `Born`.

use std::sync::atomic::{AtomicU64, Ordering};

use bevy_ecs::prelude::*;
use bevy_ecs::system::SystemParam;

use super::components::{AgentKind, Cost, Fitness, Lineage, MechId, Mechanism, ParentInfo, Status, Traits};
use super::diagnosis::{Diagnosis, TraceStats};
use super::events::{DuplicateKind, Event};
use super::operators::MadeBy;
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
    pub fn event(&self, tick: u32, parent: u64, operator: MadeBy) -> Event {
        let (kind, of) = match self {
            NotNovel::Structure(of) => (DuplicateKind::Structure, *of),
            NotNovel::Behaviour(of) => (DuplicateKind::Behaviour, *of),
        };
        Event::Duplicate { tick, parent, operator, kind, of }
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
    /// What makes it.
    pub operator: MadeBy,
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
        operator: birth.operator,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::library::{LIBRARY, library_text};
    use bevy_ecs::system::RunSystemOnce;

    fn genome(text: &str) -> Genome {
        crate::genome::load(text, &Limits::default()).unwrap()
    }

    fn es() -> Genome {
        genome(library_text("one-plus-one-es").unwrap())
    }

    /// The (1+1)-ES under another mechanism name and state-variable name: cosmetic
    /// differences only, so the same canonical structure.
    fn es_renamed() -> Genome {
        genome(
            "(mechanism es-copy (state (step 0.2)) (init 1 (uniform))
               (propose (perturb (best 1) (dims) (get step)))
               (update (set step (if (improved) (* (get step) 1.5) (* (get step) 0.904)))))",
        )
    }

    fn uniform() -> Genome {
        genome(library_text("uniform-random").unwrap())
    }

    /// Uniform random search behind a branch the probe task (4 dimensions) never takes:
    /// another structure, the same behaviour.
    fn uniform_disguised() -> Genome {
        genome("(mechanism disguised (propose (if (> (dims) 100) (latin 4) (uniform))))")
    }

    /// A genome that parses but fails the checker (an undeclared state variable).
    fn unchecked() -> Genome {
        syntax::parse("(mechanism bad (propose (get nope)))").genome.unwrap()
    }

    /// Known structures and behaviours, each mapped to a mechanism id.
    fn known(structures: &[(u64, u64)], behaviours: &[(u64, u64)]) -> Known {
        Known { structures: structures.iter().copied().collect(), behaviours: behaviours.iter().copied().collect() }
    }

    /// A genome that fails the checker is no candidate, for every way of preparing it.
    #[test]
    fn a_genome_that_fails_the_checker_is_not_prepared() {
        assert!(prepare(unchecked()).is_none());
        assert!(prepare_novel(&Known::default(), unchecked()).is_none());
        assert!(matches!(prepare_batch(&Known::default(), vec![unchecked()]).as_slice(), [None]));
    }

    /// Renaming the mechanism and its state changes nothing structural: the copy is
    /// refused as the known mechanism's structural duplicate (its id in the refusal).
    #[test]
    fn a_structurally_identical_genome_is_refused_as_a_duplicate_of_the_first() {
        assert_eq!(structural_hash(&es()), structural_hash(&es_renamed()));
        let known = known(&[(structural_hash(&es()), 7)], &[]);
        assert_eq!(prepare_novel(&known, es_renamed()).unwrap().unwrap_err(), NotNovel::Structure(7));
        let candidate = prepare(es_renamed()).unwrap();
        assert_eq!(novelty(&known, &candidate), Err(NotNovel::Structure(7)));
    }

    /// A genome of new structure that proposes exactly what a known mechanism proposes
    /// on the probe task is refused as a behavioural duplicate; structure is checked
    /// first when both are known.
    #[test]
    fn a_behavioural_duplicate_is_refused_and_structure_is_checked_first() {
        let original = prepare(uniform()).unwrap().mechanism;
        let disguised = prepare(uniform_disguised()).unwrap();
        assert_ne!(disguised.mechanism.hash, original.hash);
        assert_eq!(disguised.mechanism.fingerprint, original.fingerprint);
        let known = known(&[(original.hash, 3)], &[(original.fingerprint.hash, 4)]);
        assert_eq!(prepare_novel(&known, uniform_disguised()).unwrap().unwrap_err(), NotNovel::Behaviour(4));
        assert_eq!(novelty(&known, &disguised), Err(NotNovel::Behaviour(4)));
        let copy = Candidate { mechanism: original.clone() };
        assert_eq!(novelty(&known, &copy), Err(NotNovel::Structure(3)));
        // Something new in both is a candidate.
        let new = prepare_novel(&known, es()).unwrap().unwrap();
        assert_eq!(new.mechanism.hash, structural_hash(&es()));
        assert_eq!(novelty(&Known::default(), &copy), Ok(()));
    }

    /// The refusal becomes the `Duplicate` event of the proposal's parent and operator.
    #[test]
    fn a_refusal_names_its_kind_and_the_known_mechanism_in_its_event() {
        let structure = NotNovel::Structure(7).event(3, 5, "mutate-constant".parse().unwrap());
        assert_eq!(
            structure,
            Event::Duplicate {
                tick: 3,
                parent: 5,
                operator: "mutate-constant".parse().unwrap(),
                kind: DuplicateKind::Structure,
                of: 7
            }
        );
        assert!(matches!(
            NotNovel::Behaviour(8).event(3, 5, MadeBy::Planted),
            Event::Duplicate { kind: DuplicateKind::Behaviour, of: 8, .. }
        ));
    }

    /// A prepared answer reduced to what can be compared: compile failure, refusal, or
    /// the new candidate's structural and behavioural hashes. A batch candidate is
    /// passed through `novelty`, the check the batch leaves to its caller.
    fn answer(known: &Known, prepared: Option<Result<Candidate, NotNovel>>) -> Option<Result<(u64, u64), NotNovel>> {
        prepared.map(|r| r.and_then(|c| novelty(known, &c).map(|()| (c.mechanism.hash, c.mechanism.fingerprint.hash))))
    }

    /// The batch fingerprints in parallel but answers in order, as `prepare_novel` does
    /// one genome at a time (with behavioural novelty checked after): over the whole
    /// library, a renamed structural duplicate, a behavioural duplicate and a genome
    /// that fails the checker. Duplicates within the batch are left to the caller.
    #[test]
    fn a_batch_answers_in_order_as_one_genome_at_a_time() {
        let mut genomes: Vec<Genome> = LIBRARY.iter().map(|(_, t)| genome(t)).collect();
        genomes.extend([es_renamed(), unchecked(), uniform_disguised(), es_renamed()]);
        let original = prepare(uniform()).unwrap().mechanism;
        // The (1+1)-ES is known by its structure; uniform random search by its behaviour.
        let known = known(&[(structural_hash(&es()), 7)], &[(original.fingerprint.hash, 8)]);
        let batch: Vec<_> = prepare_batch(&known, genomes.clone()).into_iter().map(|p| answer(&known, p)).collect();
        let one_by_one: Vec<_> = genomes.iter().map(|g| answer(&known, prepare_novel(&known, g.clone()))).collect();
        assert_eq!(batch, one_by_one);
        let n = LIBRARY.len();
        assert_eq!(
            batch[n..],
            [Some(Err(NotNovel::Structure(7))), None, Some(Err(NotNovel::Behaviour(8))), batch[n].clone()]
        );
        for (g, a) in genomes.iter().zip(&batch) {
            if let Some(Ok((hash, _))) = a {
                assert_eq!(*hash, structural_hash(g), "answers in the genomes' order");
            }
        }
        let new = batch.iter().filter(|a| matches!(a, Some(Ok(_)))).count();
        assert_eq!(new, n - 2, "all of the library but the known (1+1)-ES and uniform random search");
        // The same genome twice in one batch: both come back as candidates.
        let twice = prepare_batch(&Known::default(), vec![es(), es()]);
        assert!(matches!(twice.as_slice(), [Some(Ok(_)), Some(Ok(_))]));
    }

    fn birth() -> Birth {
        Birth {
            parents: vec![3, 4],
            agent: AgentKind::Recombiner,
            operator: "crossover(d=0.50)".parse().unwrap(),
            diagnosis: Some(Diagnosis::Stagnation),
            parent_fitness: Some(0.25),
            parent: ParentInfo { structural: 0.5, ..Default::default() },
            coefficients: Vec::new(),
        }
    }

    /// A spawn takes the next id from the clock, records the structure and behaviour as
    /// known under the first id that had them (a second spawn of the same structure does
    /// not replace it), pushes the birth event with the genome's text and hash, and
    /// brings the mechanism into the world with its lineage at the current tick.
    #[test]
    fn a_spawn_takes_the_next_id_records_it_as_known_and_logs_the_birth() {
        let mut w = World::new();
        w.insert_resource(Clock { tick: 5, next_id: 41 });
        w.insert_resource(Known::default());
        w.insert_resource(EventQueue::default());
        let first = prepare(es()).unwrap();
        let (hash, behaviour) = (first.mechanism.hash, first.mechanism.fingerprint.hash);
        let mut pending = vec![first, prepare(es_renamed()).unwrap()];
        let ids = w
            .run_system_once(move |mut births: Births| {
                let fitness = Fitness { claimed: Some(0.5), ..Default::default() };
                pending
                    .drain(..)
                    .map(|c| births.spawn(c, birth(), Status::Proposed, fitness.clone()))
                    .collect::<Vec<_>>()
            })
            .unwrap();
        assert_eq!(ids, vec![42, 43]);
        assert_eq!(*w.resource::<Clock>(), Clock { tick: 5, next_id: 43 });
        assert_eq!(*w.resource::<Known>(), known(&[(hash, 42)], &[(behaviour, 42)]));
        let events = &w.resource::<EventQueue>().0;
        assert_eq!(events.len(), 2);
        assert_eq!(
            events[0],
            Event::Born {
                tick: 5,
                id: 42,
                parents: vec![3, 4],
                agent: AgentKind::Recombiner,
                operator: "crossover(d=0.50)".parse().unwrap(),
                diagnosis: Some(Diagnosis::Stagnation),
                hash: format!("{hash:016x}"),
                genome: syntax::print(&es()),
                coefficients: Vec::new(),
            }
        );
        assert!(matches!(&events[1], Event::Born { id: 43, genome, .. } if *genome == syntax::print(&es_renamed())));
        let mut spawned: Vec<_> = w
            .query::<(&MechId, &Mechanism, &Status, &Fitness, &Lineage, &Cost, &Traits)>()
            .iter(&w)
            .map(|(id, m, s, f, l, c, t)| (id.0, m.hash, *s, f.claimed, l.clone(), *c, t.clone()))
            .collect();
        spawned.sort_by_key(|s| s.0);
        let lineage = Lineage {
            parents: vec![3, 4],
            agent: AgentKind::Recombiner,
            operator: "crossover(d=0.50)".parse().unwrap(),
            diagnosis: Some(Diagnosis::Stagnation),
            tick: 5,
            parent_fitness: Some(0.25),
            parent: ParentInfo { structural: 0.5, ..Default::default() },
        };
        let expected = |id| (id, hash, Status::Proposed, Some(0.5), lineage.clone(), Cost(0.0), Traits::default());
        assert_eq!(spawned, vec![expected(42), expected(43)]);
    }

    /// A child records its parent's claim episodes (not the verification's) and trace
    /// statistics, and its structural and behavioural distances from the parent: zero
    /// for an identical child, the bag and fingerprint distances otherwise.
    #[test]
    fn a_child_records_its_parents_claim_traits_and_distance() {
        let parent = prepare(es()).unwrap().mechanism;
        let child = prepare(uniform()).unwrap().mechanism;
        let fitness = Fitness {
            claimed: Some(0.4),
            claimed_episodes: vec![0.3, 0.5],
            verified: Some(0.2),
            verified_episodes: vec![0.1, 0.2, 0.3],
        };
        let traits = TraceStats { stagnation: 0.25, repeats: 0.1, diversity: 0.3, failures: 0.05, bad_regions: 0.2 };
        let info = parent_info(&parent, &fitness, &traits, &child);
        assert_eq!(info.claim, vec![0.3, 0.5]);
        assert_eq!(info.traits, traits);
        assert_eq!(info.structural, child.bag.distance(&parent.bag));
        assert_eq!(info.behavioural, behavioural_distance(&child.fingerprint, &parent.fingerprint));
        assert!(info.structural > 0.0 && info.behavioural > 0.0);
        let same = parent_info(&parent, &fitness, &traits, &parent.clone());
        assert_eq!((same.structural, same.behavioural), (0.0, 0.0));
    }
}
