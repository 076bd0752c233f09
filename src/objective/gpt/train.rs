//! Training: AdamW with warmup and decay, a fixed FLOP budget, validation bits per byte
//! at fixed fractions of the budget, divergence detection.
//!
//! A trial is a pure function of `(spec, corpus, settings, seed)`: weights come from the
//! seeded initialiser, batches from a stream derived from `(seed, step)`, and every op
//! is either single-threaded or split in a way that does not change the arithmetic, so
//! weights and scores are bit-identical whatever the thread count.

use std::time::Instant;

use candle_core::{Device, Tensor};
use rand::RngExt;

use super::adamw::{AdamW, AdamWStep, DeviceAdamW};
use super::data::Corpus;
use super::device::DeviceChoice;
use super::fused::FusedStep;
use super::model::{Gpt, ModelConfig, OpPath};
use crate::history::TrialStatus;
use crate::rng::stream;

/// Score given to a diverged or invalid trial: the bits per byte of the uniform byte
/// model, finite and worse than anything a trained model reaches.
pub const FAILURE_BPB: f64 = 8.0;

/// The default fidelity levels (fractions of the budget).
pub const FIDELITIES: [f64; 4] = [0.125, 0.25, 0.5, 1.0];

/// A training loss above this (nats; uniform is ln 256 = 5.55) counts as divergence.
pub const EXPLODED_LOSS: f32 = 12.0;

/// Learning-rate decay after warmup.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Schedule {
    /// Half a cosine from the peak to zero.
    Cosine,
    /// Straight line from the peak to zero.
    Linear,
    /// Stay at the peak.
    Constant,
}

impl Schedule {
    /// All schedules, in knob order.
    pub const ALL: [Schedule; 3] = [Schedule::Cosine, Schedule::Linear, Schedule::Constant];

    /// Name used in configs.
    pub fn name(self) -> &'static str {
        match self {
            Schedule::Cosine => "cosine",
            Schedule::Linear => "linear",
            Schedule::Constant => "constant",
        }
    }
}

/// Optimiser hyperparameters.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct OptimConfig {
    /// Peak learning rate.
    pub lr: f64,
    /// Tokens per optimiser step (rounded down to whole sequences, at least one).
    pub batch_tokens: usize,
    /// Fraction of the steps spent warming up linearly.
    pub warmup: f64,
    /// Decay after warmup.
    pub schedule: Schedule,
    /// Decoupled weight decay on matrices.
    pub weight_decay: f64,
    /// Adam first-moment decay.
    pub beta1: f64,
    /// Adam second-moment decay.
    pub beta2: f64,
    /// Clip the global gradient norm to this (0 = off).
    pub grad_clip: f64,
}

impl Default for OptimConfig {
    fn default() -> Self {
        OptimConfig {
            lr: 3e-3,
            batch_tokens: 1024,
            warmup: 0.05,
            schedule: Schedule::Cosine,
            weight_decay: 0.1,
            beta1: 0.9,
            beta2: 0.99,
            grad_clip: 1.0,
        }
    }
}

/// A full trial specification: model shape and optimiser.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrialSpec {
    /// The model.
    pub model: ModelConfig,
    /// The optimiser.
    pub optim: OptimConfig,
}

impl TrialSpec {
    /// Sequences per step.
    pub fn batch(&self) -> usize {
        (self.optim.batch_tokens / self.model.context).max(1)
    }

    /// Tokens per step actually used.
    pub fn tokens_per_step(&self) -> usize {
        self.batch() * self.model.context
    }

    /// Optimiser steps a budget of `budget_gflop` buys (at least 8, so each fidelity
    /// level has its own checkpoint).
    pub fn total_steps(&self, budget_gflop: f64) -> usize {
        let per_step = self.model.train_flops_per_token() * self.tokens_per_step() as f64;
        ((budget_gflop * 1e9 / per_step).floor() as usize).max(8)
    }

    /// Why this spec cannot be trained, if it cannot.
    pub fn problem(&self) -> Option<String> {
        if let Some(p) = self.model.problem() {
            return Some(p);
        }
        let o = &self.optim;
        let finite = [o.lr, o.warmup, o.weight_decay, o.beta1, o.beta2, o.grad_clip].iter().all(|v| v.is_finite());
        if !finite || o.lr <= 0.0 || !(0.0..1.0).contains(&o.beta1) || !(0.0..1.0).contains(&o.beta2) {
            return Some("lr must be positive and the betas in [0, 1)".into());
        }
        None
    }
}

