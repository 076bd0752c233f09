//! The training corpus: every genome of the seed library, every genome born in the
//! given run folders, and each (parent → improved child) pair of those runs repeated
//! in proportion to the gain, as documents ([`super::document`]) shuffled by a seeded
//! stream and concatenated.
//!
//! **Pair rule.** A child counts when it was verified and its last verified fitness
//! beats its primary parent's best known fitness (the parent's last verified fitness,
//! else its last claim; a parent never evaluated gives no pair). A child never verified
//! gives no pair: claims are selection-biased. The pair appears
//! [`copies_for_gain`]`(gain)` = `1 + min(7, floor(gain / 0.05))` times, so a large
//! verified improvement weighs up to eight times a marginal one.
//!
//! A mechanism's text is its birth's genome, replaced by the tuned genome when the
//! evaluator tuned its constants (`Tuned`), since that is the genome its fitness
//! belongs to. Unconditional genomes are deduplicated by text (a run's seeds are the
//! library's genomes).

use std::collections::{BTreeMap, BTreeSet};

use rand::RngExt;

use super::document;
use crate::genome::{Limits, library::LIBRARY, load, syntax};
use crate::objective::gpt::Corpus;
use crate::rng::stream;
use crate::sim::events::Event;

/// Fitness gain worth one more copy of a pair.
pub const GAIN_PER_COPY: f64 = 0.05;

/// The most extra copies a pair gets (so at most `1 + MAX_EXTRA_COPIES` in all).
pub const MAX_EXTRA_COPIES: usize = 7;

/// How many times a pair whose child gained `gain` (> 0) over its parent appears.
pub fn copies_for_gain(gain: f64) -> usize {
    let extra = (gain / GAIN_PER_COPY).floor();
    // NaN and negative gains give no extra copy; `min` before the cast keeps it small.
    1 + if extra.is_finite() && extra > 0.0 { (extra.min(MAX_EXTRA_COPIES as f64)) as usize } else { 0 }
}

/// A parent and its improved child, as canonical texts.
#[derive(Debug, Clone, PartialEq)]
pub struct Pair {
    /// The primary parent's genome.
    pub parent: String,
    /// The child's genome.
    pub child: String,
    /// The child's verified fitness minus the parent's best known fitness (> 0).
    pub gain: f64,
}

impl Pair {
    /// Copies of this pair in the corpus ([`copies_for_gain`]).
    pub fn copies(&self) -> usize {
        copies_for_gain(self.gain)
    }
}

/// What one mechanism of a run contributes: its text, primary parent and fitness.
#[derive(Debug, Default)]
struct Mechanism {
    genome: String,
    parent: Option<u64>,
    claimed: Option<f64>,
    verified: Option<f64>,
}

/// The mechanisms of one event log, by id, replayed in log order.
fn replay(events: &[Event]) -> BTreeMap<u64, Mechanism> {
    let mut mechs: BTreeMap<u64, Mechanism> = BTreeMap::new();
    for event in events {
        match event {
            Event::Born { id, parents, genome, .. } => {
                let m = mechs.entry(*id).or_default();
                m.genome = genome.clone();
                m.parent = parents.first().copied();
            }
            Event::Tuned { id, genome, .. } => mechs.entry(*id).or_default().genome = genome.clone(),
            Event::Evaluated { id, claimed, .. } => mechs.entry(*id).or_default().claimed = Some(*claimed),
            Event::Verified { id, verified, .. } => mechs.entry(*id).or_default().verified = Some(*verified),
            _ => {}
        }
    }
    mechs
}

/// Every genome born in one event log (tuned text where tuned), in id order.
pub fn run_genomes(events: &[Event]) -> Vec<String> {
    replay(events).into_values().map(|m| m.genome).filter(|g| !g.is_empty()).collect()
}

/// The (parent → improved child) pairs of one event log, by the rule of this module, in
/// child id order.
pub fn improved_pairs(events: &[Event]) -> Vec<Pair> {
    let mechs = replay(events);
    let mut pairs = Vec::new();
    for child in mechs.values() {
        let (Some(verified), Some(parent_id)) = (child.verified, child.parent) else { continue };
        let Some(parent) = mechs.get(&parent_id) else { continue };
        let Some(parent_fitness) = parent.verified.or(parent.claimed) else { continue };
        let gain = verified - parent_fitness;
        if gain > 0.0 && gain.is_finite() && !child.genome.is_empty() && !parent.genome.is_empty() {
            pairs.push(Pair { parent: parent.genome.clone(), child: child.genome.clone(), gain });
        }
    }
    pairs
}

/// Every library genome in canonical text (re-printed, comments dropped), in library
/// order.
pub fn library_genomes() -> Vec<String> {
    LIBRARY
        .iter()
        // The library is checked by its own tests; a genome that failed would be skipped.
        .filter_map(|(_, text)| load(text, &Limits::default()).ok())
        .map(|g| syntax::print(&g))
        .collect()
}

/// The documents of the corpus before shuffling.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Documents {
    /// Distinct genome texts, each one unconditional document.
    pub genomes: Vec<String>,
    /// Improved pairs, each [`Pair::copies`] documents.
    pub pairs: Vec<Pair>,
}

/// How many documents of each kind a corpus holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocumentCounts {
    /// Unconditional genome documents.
    pub genomes: usize,
    /// Distinct improved pairs.
    pub pairs: usize,
    /// Pair documents, copies included.
    pub pair_documents: usize,
}

impl Documents {
    /// The library's genomes and nothing else.
    pub fn library() -> Self {
        let mut docs = Documents::default();
        docs.add_genomes(library_genomes());
        docs
    }

