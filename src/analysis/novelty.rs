//! Novelty against the seed library: structural and behavioural distance to the
//! nearest library mechanism, fitness against that relative on fresh paired episodes,
//! and the primitives a mechanism combines that no library mechanism combines.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::genome::Genome;
use crate::genome::ast::{Expr, Op};
use crate::genome::hash::shape_distance;
use crate::genome::interp::Program;
use crate::genome::library::LIBRARY;
use crate::inner::fingerprint::{Fingerprint, behavioural_distance, fingerprint};
use crate::sim::episode_batch::EpisodeResult;
use crate::sim::episodes::{Episodes, compile_text};
use crate::stats::{Interval, bootstrap_mean, sign_flip_p};

/// Thresholds a mechanism must pass on both distances to count as new.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Thresholds {
    /// Minimum structural distance (subtree-bag distance of the shapes, constants blanked,
    /// 0..1) to every library mechanism: retuned constants are not new structure.
    pub structural: f64,
    /// Minimum behavioural distance (probe-task fingerprints, 0..1) to every library mechanism.
    pub behavioural: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { structural: 0.3, behavioural: 0.05 }
    }
}

/// One mechanism compared with the library.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NoveltyRow {
    /// Mechanism id.
    pub id: u64,
    /// Its verified fitness in the run.
    pub verified: Option<f64>,
    /// The nearest library mechanism (smallest mean of the two distances).
    pub nearest: String,
    /// Structural distance to `nearest`.
    pub structural: f64,
    /// Behavioural distance to `nearest`.
    pub behavioural: f64,
    /// Smallest structural distance to any library mechanism.
    pub min_structural: f64,
    /// Smallest behavioural distance to any library mechanism.
    pub min_behavioural: f64,
    /// Mean per-episode log10(regret of `nearest` / regret of this mechanism) on fresh
    /// paired episodes, with a bootstrap interval: above zero means it beats its relative.
    pub versus_nearest: Interval,
    /// Sign-flip permutation p-value of that difference.
    pub p_value: f64,
    /// The library mechanism with the lowest mean log10 regret on the same episodes.
    pub best_library: String,
    /// The same comparison against `best_library`: a stricter bar than the nearest
    /// relative (reported, not part of the definition of new).
    pub versus_best_library: Interval,
    /// New: both distances pass their thresholds and the interval lies above zero.
    pub is_new: bool,
    /// Primitive pairs it uses together that no library mechanism uses together.
    pub new_combinations: Vec<(String, String)>,
    /// Primitives no library mechanism uses at all.
    pub new_primitives: Vec<String>,
}

/// The novelty section's data.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Novelty {
    /// The thresholds used.
    pub thresholds: Thresholds,
    /// Paired fresh episodes behind `versus_nearest`.
    pub episodes: usize,
    /// Champion first, then the other top mechanisms by verified fitness.
    pub rows: Vec<NoveltyRow>,
}

/// A compiled library mechanism with what novelty needs.
pub struct LibraryEntry {
    /// Name.
    pub name: &'static str,
    /// Genome.
    pub genome: Genome,
    /// Program.
    pub program: Program,
    /// Fingerprint on the probe task.
    pub fingerprint: Fingerprint,
    /// Primitives it uses.
    pub primitives: BTreeSet<String>,
}

/// The seed library, compiled and fingerprinted.
pub fn library() -> Vec<LibraryEntry> {
    LIBRARY
        .iter()
        .filter_map(|(name, text)| {
            let (genome, program) = compile_text(text).ok()?;
            let fingerprint = fingerprint(&program);
            let primitives = primitives(&genome);
            Some(LibraryEntry { name, genome, program, fingerprint, primitives })
        })
        .collect()
}

/// Arithmetic, logic and plumbing: every mechanism needs some, so combining them says
/// nothing about the search idea and they are left out of the combination analysis.
const GLUE: [&str; 15] =
    ["+", "-", "*", "/", "exp", "<", ">", "and", "not", "if", "cand", "dims", "iter", "rand", "skip"];

/// The search primitives a genome uses (`get` and `set` for state access; arithmetic
/// and logic glue left out).
pub fn primitives(g: &Genome) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (id, root) in g.roots() {
        // An initial design of zero points never runs its expression.
        if id.hook == crate::genome::ast::Hook::Init && g.init_count == 0 {
            continue;
        }
        root.walk(&mut |e: &Expr| match &e.op {
            Op::Prim(p) if GLUE.contains(&p.name()) => {}
            Op::Prim(p) => {
                out.insert(p.name().to_string());
            }
            Op::Get(_) => {
                out.insert("get".into());
            }
            Op::Set(_) => {
                out.insert("set".into());
            }
            Op::Num(_) | Op::Flag(_) => {}
        });
    }
    out
}