/// How trials are run, apart from the config.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrainSettings {
    /// Compute budget of a full trial, in GFLOP of training (`6N + 12LTC` per token).
    pub budget_gflop: f64,
    /// Held-out tokens scored at each checkpoint (whole windows, at most the split).
    pub eval_tokens: usize,
    /// Fidelity levels, increasing and ending in 1.
    pub fidelities: Vec<f64>,
    /// Fused or reference ops (on a GPU always reference ops: the fused ones are CPU
    /// kernels).
    pub path: OpPath,
    /// Where the trial trains.
    #[serde(default)]
    pub device: DeviceChoice,
}

impl TrainSettings {
    /// The ops a trial runs with: the chosen path on the CPU, the reference ops on a GPU.
    pub fn op_path(&self) -> OpPath {
        if self.device.is_cpu() { self.path } else { OpPath::Reference }
    }
}

impl Default for TrainSettings {
    fn default() -> Self {
        TrainSettings {
            budget_gflop: 50.0,
            eval_tokens: 8192,
            fidelities: FIDELITIES.to_vec(),
            path: OpPath::Fused,
            device: DeviceChoice::Cpu,
        }
    }
}

/// What a trial produced.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct TrialOutcome {
    /// Ok or diverged.
    pub status: TrialStatus,
    /// `(fidelity, val bpb)` at each level reached (failure score after divergence).
    pub curve: Vec<(f64, f64)>,
    /// Optimiser steps taken.
    pub steps: usize,
    /// Steps of the full budget.
    pub total_steps: usize,
    /// Training tokens seen.
    pub tokens: usize,
    /// Wall-clock seconds.
    pub seconds: f64,
}

impl TrialOutcome {
    /// The last score of the curve.
    pub fn score(&self) -> f64 {
        self.curve.last().map(|c| c.1).unwrap_or(FAILURE_BPB)
    }
}

/// Errors that stop a trial before it can produce a score.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The spec is unusable.
    #[error("invalid trial: {0}")]
    Invalid(String),
    /// The corpus cannot serve this context.
    #[error(transparent)]
    Corpus(#[from] super::data::CorpusError),
    /// A tensor operation failed.
    #[error("tensor error: {0}")]
    Tensor(#[from] candle_core::Error),
    /// The device cannot be used (no CUDA support in this build, no such GPU).
    #[error("{0}")]
    Device(String),
}

/// Learning rate at `step` (0-based) of `total`.
pub fn lr_at(optim: &OptimConfig, step: usize, total: usize) -> f64 {
    let warm = (optim.warmup.clamp(0.0, 1.0) * total as f64).round() as usize;
    if step < warm {
        return optim.lr * (step + 1) as f64 / warm as f64;
    }
    let span = (total - warm).max(1) as f64;
    let progress = ((step - warm) as f64 / span).clamp(0.0, 1.0);
    let factor = match optim.schedule {
        Schedule::Cosine => 0.5 * (1.0 + (std::f64::consts::PI * progress).cos()),
        Schedule::Linear => 1.0 - progress,
        Schedule::Constant => 1.0,
    };
    optim.lr * factor
}

/// The training state of one trial.
pub struct Trainer<'a> {
    spec: TrialSpec,
    corpus: &'a Corpus,
    model: Gpt,
    device: Device,
    seed: u64,
    step: usize,
    total_steps: usize,
    optimizer: AdamW,
    /// One gradient buffer per parameter, reused by every step (CPU).
    grads: Vec<Vec<f32>>,
    /// On a GPU: the optimiser and the gradients as tensors on the device, used instead
    /// of `optimizer` and `grads`.
    on_device: Option<(DeviceAdamW, Vec<Tensor>)>,
    /// The whole-model fused step (buffers reused by every step); `None` on the
    /// reference path, which runs candle's autograd.
    fused: Option<FusedStep>,
}

impl<'a> Trainer<'a> {
    /// A fresh model and optimiser for `spec` on `corpus`.
    pub fn new(spec: TrialSpec, corpus: &'a Corpus, settings: &TrainSettings, seed: u64) -> Result<Self, TrainError> {
        Self::build(spec, corpus, settings, seed, !settings.device.is_cpu())
    }

