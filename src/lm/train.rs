//! Training the mechanism language model: the project's own trainer (fused CPU ops,
//! AdamW, warmup and cosine decay over exactly the requested steps) on the corpus of
//! [`super::corpus`], then validation bits per byte on the held-out tail. Deterministic:
//! the same documents, options and seed give bit-identical weights.

use std::time::Instant;

use super::LmError;
use super::corpus::Documents;
use super::document;
use super::model_file::{Header, identity_hex};
use crate::diagnostic::InputError;
use crate::objective::gpt::model::{Gpt, ModelConfig};
use crate::objective::gpt::train::Trainer;
use crate::objective::gpt::{OptimConfig, TrainSettings, TrialSpec};

/// The most optimiser steps a training run takes (a typo guard: a million steps of the
/// default shape would take days).
pub const MAX_STEPS: usize = 1_000_000;

/// How to train.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainOptions {
    /// The model's shape.
    pub model: ModelConfig,
    /// The optimiser (the schedule spans `steps`).
    pub optim: OptimConfig,
    /// Optimiser steps.
    pub steps: usize,
    /// Seed of the initial weights, the batches and the document order.
    pub seed: u64,
}

impl TrainOptions {
    /// The default shape: 4 blocks of width 128 with 4 heads over 256 bytes of context,
    /// about 0.9 M parameters.
    pub const DEFAULT_MODEL: ModelConfig =
        ModelConfig { context: 256, depth: 4, width: 128, heads: 4, init_scale: 1.0 };

    /// Default optimiser steps (a few minutes on two cores; see the module doc of
    /// [`crate::lm`] for the measured time).
    pub const DEFAULT_STEPS: usize = 1500;

    /// The trainer's settings: a FLOP budget that buys exactly `steps` steps.
    fn settings(&self) -> TrainSettings {
        let spec = self.spec();
        let per_step = self.model.train_flops_per_token() * spec.tokens_per_step() as f64;
        TrainSettings { budget_gflop: (self.steps as f64 + 0.5) * per_step / 1e9, ..TrainSettings::default() }
    }

    fn spec(&self) -> TrialSpec {
        TrialSpec { model: self.model, optim: self.optim }
    }
}

impl Default for TrainOptions {
    fn default() -> Self {
        TrainOptions {
            model: Self::DEFAULT_MODEL,
            optim: OptimConfig { lr: 2e-3, batch_tokens: 2048, ..OptimConfig::default() },
            steps: Self::DEFAULT_STEPS,
            seed: 0,
        }
    }
}

/// A trained model and what its file's header records.
#[derive(Debug, Clone)]
pub struct Trained {
    /// The header of its model file.
    pub header: Header,
    /// The weights.
    pub model: Gpt,
}

/// Train on `documents`; `on_step(step, total, loss)` is called after every step.
pub fn train(
    documents: &Documents,
    options: &TrainOptions,
    mut on_step: impl FnMut(usize, usize, f32),
) -> Result<Trained, LmError> {
    let spec = options.spec();
    if let Some(problem) = spec.problem() {
        return Err(InputError::usage(
            format!("cannot train this model: {problem}"),
            "check --context, --depth, --width, --heads and --lr",
        )
        .into());
    }
    if options.steps == 0 || options.steps > MAX_STEPS {
        return Err(InputError::usage(format!("--steps must be between 1 and {MAX_STEPS}"), "e.g. --steps 1500").into());
    }
    let corpus = documents.corpus(options.seed);
    if corpus.check_context(options.model.context).is_err() {
        let counts = documents.counts();
        return Err(InputError::usage(
            format!(
                "the corpus ({} genomes, {} pair documents, {} bytes) is too short for a context of {} bytes: training and validation each need more than the context",
                counts.genomes,
                counts.pair_documents,
                corpus.bytes().len(),
                options.model.context
            ),
            "lower --context, or add run folders with --runs",
        )
        .into());
    }
    let mut trainer = Trainer::new(spec, &corpus, &options.settings(), options.seed).map_err(|e| match e {
        crate::objective::gpt::train::TrainError::Invalid(problem) => {
            LmError::Input(InputError::usage(format!("cannot train this model: {problem}"), "choose a smaller shape"))
        }
        other => other.into(),
    })?;
    let mut final_loss = f32::NAN;
    while trainer.step_count() < options.steps {
        final_loss = trainer.step()?.ok_or(LmError::Diverged(trainer.step_count()))?;
        on_step(trainer.step_count(), options.steps, final_loss);
    }
    let val_bytes = corpus.val().len();
    let val_bpb = trainer.eval_bpb(val_bytes)?.ok_or(LmError::Diverged(trainer.step_count()))?;
    let header = Header {
        model: options.model,
        document_format: document::FORMAT_VERSION,
        seed: options.seed,
        steps: options.steps,
        optim: options.optim,
        corpus_hash: identity_hex(corpus.hash()),
        corpus_bytes: corpus.bytes().len(),
        documents: documents.counts(),
        final_loss: final_loss as f64,
        val_bpb,
    };
    Ok(Trained { header, model: trainer.model().clone() })
}

/// [`train`], timed: the trained model and the wall time in seconds.
pub fn train_timed(
    documents: &Documents,
    options: &TrainOptions,
    on_step: impl FnMut(usize, usize, f32),
) -> Result<(Trained, f64), LmError> {
    let start = Instant::now();
    let trained = train(documents, options, on_step)?;
    Ok((trained, start.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::model_file::encode;

    /// A shape and step count small enough for a unit test.
    pub(crate) fn tiny() -> TrainOptions {
        TrainOptions {
            model: ModelConfig { context: 64, depth: 1, width: 32, heads: 2, init_scale: 1.0 },
            optim: OptimConfig { batch_tokens: 256, ..OptimConfig::default() },
            steps: 20,
            seed: 1,
        }
    }

    #[test]
    fn training_is_deterministic_and_learns() {
        let docs = Documents::library();
        let mut losses = Vec::new();
        let a = train(&docs, &tiny(), |_, _, loss| losses.push(loss)).unwrap();
        assert_eq!(losses.len(), 20);
        assert!(losses[19] < losses[0], "{losses:?}");
        assert!(a.header.val_bpb < 8.0, "{}", a.header.val_bpb);
        let b = train(&docs, &tiny(), |_, _, _| {}).unwrap();
        assert_eq!(encode(&a.header, &a.model).unwrap(), encode(&b.header, &b.model).unwrap());
        let other = train(&docs, &TrainOptions { seed: 2, ..tiny() }, |_, _, _| {}).unwrap();
        assert_ne!(encode(&a.header, &a.model).unwrap(), encode(&other.header, &other.model).unwrap());
    }

    #[test]
    fn bad_shapes_and_a_short_corpus_are_bad_input() {
        let docs = Documents::library();
        let bad = TrainOptions { model: ModelConfig { heads: 3, ..tiny().model }, ..tiny() };
        assert!(matches!(train(&docs, &bad, |_, _, _| {}), Err(LmError::Input(_))));
        let long = TrainOptions { model: ModelConfig { context: 4096, ..tiny().model }, ..tiny() };
        let err = train(&docs, &long, |_, _, _| {}).unwrap_err();
        assert!(matches!(err, LmError::Input(_)) && err.to_string().contains("too short"), "{err}");
        assert!(matches!(train(&docs, &TrainOptions { steps: 0, ..tiny() }, |_, _, _| {}), Err(LmError::Input(_))));
    }
}
