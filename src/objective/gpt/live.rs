//! Live GPT trials as tasks: `gpt-live:<corpus>[:b<gflop>][:c<context>][:e<eval bytes>]`.
//!
//! A live task trains a real model for every trial (one core each) over the suite's
//! 11-knob space ([`suite_space`]), on a named corpus or a file (`gpt-live:data/my.txt`:
//! a path with `/` or `.`, no `:`). Defaults: 20 GFLOP, context 32,
//! 2048 evaluation bytes: the small tables' settings, so `gpt-live:records` is the live
//! version of `gpt-table:records-s`.
//!
//! - **Best-known value.** Regret is measured against the best seed mean of the shipped
//!   table with the same corpus, budget, context and evaluation bytes when there is one
//!   (`outerloop task list` shows it). Without such a table the optimum is unknown and
//!   an episode's score is the recommended config's bpb itself.
//! - **True score.** The recommended config is re-trained on [`TRUTH_SEEDS`] (fresh
//!   seeds no episode draws from, the same for every episode so the cache answers
//!   repeats) and scored by their mean. This compute is not charged to the episode.
//! - **Budget units.** Full-trial equivalents, as on the suite's tables.
//! - **Cache.** Trials go through the persistent trial cache in [`default_cache_dir`],
//!   shared by all runs; a cache hit returns the same numbers as the trial.

use std::path::PathBuf;
use std::sync::Arc;

use super::corpora::CorpusSource;
use super::design::TableSpec;
use super::suite::{SHIPPED, shipped_table};
use super::table::GptTable;
use super::{GptObjective, TrainSettings, TrialCache};
use crate::objective::Objective;
use crate::space::SearchSpace;

/// Seeds of the fresh re-evaluation of a recommended config. Episode trials use seeds
/// derived by hashing, which never take these small values in practice.
pub const TRUTH_SEEDS: [u64; 2] = [1_000_001, 1_000_002];

/// The spec whose space every table of the suite shares.
const SUITE_SPEC: &str = include_str!("../../../scenarios/tables/synthetic-s.toml");

/// The suite's search space (the space of every design table and live task).
pub fn suite_space() -> SearchSpace {
    match TableSpec::parse(std::path::Path::new("scenarios/tables/synthetic-s.toml"), SUITE_SPEC) {
        Ok(spec) => spec.space,
        Err(e) => unreachable!("the shipped suite spec parses (checked by a test): {e}"),
    }
}

/// The persistent trial cache folder: `$OUTERLOOP_CACHE`, else
/// `$XDG_CACHE_HOME/outerloop/trials`, else `$HOME/.cache/outerloop/trials`, else
/// `.outerloop-cache/trials` in the working directory.
pub fn default_cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("OUTERLOOP_CACHE").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("outerloop").join("trials");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|d| !d.is_empty()) {
        return PathBuf::from(home).join(".cache").join("outerloop").join("trials");
    }
    PathBuf::from(".outerloop-cache").join("trials")
}

/// A parsed live task name.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveTask {
    /// The corpus: named, or a file (its path as the task names it).
    pub corpus: CorpusSource,
    /// GFLOP per full trial.
    pub budget: f64,
    /// Context length.
    pub context: usize,
    /// Held-out bytes scored per checkpoint.
    pub eval_tokens: usize,
}

impl LiveTask {
    /// Parse `gpt-live:<corpus>[:b<gflop>][:c<context>][:e<eval bytes>]`.
    pub fn parse(name: &str) -> Result<LiveTask, String> {
        let rest = name.strip_prefix("gpt-live:").ok_or("a live task starts with `gpt-live:`")?;
        let mut parts = rest.split(':');
        let corpus_name = parts.next().unwrap_or("");
        let corpus = CorpusSource::parse(corpus_name)?;
        let mut task = LiveTask { corpus, budget: 20.0, context: 32, eval_tokens: 2048 };
        for part in parts {
            let (tag, value) = part.split_at(part.len().min(1));
            match tag {
                "b" => {
                    task.budget = value
                        .parse::<f64>()
                        .ok()
                        .filter(|b| b.is_finite() && *b > 0.0 && *b <= 1e6)
                        .ok_or_else(|| format!("budget `{value}` must be a positive number of GFLOP (e.g. b20)"))?;
                }
                "c" => {
                    task.context = value
                        .parse::<usize>()
                        .ok()
                        .filter(|c| (2..=4096).contains(c))
                        .ok_or_else(|| format!("context `{value}` must be an integer from 2 to 4096 (e.g. c32)"))?;
                }
                "e" => {
                    task.eval_tokens =
                        value.parse::<usize>().ok().filter(|e| *e > 0).ok_or_else(|| {
                            format!("evaluation bytes `{value}` must be a positive integer (e.g. e2048)")
                        })?;
                }
                _ => return Err(format!("unknown part `{part}` (b<gflop>, c<context>, e<eval bytes>)")),
            }
        }
        Ok(task)
    }

