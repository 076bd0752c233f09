//! Experts: one base model pretrained on the mixture of skills, then one copy of it
//! fine-tuned on each skill alone, with the GPT trainer of
//! [`crate::objective::gpt::train`].

use crate::objective::gpt::train::Trainer;
use crate::objective::gpt::{Corpus, ModelConfig, OptimConfig, TrainSettings, TrialSpec};

use super::SwarmError;
use super::weights::{flatten, unflatten};

/// How one training run goes: shape, optimiser and number of steps.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainPlan {
    /// The model shape.
    pub model: ModelConfig,
    /// Optimiser settings (the schedule spans `steps`).
    pub optim: OptimConfig,
    /// Optimiser steps.
    pub steps: usize,
}

impl TrainPlan {
    /// The trainer's settings: a FLOP budget that buys exactly `steps` steps.
    fn settings(&self) -> TrainSettings {
        let spec = TrialSpec { model: self.model, optim: self.optim };
        let per_step = self.model.train_flops_per_token() * spec.tokens_per_step() as f64;
        TrainSettings { budget_gflop: (self.steps as f64 + 0.5) * per_step / 1e9, ..TrainSettings::default() }
    }
}

/// Train on `corpus` for `plan.steps` steps from `init` (flat weights; a fresh seeded
/// initialisation when `None`) and return the flat weights. Single-threaded and
/// deterministic in `(plan, corpus, seed, init)`.
pub fn train(plan: &TrainPlan, corpus: &Corpus, seed: u64, init: Option<&[f32]>) -> Result<Vec<f32>, SwarmError> {
    let spec = TrialSpec { model: plan.model, optim: plan.optim };
    let mut trainer = Trainer::new(spec, corpus, &plan.settings(), seed)?;
    if let Some(w) = init {
        trainer = trainer.with_model(unflatten(plan.model, w)?)?;
    }
    while trainer.step_count() < plan.steps {
        if trainer.step()?.is_none() {
            return Err(SwarmError::Diverged(format!(
                "training on `{}` diverged at step {} (lower the learning rate)",
                corpus.name(),
                trainer.step_count()
            )));
        }
    }
    flatten(trainer.model())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::gpt::Skill;
    use crate::swarm::tasks::corpus;

    #[test]
    fn fine_tuning_starts_from_the_given_weights_and_is_deterministic() {
        let model = ModelConfig { context: 32, ..ModelConfig::tiny() };
        let plan = TrainPlan { model, optim: OptimConfig { batch_tokens: 128, ..OptimConfig::default() }, steps: 8 };
        let mix = corpus("mix", &[Skill::Copy, Skill::Add], 4000, 1);
        let base = train(&plan, &mix, 1, None).unwrap();
        assert_eq!(base, train(&plan, &mix, 1, None).unwrap());
        let one = corpus("copy", &[Skill::Copy], 4000, 2);
        let tuned = train(&TrainPlan { steps: 1, ..plan }, &one, 5, Some(&base)).unwrap();
        let fresh = train(&TrainPlan { steps: 1, ..plan }, &one, 5, None).unwrap();
        // One step moves each weight by about the learning rate: the tuned model stays
        // near the base, far from a fresh initialisation.
        let dist = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
        assert!(dist(&tuned, &base) < 0.01, "{}", dist(&tuned, &base));
        assert!(dist(&fresh, &base) > 0.01);
    }
}
