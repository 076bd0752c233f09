//! Reproductions of the field's claims as scenario files (`outerloop reproduce`).
//!
//! A set (`scenarios/reproductions/<set>/reproduction.toml`) names the claim it tests,
//! what the source reported, the verdict rule, a base scenario and its arms (listed, or
//! a full factorial), replicate run seeds, the held-out and live tasks the champions
//! are scored on, and a quick variant for the tests. `runner` runs a set resumably (one
//! run folder per arm and seed, the generated scenario kept beside it), `measure` turns
//! the run folders into numbers and a verdict per claim, `document` writes
//! `REPRODUCTIONS.md` and `.json`.

pub mod document;
pub mod manifest;
pub mod measure;
pub mod runner;

use std::path::{Path, PathBuf};

pub use self::document::Document;
pub use self::manifest::{ClaimKind, ReproSet};
pub use self::measure::{ClaimResult, Verdict, measure};
pub use self::runner::{JobOutcome, ReproError, run_set};

/// The folder the shipped sets live in.
pub const SETS: &str = "scenarios/reproductions";

/// Every set under `dir` (folders holding a `reproduction.toml`), in name order.
pub fn sets_in(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("reproduction.toml").is_file())
        .collect();
    out.sort();
    out
}

/// The default runs folder of a variant.
pub fn default_root(quick: bool) -> PathBuf {
    PathBuf::from(if quick { "populations/reproductions-quick" } else { "populations/reproductions" })
}

/// Measure every set (novelty last, reading the others) into one document.
pub fn document(sets: &[ReproSet], root: &Path, quick: bool) -> Result<Document, ReproError> {
    let mut claims: Vec<ClaimResult> = Vec::new();
    let (novelty, others): (Vec<&ReproSet>, Vec<&ReproSet>) =
        sets.iter().partition(|s| s.manifest.claim == ClaimKind::Novelty);
    for s in others {
        claims.push(measure(s, &root.join(&s.name), &[])?);
    }
    for s in novelty {
        let c = measure(s, &root.join(&s.name), &claims)?;
        claims.push(c);
    }
    // The summary keeps the sets' name order.
    claims.sort_by(|a, b| a.set.cmp(&b.set));
    Ok(Document { variant: if quick { "quick" } else { "full" }.into(), runs: root.display().to_string(), claims })
}
