//! Batches of work as plain data: what a worker anywhere needs to produce the same
//! results as this process, and the results in job order.
//!
//! Four kinds of work go through an executor: inner-loop episodes of mechanisms (the
//! outer loop's evaluations, live GPT trials included), GPT trials of a table build,
//! training runs of the model swarm (base pretraining and expert fine-tuning) and
//! scorings of swarm weight sets on evaluation items. Each job is a pure function of its
//! batch, so a shard of jobs run anywhere gives the bytes this process would.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::objective::gpt::{Corpus, TrainSettings, TrialOutcome, TrialSpec, par_trials, run_trial};
use crate::sim::episodes::EpisodeResult;
use crate::sim::executor::{EpisodeBatch, run_batch};
use crate::swarm::experts::{TrainPlan, train};
use crate::swarm::tasks::Item;
use crate::swarm::utility::{Scores, score_flat};

/// A corpus as it travels in a batch file: its name and its bytes (so a node needs no
/// path to the file the coordinator read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CorpusData {
    /// The corpus name (reports, cache keys).
    pub name: String,
    /// All bytes; the train/validation split is recomputed from them.
    pub bytes: Vec<u8>,
}

impl CorpusData {
    /// The travelling form of `corpus`.
    pub fn of(corpus: &Corpus) -> Self {
        CorpusData { name: corpus.name().to_string(), bytes: corpus.bytes().to_vec() }
    }

    /// The corpus again (byte-identical, same split and hash).
    pub fn corpus(&self) -> Corpus {
        Corpus::from_bytes(&self.name, self.bytes.clone())
    }
}

/// GPT trials of a table build: each job is a spec and a seed at full fidelity.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialBatch {
    /// The training corpus.
    pub corpus: CorpusData,
    /// Budget, evaluation tokens and fidelity levels.
    pub settings: TrainSettings,
    /// `(spec, seed)` per job.
    pub jobs: Vec<(TrialSpec, u64)>,
}

/// One training run of the model swarm.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingJob {
    /// Index into [`TrainingBatch::corpora`].
    pub corpus: usize,
    /// Training seed.
    pub seed: u64,
    /// Index into [`TrainingBatch::inits`] (a fresh seeded initialisation when `None`).
    pub init: Option<usize>,
}

/// Training runs of the model swarm that share a plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingBatch {
    /// Shape, optimiser and steps.
    pub plan: TrainPlan,
    /// Corpora the jobs train on.
    pub corpora: Vec<CorpusData>,
    /// Flat initial weights the jobs start from.
    pub inits: Vec<Vec<f32>>,
    /// The runs.
    pub jobs: Vec<TrainingJob>,
}

/// Weight sets of one shape scored on the same items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringBatch {
    /// The model shape of every weight set.
    pub model: crate::objective::gpt::ModelConfig,
    /// The evaluation items.
    pub items: Vec<Item>,
    /// Flat weights, one job each.
    pub weights: Vec<Vec<f32>>,
}

/// A batch of work of one kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Batch {
    /// Inner-loop episodes of mechanisms.
    Episodes(EpisodeBatch),
    /// GPT trials of a table build.
    Trials(TrialBatch),
    /// Model-swarm training runs.
    Training(TrainingBatch),
    /// Model-swarm scorings.
    Scoring(ScoringBatch),
}

/// Results of (part of) a batch, in job order. A job that failed carries its message:
/// the caller decides what a failed job means (a failed table row, a stopped swarm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Results {
    /// One per episode.
    Episodes(Vec<EpisodeResult>),
    /// One per trial.
    Trials(Vec<Result<TrialOutcome, String>>),
    /// Flat trained weights per run.
    Training(Vec<Result<Vec<f32>, String>>),
    /// Scores per weight set.
    Scoring(Vec<Result<Scores, String>>),
}

/// Why a batch could not be run at all.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BatchError {
    /// A job does not load (a batch file from another build, an index out of range).
    #[error("job {job}: {message}")]
    Job {
        /// Job index.
        job: usize,
        /// What failed.
        message: String,
    },
}

impl Batch {
    /// Number of jobs.
    pub fn len(&self) -> usize {
        match self {
            Batch::Episodes(b) => b.jobs.len(),
            Batch::Trials(b) => b.jobs.len(),
            Batch::Training(b) => b.jobs.len(),
            Batch::Scoring(b) => b.weights.len(),
        }
    }

