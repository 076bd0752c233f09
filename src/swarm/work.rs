//! The model swarm's batches of work: training runs (base pretraining, expert
//! fine-tuning) and scorings of weight sets on items. Each is an `exec::Work`, so a
//! swarm runs them here or on an installed remote executor (Slurm) with the same bytes.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::experts::{TrainPlan, train};
use super::tasks::Item;
use super::utility::{Scores, score_flat};
use crate::exec::Work;
use crate::objective::gpt::{Corpus, CorpusData, ModelConfig, par_trials};

/// One training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingJob {
    /// Index into [`TrainingBatch::corpora`].
    pub corpus: usize,
    /// Training seed.
    pub seed: u64,
    /// Index into [`TrainingBatch::inits`] (a fresh seeded initialisation when `None`).
    pub init: Option<usize>,
}

/// Training runs that share a plan.
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

impl Work for TrainingBatch {
    /// Flat trained weights, or why training failed.
    type Output = Result<Vec<f32>, String>;
    const KIND: &'static str = "swarm-training";

    fn len(&self) -> usize {
        self.jobs.len()
    }

    fn run(&self, range: Range<usize>, threads: usize) -> Result<Vec<Self::Output>, String> {
        let jobs =
            self.jobs.get(range.clone()).ok_or_else(|| format!("jobs {range:?} of a batch of {}", self.jobs.len()))?;
        if jobs.iter().any(|j| j.corpus >= self.corpora.len() || j.init.is_some_and(|i| i >= self.inits.len())) {
            return Err("a training job names a corpus or initial weights the batch does not hold".into());
        }
        let corpora: Vec<Corpus> = self.corpora.iter().map(CorpusData::corpus).collect();
        Ok(par_trials(jobs, threads, |job| {
            let init = job.init.map(|i| self.inits[i].as_slice());
            train(&self.plan, &corpora[job.corpus], job.seed, init).map_err(|e| e.to_string())
        }))
    }
}

/// Weight sets of one shape scored on the same items.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScoringBatch {
    /// The model shape of every weight set.
    pub model: ModelConfig,
    /// The evaluation items.
    pub items: Vec<Item>,
    /// Flat weights, one job each.
    pub weights: Vec<Vec<f32>>,
}

impl Work for ScoringBatch {
    /// Scores, or why scoring failed.
    type Output = Result<Scores, String>;
    const KIND: &'static str = "swarm-scoring";

    fn len(&self) -> usize {
        self.weights.len()
    }

    fn run(&self, range: Range<usize>, threads: usize) -> Result<Vec<Self::Output>, String> {
        let weights = self
            .weights
            .get(range.clone())
            .ok_or_else(|| format!("jobs {range:?} of a batch of {}", self.weights.len()))?;
        Ok(par_trials(weights, threads, |w| score_flat(self.model, w, &self.items).map_err(|e| e.to_string())))
    }
}