    /// The canonical name of this task.
    pub fn name(&self) -> String {
        format!("gpt-live:{}:b{}:c{}:e{}", self.corpus, self.budget, self.context, self.eval_tokens)
    }

    /// The shipped table tabulating this very task, if any.
    pub fn matching_table(&self) -> Option<GptTable> {
        let CorpusSource::Named(named) = &self.corpus else { return None };
        let space = suite_space();
        SHIPPED.iter().filter_map(|t| shipped_table(t.name).ok()).find(|obj| {
            let t = obj.table();
            let corpus = t.header_value("corpus").and_then(|c| c.split(' ').next()).unwrap_or("");
            corpus == named.as_str()
                && t.budget == self.budget
                && t.context == self.context
                && t.eval_tokens == self.eval_tokens
                && t.space == space
        })
    }

    /// The objective: live trials with the default cache (when it can be opened), the
    /// matching table's best seed mean as the best-known value, and fresh truth seeds; an
    /// error when a file corpus cannot be read.
    pub fn objective(&self) -> Result<GptObjective, String> {
        // No writable cache: trials still run, they are only not remembered.
        self.objective_with_cache(TrialCache::open(&default_cache_dir()).ok())
    }

    /// [`LiveTask::objective`] with an explicit cache (or none).
    pub fn objective_with_cache(&self, cache: Option<TrialCache>) -> Result<GptObjective, String> {
        let settings =
            TrainSettings { budget_gflop: self.budget, eval_tokens: self.eval_tokens, ..TrainSettings::default() };
        let (optimum, resolution) = match self.matching_table() {
            Some(t) => (t.optimum(), t.resolution()),
            None => (None, 0.01),
        };
        let corpus = self.corpus.load()?;
        let identity = self.corpus.file().map(|_| corpus.hash());
        let objective = GptObjective::new(Arc::new(corpus), settings, self.context)
            .with_space(suite_space())
            .with_name(&self.name())
            .with_reference(optimum, resolution)
            .with_truth_seeds(TRUTH_SEEDS.to_vec())
            .in_trial_units()
            .with_input_identity(identity);
        Ok(match cache {
            Some(cache) => objective.with_cache(cache),
            None => objective,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::corpora::CorpusName;
    use super::*;

    #[test]
    fn live_names_parse_with_defaults() {
        let t = LiveTask::parse("gpt-live:records").unwrap();
        let records = CorpusSource::Named(CorpusName::Records);
        assert_eq!(t, LiveTask { corpus: records, budget: 20.0, context: 32, eval_tokens: 2048 });
        let t = LiveTask::parse("gpt-live:shakespeare:b80:c64:e4096").unwrap();
        assert_eq!((t.budget, t.context, t.eval_tokens), (80.0, 64, 4096));
        assert_eq!(LiveTask::parse(&t.name()).unwrap(), t);
        assert!(LiveTask::parse("gpt-live:records:c1").unwrap_err().contains("context"));
        assert!(LiveTask::parse("gpt-live:records:bx").unwrap_err().contains("budget"));
        assert!(LiveTask::parse("gpt-live:moon").unwrap_err().contains("unknown corpus `moon`"));
        // A file: named by its path, read when the objective is built.
        let t = LiveTask::parse("gpt-live:data/mine.txt:b5").unwrap();
        assert_eq!(t.corpus, CorpusSource::File("data/mine.txt".into()));
        assert_eq!(t.name(), "gpt-live:data/mine.txt:b5:c32:e2048");
        assert!(t.objective_with_cache(None).err().is_some_and(|e| e.contains("data/mine.txt")));
    }

    #[test]
    fn every_design_spec_shares_the_suite_space() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/tables");
        for t in SHIPPED.iter().filter(|t| t.name != "synthetic") {
            let path = dir.join(format!("{}.toml", t.name));
            let spec = TableSpec::parse(&path, &std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(spec.space, suite_space(), "{}", t.name);
        }
    }
}