    /// [`Trainer::new`], with the GPU's optimiser (tensor ops, gradients kept as
    /// tensors) when `tensor_optimizer`, whatever the device: tests run it on the CPU.
    fn build(
        spec: TrialSpec,
        corpus: &'a Corpus,
        settings: &TrainSettings,
        seed: u64,
        tensor_optimizer: bool,
    ) -> Result<Self, TrainError> {
        if let Some(p) = spec.problem() {
            return Err(TrainError::Invalid(p));
        }
        corpus.check_context(spec.model.context)?;
        let device = settings.device.open().map_err(TrainError::Device)?;
        let path = settings.op_path();
        // Before anything is allocated: an allocation that fails aborts the process.
        if let Some(p) = super::memory::too_large(&spec.model, spec.batch(), path) {
            return Err(TrainError::Invalid(p));
        }
        let model = Gpt::new(spec.model, seed, path, &device)?;
        let sizes: Vec<usize> = model.params().iter().map(|(_, v)| v.elem_count()).collect();
        let on_device = match tensor_optimizer {
            false => None,
            true => Some((DeviceAdamW::new(model.params(), &model.decay_lens())?, Vec::new())),
        };
        // The host optimiser and gradient buffers are not needed on a GPU.
        let host_sizes: &[usize] = if on_device.is_some() { &[] } else { &sizes };
        let optimizer = AdamW::new(host_sizes, if on_device.is_some() { Vec::new() } else { model.decay_lens() });
        let fused = match path {
            OpPath::Fused if tensor_optimizer => {
                return Err(TrainError::Invalid("the tensor optimiser needs the reference ops".into()));
            }
            OpPath::Fused => Some(FusedStep::new(&model, spec.batch())?),
            OpPath::Reference => None,
        };
        Ok(Trainer {
            spec,
            corpus,
            model,
            device,
            seed,
            step: 0,
            total_steps: spec.total_steps(settings.budget_gflop),
            optimizer,
            grads: host_sizes.iter().map(|&n| vec![0.0; n]).collect(),
            on_device,
            fused,
        })
    }

    /// Start from `model`'s weights instead of the fresh initialisation (fine-tuning);
    /// the optimiser state stays at zero. The model is trained in place: its variables
    /// are updated by every step. It must have this trainer's shape.
    pub fn with_model(mut self, model: Gpt) -> Result<Self, TrainError> {
        if model.config() != &self.spec.model {
            return Err(TrainError::Invalid(format!(
                "the initial model has shape {:?}, the trial wants {:?}",
                model.config(),
                self.spec.model
            )));
        }
        self.model = model.with_path(self.model.path());
        Ok(self)
    }

    /// The model.
    pub fn model(&self) -> &Gpt {
        &self.model
    }

    /// Steps taken.
    pub fn step_count(&self) -> usize {
        self.step
    }

    /// Steps of the full budget.
    pub fn total_steps(&self) -> usize {
        self.total_steps
    }

    /// The training batch of `step`: inputs and targets `(batch, context)`.
    pub fn batch(&self, step: usize) -> Result<(Tensor, Tensor), TrainError> {
        let (x, y) = self.batch_ids(step);
        let (b, t) = (self.spec.batch(), self.spec.model.context);
        Ok((Tensor::from_vec(x, (b, t), &self.device)?, Tensor::from_vec(y, (b, t), &self.device)?))
    }

    /// The training batch of `step` as flat byte ids: inputs and targets, sequence after
    /// sequence.
    fn batch_ids(&self, step: usize) -> (Vec<u32>, Vec<u32>) {
        let t = self.spec.model.context;
        let b = self.spec.batch();
        let train = self.corpus.train();
        let mut rng = stream(self.seed, "gpt-batch", &[step as u64]);
        let mut x = Vec::with_capacity(b * t);
        let mut y = Vec::with_capacity(b * t);
        for _ in 0..b {
            let o = rng.random_range(0..train.len() - t);
            x.extend(train[o..o + t].iter().map(|&c| c as u32));
            y.extend(train[o + 1..o + t + 1].iter().map(|&c| c as u32));
        }
        (x, y)
    }

