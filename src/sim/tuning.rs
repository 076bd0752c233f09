//! Structures judged with tuned constants (`proposer.tune_constants`): before its claim,
//! a structurally new child tries a few constant vectors on the first claim block and
//! keeps the best, so a new structure is not judged on the untuned constants it
//! happened to be written with (LLaMEA-HPO's observation: a new structure only shows
//! its worth once its parameters are tuned).
//!
//! The vectors are the child's own and `k - 1` mutants, each made by one to three
//! `mutate-constant` steps (the proposer's own constant operator, so every mutant is a
//! valid genome of the same structure, initial-design size included). Which one wins is
//! decided on claim episodes, so the claim that follows is biased upward by the choice;
//! the verifier's fresh seeds are what judge it.

use super::operators::{MadeBy, Operator};
use crate::genome::ast::Genome;
use crate::genome::hash::canonical;
use crate::genome::ops::{Mutation, mutate_constant};
use crate::genome::{Limits, Program};
use crate::rng;

/// Whether a child made this way is structurally new and gets its constants tuned:
/// every proposer operator but `mutate-constant`, and the recombiner's crossover. Seeds,
/// constant-swarm merges (a constant move already), pruning and inherited mechanisms do
/// not.
pub fn tunes(made_by: MadeBy) -> bool {
    match made_by {
        MadeBy::Operator(Operator::Mutate(Mutation::Constant)) => false,
        MadeBy::Operator(_) | MadeBy::Crossover { .. } | MadeBy::Llm => true,
        MadeBy::Seed | MadeBy::Inherited | MadeBy::Planted | MadeBy::ConstantSwarm | MadeBy::PruneDead => false,
    }
}

/// The child's genome first, then up to `k - 1` distinct compiled mutants of its
/// constants (fewer when the genome has few ways to differ), drawn from a stream of the
/// run's `seed` and the child's `id`.
pub fn variants(genome: &Genome, k: usize, seed: u64, id: u64) -> Vec<(Genome, Program)> {
    let mut out: Vec<(Genome, Program)> = Vec::new();
    let Ok(own) = Program::compile(genome, Limits::default()) else { return out };
    out.push((genome.clone(), own));
    // Distinct by canonical form (names of the mechanism and its state do not count).
    let mut seen = vec![canonical(genome)];
    let mut draw = rng::stream(seed, "tune-constants", &[id]);
    // A bounded number of attempts: a genome with one small integer constant has few
    // distinct mutants.
    for attempt in 0..4 * k {
        if out.len() >= k {
            break;
        }
        let mut g = genome.clone();
        for _ in 0..=attempt % 3 {
            if let Some(m) = mutate_constant(&g, &mut draw) {
                g = m;
            }
        }
        let key = canonical(&g);
        if seen.contains(&key) {
            continue;
        }
        if let Ok(p) = Program::compile(&g, Limits::default()) {
            seen.push(key);
            out.push((g, p));
        }
    }
    out
}

/// Index of the best mean gain (the first on ties, so the child's own constants win
/// unless a mutant is strictly better).
pub fn best(mean_gains: &[f64]) -> usize {
    let mut best = 0;
    for (i, g) in mean_gains.iter().enumerate() {
        if *g > mean_gains[best] {
            best = i;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::genome::constants::constants;
    use crate::genome::load;

    #[test]
    fn variants_share_the_structure_and_differ_in_constants() {
        let text = crate::genome::library::library_text("cma-es").unwrap();
        let g = load(text, &Limits::default()).unwrap();
        let v = variants(&g, 6, 7, 42);
        assert_eq!(v.len(), 6);
        assert_eq!(v[0].0, g, "the child's own constants come first");
        let key = constants(&g).key();
        for (m, _) in &v[1..] {
            assert_eq!(constants(m).key(), key, "a mutant keeps the structure");
            assert_ne!(canonical(m), canonical(&g));
            assert_eq!(m.name, g.name, "the name is kept");
        }
        assert_eq!(
            variants(&g, 6, 7, 42).iter().map(|x| x.0.clone()).collect::<Vec<_>>(),
            v.iter().map(|x| x.0.clone()).collect::<Vec<_>>()
        );
        assert_ne!(variants(&g, 6, 7, 43)[1].0, v[1].0, "another child draws other mutants");
    }

    #[test]
    fn only_structural_births_are_tuned_and_ties_keep_the_own_constants() {
        assert!(!tunes(MadeBy::Operator(Operator::Mutate(Mutation::Constant))));
        assert!(tunes(MadeBy::Operator(Operator::Mutate(Mutation::ReplaceSubtree))));
        assert!(tunes(MadeBy::Operator(Operator::Graft)));
        assert!(tunes(MadeBy::Crossover { distance: 0.5 }));
        assert!(!tunes(MadeBy::ConstantSwarm) && !tunes(MadeBy::Seed) && !tunes(MadeBy::PruneDead));
        assert_eq!(best(&[0.1, 0.1, 0.05]), 0);
        assert_eq!(best(&[0.1, 0.2, 0.2]), 1);
    }
}