/// A mechanism to compare.
pub struct Candidate<'a> {
    /// Id.
    pub id: u64,
    /// Verified fitness in the run.
    pub verified: Option<f64>,
    /// Genome.
    pub genome: &'a Genome,
    /// Program.
    pub program: &'a Program,
    /// Its results on `episodes` (already run for the live-gene report).
    pub results: &'a [EpisodeResult],
}

/// Compare candidates with the library on shared fresh episodes; `lib_results[i]` are
/// `lib[i]`'s results on `episodes` (run once by the caller, shared with other sections).
pub fn novelty(
    candidates: &[Candidate<'_>],
    lib: &[LibraryEntry],
    lib_results: &[Vec<EpisodeResult>],
    episodes: &Episodes,
    thresholds: Thresholds,
    seed: u64,
) -> Novelty {
    let best = episodes.lowest_mean_log_regret(lib_results);
    let rows = candidates
        .iter()
        .map(|c| {
            let fp = fingerprint(c.program);
            let dist: Vec<(f64, f64)> = lib
                .iter()
                .map(|l| (shape_distance(c.genome, &l.genome), behavioural_distance(&fp, &l.fingerprint)))
                .collect();
            let nearest = (0..lib.len())
                .min_by(|&a, &b| (dist[a].0 + dist[a].1).total_cmp(&(dist[b].0 + dist[b].1)).then(a.cmp(&b)))
                .unwrap_or(0);
            let min_structural = dist.iter().map(|d| d.0).fold(f64::INFINITY, f64::min);
            let min_behavioural = dist.iter().map(|d| d.1).fold(f64::INFINITY, f64::min);
            let diffs = episodes.gains(c.results, &lib_results[nearest]);
            let versus_best_library = bootstrap_mean(&episodes.gains(c.results, &lib_results[best]), seed ^ c.id);
            let versus_nearest = bootstrap_mean(&diffs, seed ^ c.id);
            let p_value = sign_flip_p(&diffs, seed ^ c.id);
            let (new_combinations, new_primitives) = new_combinations(c.genome, lib);
            NoveltyRow {
                id: c.id,
                verified: c.verified,
                nearest: lib[nearest].name.to_string(),
                structural: dist[nearest].0,
                behavioural: dist[nearest].1,
                min_structural,
                min_behavioural,
                versus_nearest,
                p_value,
                best_library: lib[best].name.to_string(),
                versus_best_library,
                is_new: min_structural >= thresholds.structural
                    && min_behavioural >= thresholds.behavioural
                    && versus_nearest.lo > 0.0,
                new_combinations,
                new_primitives,
            }
        })
        .collect();
    Novelty { thresholds, episodes: episodes.jobs.len(), rows }
}

/// Primitive pairs of `g` that no library mechanism uses together, and primitives no
/// library mechanism uses.
pub fn new_combinations(g: &Genome, lib: &[LibraryEntry]) -> (Vec<(String, String)>, Vec<String>) {
    let prims: Vec<String> = primitives(g).into_iter().collect();
    let mut pairs = Vec::new();
    for (i, a) in prims.iter().enumerate() {
        for b in &prims[i + 1..] {
            if !lib.iter().any(|l| l.primitives.contains(a) && l.primitives.contains(b)) {
                pairs.push((a.clone(), b.clone()));
            }
        }
    }
    let unseen = prims.iter().filter(|p| !lib.iter().any(|l| l.primitives.contains(*p))).cloned().collect();
    (pairs, unseen)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_library_mechanism_is_not_new_and_combines_nothing_new() {
        let lib = library();
        assert_eq!(lib.len(), LIBRARY.len());
        for l in &lib {
            let (pairs, unseen) = new_combinations(&l.genome, &lib);
            assert!(pairs.is_empty() && unseen.is_empty(), "{}", l.name);
        }
    }

    #[test]
    fn a_crossbred_genome_combines_pieces_of_two_mechanisms() {
        let lib = library();
        let text = "(mechanism x (init 4 (latin 4)) (propose (perturb (best 1) (dims) 0.1)) \
                    (filter (> (nearest-dist (cand) 30) 0.02)) (fidelity 1) (update))";
        let (g, _) = compile_text(text).unwrap();
        let prims = primitives(&g);
        assert!(prims.contains("nearest-dist") && prims.contains("latin") && !prims.contains(">"), "{prims:?}");
        let (pairs, _) = new_combinations(&g, &lib);
        // `best` comes from greedy search, `nearest-dist` from tabu search (which perturbs
        // an anchor instead): never together in the library.
        assert!(pairs.contains(&("best".to_string(), "nearest-dist".to_string())), "{pairs:?}");
    }
}