    /// Loss and gradients (into `self.grads`) of the batch of the current step, or `None`
    /// for a non-finite or exploded loss (then no gradient is computed).
    fn loss_and_grads(&mut self) -> Result<Option<f32>, TrainError> {
        let (x, y) = self.batch_ids(self.step);
        let exploded = |value: f32| !value.is_finite() || value > EXPLODED_LOSS;
        if let Some(fused) = &mut self.fused {
            let value = fused.forward(&self.model, &x, &y)?;
            if exploded(value) {
                return Ok(None);
            }
            fused.backward(&self.model, &x, &y, &mut self.grads)?;
            return Ok(Some(value));
        }
        let (b, t) = (self.spec.batch(), self.spec.model.context);
        let x = Tensor::from_vec(x, (b, t), &self.device)?;
        let y = Tensor::from_vec(y, (b, t), &self.device)?;
        let loss = self.model.loss(&x, &y)?;
        let value = loss.to_scalar::<f32>()?;
        if exploded(value) {
            return Ok(None);
        }
        let store = loss.backward()?;
        if let Some((_, grads)) = &mut self.on_device {
            grads.clear();
            for (_, var) in self.model.params() {
                grads.push(match store.get(var.as_tensor()) {
                    Some(t) => t.clone(),
                    None => var.as_tensor().zeros_like()?,
                });
            }
            return Ok(Some(value));
        }
        for ((_, var), g) in self.model.params().iter().zip(&mut self.grads) {
            match store.get(var.as_tensor()) {
                Some(t) => *g = t.flatten_all()?.to_vec1::<f32>()?,
                None => g.fill(0.0),
            }
        }
        Ok(Some(value))
    }

    /// One optimiser step. Returns the training loss, or `None` when training diverged
    /// (a non-finite or exploded loss or gradient).
    pub fn step(&mut self) -> Result<Option<f32>, TrainError> {
        let Some(value) = self.loss_and_grads()? else {
            return Ok(None);
        };
        let norm = match &self.on_device {
            // One reduction on the device, one number back.
            Some((_, grads)) => {
                let mut total = Tensor::zeros((), candle_core::DType::F32, &self.device)?;
                for g in grads {
                    total = (total + g.sqr()?.sum_all()?)?;
                }
                (total.to_scalar::<f32>()? as f64).sqrt()
            }
            None => self.grads.iter().map(|g| super::kernels::sum_squares_f64(g)).sum::<f64>().sqrt(),
        };
        if !norm.is_finite() {
            return Ok(None);
        }
        let o = self.spec.optim;
        let clip = if o.grad_clip > 0.0 && norm > o.grad_clip { o.grad_clip / norm } else { 1.0 };
        let h = AdamWStep {
            lr: lr_at(&o, self.step, self.total_steps),
            weight_decay: o.weight_decay,
            beta1: o.beta1,
            beta2: o.beta2,
            clip,
            t: (self.step + 1) as i32,
        };
        match &mut self.on_device {
            Some((optimizer, grads)) => optimizer.update(self.model.params(), grads, h)?,
            None => self.optimizer.update(self.model.params(), &self.grads, h)?,
        }
        self.step += 1;
        Ok(Some(value))
    }

    /// Validation bits per byte over the first `eval_tokens` held-out targets (whole
    /// windows of `context`), or `None` when it is not finite.
    pub fn eval_bpb(&mut self, eval_tokens: usize) -> Result<Option<f64>, TrainError> {
        let t = self.spec.model.context;
        let val = self.corpus.val();
        let windows = (eval_tokens / t).max(1).min((val.len() - 1) / t);
        // The fused step evaluates in chunks of its training batch (its buffers' size).
        let per_batch = if self.fused.is_some() { self.spec.batch() } else { (4096 / t).max(1) };
        let mut nats = 0f64;
        let mut count = 0usize;
        let mut w = 0;
        while w < windows {
            let n = per_batch.min(windows - w);
            let mut x = Vec::with_capacity(n * t);
            let mut y = Vec::with_capacity(n * t);
            for k in w..w + n {
                x.extend(val[k * t..k * t + t].iter().map(|&c| c as u32));
                y.extend(val[k * t + 1..k * t + t + 1].iter().map(|&c| c as u32));
            }
            let loss = match &mut self.fused {
                Some(fused) => fused.forward(&self.model, &x, &y)? as f64,
                None => {
                    let x = Tensor::from_vec(x, (n, t), &self.device)?;
                    let y = Tensor::from_vec(y, (n, t), &self.device)?;
                    self.model.loss(&x.detach(), &y)?.to_scalar::<f32>()? as f64
                }
            };
            nats += loss * (n * t) as f64;
            count += n * t;
            w += n;
        }
        let bpb = nats / std::f64::consts::LN_2 / count.max(1) as f64;
        Ok(bpb.is_finite().then_some(bpb))
    }
}