    /// Add the genomes and pairs of one run's event log.
    pub fn add_run(&mut self, events: &[Event]) {
        self.add_genomes(run_genomes(events));
        self.pairs.extend(improved_pairs(events));
    }

    /// Add genomes not already present (by exact text).
    fn add_genomes(&mut self, genomes: Vec<String>) {
        let mut seen: BTreeSet<String> = self.genomes.iter().cloned().collect();
        for g in genomes {
            if seen.insert(g.clone()) {
                self.genomes.push(g);
            }
        }
    }

    /// The counts.
    pub fn counts(&self) -> DocumentCounts {
        DocumentCounts {
            genomes: self.genomes.len(),
            pairs: self.pairs.len(),
            pair_documents: self.pairs.iter().map(Pair::copies).sum(),
        }
    }

    /// Every document (pairs repeated), shuffled by the stream of `seed`.
    pub fn shuffled(&self, seed: u64) -> Vec<String> {
        let mut docs: Vec<String> = self.genomes.iter().map(|g| document::unconditional(g)).collect();
        for p in &self.pairs {
            let text = document::pair(&p.parent, &p.child);
            docs.extend(std::iter::repeat_n(text, p.copies()));
        }
        let mut rng = stream(seed, "lm-documents", &[]);
        // Fisher-Yates, from the back.
        for i in (1..docs.len()).rev() {
            let j = rng.random_range(0..=i);
            docs.swap(i, j);
        }
        docs
    }

    /// The corpus: the shuffled documents concatenated (the trainer holds out the last
    /// tenth of its bytes for validation).
    pub fn corpus(&self, seed: u64) -> Corpus {
        Corpus::from_bytes("mechanism-documents", self.shuffled(seed).concat().into_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::components::AgentKind;
    use crate::sim::operators::MadeBy;

    fn born(id: u64, parents: &[u64], genome: &str) -> Event {
        Event::Born {
            tick: 0,
            id,
            parents: parents.to_vec(),
            agent: AgentKind::Proposer,
            operator: MadeBy::Seed,
            diagnosis: None,
            hash: String::new(),
            genome: genome.into(),
            coefficients: Vec::new(),
        }
    }

    fn evaluated(id: u64, claimed: f64) -> Event {
        Event::Evaluated { tick: 0, id, claimed, spread: 0.0, episodes: 1, cost: 1.0, audited: false, improved: None }
    }

    fn verified(id: u64, verified: f64) -> Event {
        Event::Verified { tick: 0, id, claimed: verified, verified, spread: 0.0, gap: 0.0, integrity: true }
    }

    #[test]
    fn copies_grow_with_the_gain_up_to_eight() {
        for (gain, copies) in [(0.001, 1), (0.049, 1), (0.05, 2), (0.12, 3), (0.36, 8), (5.0, 8), (f64::NAN, 1)] {
            assert_eq!(copies_for_gain(gain), copies, "gain {gain}");
        }
    }

    #[test]
    fn pairs_need_a_verified_child_beating_its_primary_parents_best_known_fitness() {
        let events = vec![
            born(1, &[], "P1"),
            born(2, &[], "P2"),
            evaluated(1, 0.10),
            evaluated(2, 0.30),
            verified(2, 0.20), // the verified value replaces the claim
            born(3, &[1, 2], "C3"),
            evaluated(3, 0.50),
            verified(3, 0.26), // gain 0.16 over parent 1's claim: 4 copies
            born(4, &[2], "C4"),
            evaluated(4, 0.9), // never verified: no pair
            born(5, &[2], "C5"),
            verified(5, 0.15), // worse than parent 2's verified 0.20
            born(6, &[9], "C6"),
            verified(6, 1.0), // parent unknown
            born(7, &[2], "C7"),
            Event::Tuned {
                tick: 0,
                id: 7,
                tried: 2,
                spent: 1.0,
                before: 0.0,
                after: 0.1,
                hash: String::new(),
                genome: "C7-tuned".into(),
            },
            verified(7, 0.21),
        ];
        let pairs = improved_pairs(&events);
        assert_eq!(pairs.len(), 2, "{pairs:?}");
        assert_eq!((pairs[0].parent.as_str(), pairs[0].child.as_str()), ("P1", "C3"));
        assert!((pairs[0].gain - 0.16).abs() < 1e-12);
        assert_eq!(pairs[0].copies(), 4);
        assert_eq!((pairs[1].parent.as_str(), pairs[1].child.as_str(), pairs[1].copies()), ("P2", "C7-tuned", 1));
        assert_eq!(run_genomes(&events), ["P1", "P2", "C3", "C4", "C5", "C6", "C7-tuned"]);

        let mut docs = Documents::default();
        docs.add_run(&events);
        docs.add_run(&events); // the same genomes again are not repeated
        assert_eq!(docs.counts(), DocumentCounts { genomes: 7, pairs: 4, pair_documents: 10 });
    }

    #[test]
    fn the_corpus_is_every_document_shuffled_by_the_seed() {
        let docs = Documents::library();
        assert_eq!(docs.genomes.len(), LIBRARY.len());
        assert!(docs.genomes.iter().all(|g| g.starts_with("(mechanism ") && !g.contains(';')));
        let a = docs.shuffled(1);
        assert_eq!(a, docs.shuffled(1));
        assert_ne!(a, docs.shuffled(2));
        let mut sorted = a.clone();
        sorted.sort();
        let mut expected: Vec<String> = docs.genomes.iter().map(|g| document::unconditional(g)).collect();
        expected.sort();
        assert_eq!(sorted, expected);
        assert_eq!(docs.corpus(1).bytes(), a.concat().as_bytes());
    }
}
