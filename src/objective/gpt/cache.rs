//! The persistent trial cache: one small msgpack file per trial, keyed by the xxh3 of
//! (code version, config, seed, budget, settings, corpus hash).
//!
//! A trial's curve is a prefix of the full run's curve (the schedule spans the full
//! budget), so an entry computed at a higher fidelity answers every lower one. Writes go
//! to a temporary file renamed into place, so parallel trials and interrupted runs never
//! leave a torn entry.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::CODE_VERSION;
use super::train::{FAILURE_BPB, TrainSettings, TrialOutcome, TrialSpec};
use crate::objective::{TrialResult, TrialStatus};

/// Errors of the trial cache.
#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// A file could not be read or written.
    #[error("trial cache {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An entry could not be encoded.
    #[error("trial cache: cannot encode entry: {0}")]
    Encode(#[from] rmp_serde::encode::Error),
}

/// The identity of a trial.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TrialKey(pub u64);

impl TrialKey {
    /// Key of `spec` trained with `seed` under `settings` on the corpus with `corpus_hash`.
    pub fn new(spec: &TrialSpec, seed: u64, settings: &TrainSettings, corpus_hash: u64) -> Self {
        let mut text = format!(
            "{CODE_VERSION}|{spec:?}|seed={seed}|budget={:?}|eval={}|fid={:?}|path={:?}|corpus={corpus_hash:016x}",
            settings.budget_gflop, settings.eval_tokens, settings.fidelities, settings.path
        );
        // Another device sums in another order: its trials are other trials. CPU keys
        // stay what they were before devices existed.
        if !settings.device.is_cpu() {
            text.push_str(&format!("|device={}", settings.device));
        }
        TrialKey(xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
    }
}

/// A cached trial: what a [`TrialResult`] at any level up to the one run needs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CachedTrial {
    /// `ok` or `diverged`.
    pub status: String,
    /// `(fidelity, bpb)` per level reached.
    pub curve: Vec<(f64, f64)>,
    /// Steps taken.
    pub steps: usize,
    /// Steps of the full budget.
    pub total_steps: usize,
    /// Wall-clock seconds of the original run.
    pub seconds: f64,
}

impl CachedTrial {
    /// Record an outcome.
    pub fn from_outcome(o: &TrialOutcome) -> Self {
        CachedTrial {
            status: o.status.as_str().to_string(),
            curve: o.curve.clone(),
            steps: o.steps,
            total_steps: o.total_steps,
            seconds: o.seconds,
        }
    }

    fn status(&self) -> TrialStatus {
        match self.status.as_str() {
            "ok" => TrialStatus::Ok,
            "diverged" => TrialStatus::Diverged,
            _ => TrialStatus::Invalid,
        }
    }

    /// Whether this entry answers a request at `level`.
    pub fn covers(&self, level: usize) -> bool {
        self.curve.len() > level || self.status() != TrialStatus::Ok
    }

    /// The result at `level` (failure scores past a divergence).
    pub fn result(&self, settings: &TrainSettings, level: usize) -> TrialResult {
        let levels = &settings.fidelities[..=level.min(settings.fidelities.len() - 1)];
        let curve: Vec<(f64, f64)> = levels
            .iter()
            .enumerate()
            .map(|(i, &l)| (l, self.curve.get(i).map(|c| c.1).unwrap_or(FAILURE_BPB)))
            .collect();
        let status = self.status();
        let top = levels.last().copied().unwrap_or(1.0);
        let cost = match status {
            TrialStatus::Ok => top * settings.budget_gflop,
            _ => {
                let done = self.steps as f64 / self.total_steps.max(1) as f64;
                done.min(top) * settings.budget_gflop
            }
        };
        TrialResult { score: curve.last().map(|c| c.1).unwrap_or(FAILURE_BPB), curve, cost, status }
    }
}

/// A directory of cached trials.
#[derive(Debug, Clone)]
pub struct TrialCache {
    dir: PathBuf,
}

impl TrialCache {
    /// Open (creating) a cache directory.
    pub fn open(dir: &Path) -> Result<Self, CacheError> {
        std::fs::create_dir_all(dir).map_err(|source| CacheError::Io { path: dir.to_path_buf(), source })?;
        Ok(TrialCache { dir: dir.to_path_buf() })
    }

    fn path(&self, key: &TrialKey) -> PathBuf {
        self.dir.join(format!("{:016x}.msgpack", key.0))
    }

    /// The entry for `key` if it covers `level`; unreadable entries count as misses.
    pub fn get(&self, key: &TrialKey, level: usize) -> Option<CachedTrial> {
        let bytes = crate::input::read_bytes(&self.path(key), crate::input::MAX_BINARY_BYTES).ok()?;
        let entry: CachedTrial = rmp_serde::from_slice(&bytes).ok()?;
        entry.covers(level).then_some(entry)
    }

    /// Store an entry, keeping an existing one that reaches further.
    pub fn put(&self, key: &TrialKey, entry: &CachedTrial) -> Result<(), CacheError> {
        if let Some(old) = self.get(key, 0)
            && old.curve.len() >= entry.curve.len()
        {
            return Ok(());
        }
        let path = self.path(key);
        // Unique per writer: workers on several machines may share the cache folder
        // (and their process ids), and each rename replaces the entry whole.
        let tmp = path.with_extension(format!("tmp{}", crate::input::unique_writer_tag()));
        let bytes = rmp_serde::to_vec_named(entry)?;
        std::fs::write(&tmp, bytes).map_err(|source| CacheError::Io { path: tmp.clone(), source })?;
        std::fs::rename(&tmp, &path).map_err(|source| CacheError::Io { path, source })
    }
}