/// Train `spec` up to `fidelity` of the budget (snapped up to a level), scoring at each
/// level on the way. The learning-rate schedule always spans the full budget, so the
/// curve of a low-fidelity run is a prefix of the full run's curve.
pub fn run_trial(
    spec: &TrialSpec,
    corpus: &Corpus,
    settings: &TrainSettings,
    fidelity: f64,
    seed: u64,
) -> Result<TrialOutcome, TrainError> {
    run_trial_keep(spec, corpus, settings, fidelity, seed).map(|(o, _)| o)
}

/// Like [`run_trial`], also returning the trained model.
pub fn run_trial_keep(
    spec: &TrialSpec,
    corpus: &Corpus,
    settings: &TrainSettings,
    fidelity: f64,
    seed: u64,
) -> Result<(TrialOutcome, Gpt), TrainError> {
    let start = Instant::now();
    let mut trainer = Trainer::new(*spec, corpus, settings, seed)?;
    let total = trainer.total_steps();
    let top = crate::space::fidelity_level(&settings.fidelities, fidelity);
    let mut curve = Vec::new();
    let mut status = TrialStatus::Ok;
    for &level in &settings.fidelities[..=top] {
        let target = ((level * total as f64).round() as usize).clamp(1, total);
        if status == TrialStatus::Ok {
            while trainer.step_count() < target {
                if trainer.step()?.is_none() {
                    status = TrialStatus::Diverged;
                    break;
                }
            }
        }
        let score = match status {
            TrialStatus::Ok => match trainer.eval_bpb(settings.eval_tokens)? {
                Some(bpb) => bpb,
                None => {
                    status = TrialStatus::Diverged;
                    FAILURE_BPB
                }
            },
            _ => FAILURE_BPB,
        };
        curve.push((level, score));
    }
    let steps = trainer.step_count();
    let outcome = TrialOutcome {
        status,
        curve,
        steps,
        total_steps: total,
        tokens: steps * spec.tokens_per_step(),
        seconds: start.elapsed().as_secs_f64(),
    };
    Ok((outcome, trainer.model.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::gpt::Skill;

    /// The GPU's training path (reference ops, gradients kept as tensors, the global
    /// norm reduced as a tensor, the tensor-op AdamW) run on the CPU follows the CPU
    /// path's reference-op training step for step.
    #[test]
    fn the_gpu_training_path_follows_the_cpu_path() {
        let corpus = Corpus::synthetic(&[Skill::Copy, Skill::Add], 20_000, 3);
        let spec = TrialSpec {
            model: ModelConfig::tiny(),
            optim: OptimConfig { batch_tokens: 128, grad_clip: 0.5, ..OptimConfig::default() },
        };
        let settings = TrainSettings { budget_gflop: 1.0, path: OpPath::Reference, ..TrainSettings::default() };
        let mut host = Trainer::build(spec, &corpus, &settings, 7, false).unwrap();
        let mut tensor = Trainer::build(spec, &corpus, &settings, 7, true).unwrap();
        for step in 0..6 {
            let (a, b) = (host.step().unwrap().unwrap(), tensor.step().unwrap().unwrap());
            assert!((a - b).abs() < 1e-5, "step {step}: loss {a} vs {b}");
        }
        let (a, b) = (host.eval_bpb(512).unwrap().unwrap(), tensor.eval_bpb(512).unwrap().unwrap());
        assert!((a - b).abs() < 1e-5, "bpb {a} vs {b}");
        let fused = TrainSettings { path: OpPath::Fused, ..settings };
        assert!(Trainer::build(spec, &corpus, &fused, 7, true).is_err(), "fused ops have no tensor optimiser");
    }
}