    /// Whether the batch has no jobs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// What the jobs are, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Batch::Episodes(_) => "episodes",
            Batch::Trials(_) => "trials",
            Batch::Training(_) => "training runs",
            Batch::Scoring(_) => "scorings",
        }
    }

    /// Run jobs `range` in this process, `threads` at a time (episodes use the rayon
    /// pool); results in job order.
    pub fn run(&self, range: Range<usize>, threads: usize) -> Result<Results, BatchError> {
        if range.end > self.len() {
            return Err(BatchError::Job {
                job: range.end.saturating_sub(1),
                message: format!("out of range: the batch has {} jobs", self.len()),
            });
        }
        Ok(match self {
            Batch::Episodes(b) => Results::Episodes(run_batch(b, range)?),
            Batch::Trials(b) => {
                let corpus = b.corpus.corpus();
                Results::Trials(par_trials(&b.jobs[range], threads, |(spec, seed)| {
                    run_trial(spec, &corpus, &b.settings, 1.0, *seed).map_err(|e| e.to_string())
                }))
            }
            Batch::Training(b) => {
                let corpora: Vec<Corpus> = b.corpora.iter().map(CorpusData::corpus).collect();
                for (j, job) in b.jobs.iter().enumerate().skip(range.start).take(range.len()) {
                    if job.corpus >= corpora.len() || job.init.is_some_and(|i| i >= b.inits.len()) {
                        return Err(BatchError::Job {
                            job: j,
                            message: "corpus or initial weights out of range".into(),
                        });
                    }
                }
                Results::Training(par_trials(&b.jobs[range], threads, |job| {
                    let init = job.init.map(|i| b.inits[i].as_slice());
                    train(&b.plan, &corpora[job.corpus], job.seed, init).map_err(|e| e.to_string())
                }))
            }
            Batch::Scoring(b) => Results::Scoring(par_trials(&b.weights[range], threads, |w| {
                score_flat(b.model, w, &b.items).map_err(|e| e.to_string())
            })),
        })
    }
}

impl Results {
    /// Number of results.
    pub fn len(&self) -> usize {
        match self {
            Results::Episodes(r) => r.len(),
            Results::Trials(r) => r.len(),
            Results::Training(r) => r.len(),
            Results::Scoring(r) => r.len(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empty results of the kind `batch` produces.
    pub fn empty_for(batch: &Batch) -> Self {
        match batch {
            Batch::Episodes(_) => Results::Episodes(Vec::new()),
            Batch::Trials(_) => Results::Trials(Vec::new()),
            Batch::Training(_) => Results::Training(Vec::new()),
            Batch::Scoring(_) => Results::Scoring(Vec::new()),
        }
    }

    /// Append `more` (the next results in job order); results of another kind are an
    /// error (a result file from another batch).
    pub fn append(&mut self, more: Results) -> Result<(), String> {
        match (self, more) {
            (Results::Episodes(a), Results::Episodes(b)) => a.extend(b),
            (Results::Trials(a), Results::Trials(b)) => a.extend(b),
            (Results::Training(a), Results::Training(b)) => a.extend(b),
            (Results::Scoring(a), Results::Scoring(b)) => a.extend(b),
            _ => return Err("a result file holds results of another kind of work".into()),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::gpt::{ModelConfig, OptimConfig};

    fn tiny_corpus() -> Corpus {
        Corpus::synthetic(&[crate::objective::gpt::Skill::Copy], 6000, 1)
    }

    #[test]
    fn a_batch_survives_its_file_format_and_shards_concatenate_to_the_whole() {
        let spec =
            TrialSpec { model: ModelConfig::tiny(), optim: OptimConfig { batch_tokens: 64, ..OptimConfig::default() } };
        let settings = TrainSettings { budget_gflop: 0.002, eval_tokens: 256, ..TrainSettings::default() };
        let batch = Batch::Trials(TrialBatch {
            corpus: CorpusData::of(&tiny_corpus()),
            settings,
            jobs: vec![(spec, 0), (spec, 1), (spec, 2)],
        });
        let bytes = rmp_serde::to_vec_named(&batch).unwrap();
        let back: Batch = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back, batch);
        assert_eq!(back.len(), 3);
        let whole = batch.run(0..3, 2).unwrap();
        let mut parts = Results::empty_for(&batch);
        parts.append(back.run(0..1, 1).unwrap()).unwrap();
        parts.append(back.run(1..3, 1).unwrap()).unwrap();
        let strip = |r: Results| match r {
            Results::Trials(v) => v.into_iter().map(|o| o.map(|o| (o.curve, o.steps))).collect::<Vec<_>>(),
            _ => unreachable!("trial results"),
        };
        assert_eq!(strip(whole), strip(parts));
        assert!(batch.run(2..4, 1).is_err(), "a range past the end is refused");
        let mut other = Results::Scoring(Vec::new());
        assert!(other.append(Results::Trials(Vec::new())).is_err(), "kinds do not mix");
    }

    #[test]
    fn corpus_data_rebuilds_the_same_corpus() {
        let c = tiny_corpus();
        let back = CorpusData::of(&c).corpus();
        assert_eq!(back, c);
        assert_eq!(back.hash(), c.hash());
    }
}
