//! Utility of a weight set on evaluation items: bits per answer byte and exact match.
//!
//! One forward pass per batch of items scores every answer byte under teacher forcing.
//! An item counts as exactly matched when every scored byte is the model's most likely
//! next byte; with greedy decoding that is the same as generating the answers exactly
//! (each step sees the same prefix), so exact match costs no generation loop.

use candle_core::{Device, Tensor};

use super::SwarmError;
use super::tasks::Item;
use super::weights::unflatten;
use crate::objective::gpt::{Gpt, ModelConfig};

/// Items per forward pass.
const BATCH: usize = 64;

/// What the swarm optimises.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UtilityKind {
    /// Bits per answer byte (lower is better).
    Bpb,
    /// Exact-match accuracy (the search minimises `1 - accuracy`).
    ExactMatch,
}

impl UtilityKind {
    /// Name used in scenarios and reports.
    pub fn name(self) -> &'static str {
        match self {
            UtilityKind::Bpb => "bpb",
            UtilityKind::ExactMatch => "exact-match",
        }
    }

    /// Parse a name.
    pub fn from_name(name: &str) -> Option<Self> {
        [UtilityKind::Bpb, UtilityKind::ExactMatch].into_iter().find(|k| k.name() == name)
    }
}

/// Scores of one weight set on a list of items.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Scores {
    /// Summed bits of each item's scored bytes.
    pub bits: Vec<f64>,
    /// Scored bytes of each item.
    pub bytes: Vec<usize>,
    /// Whether each item was answered exactly.
    pub correct: Vec<bool>,
}

impl Scores {
    /// Bits per answer byte over all items.
    pub fn bpb(&self) -> f64 {
        self.bits.iter().sum::<f64>() / self.bytes.iter().sum::<usize>().max(1) as f64
    }

    /// Fraction of items answered exactly.
    pub fn exact_match(&self) -> f64 {
        self.correct.iter().filter(|&&c| c).count() as f64 / self.correct.len().max(1) as f64
    }

    /// The loss the search minimises under `kind`.
    pub fn loss(&self, kind: UtilityKind) -> f64 {
        match kind {
            UtilityKind::Bpb => self.bpb(),
            UtilityKind::ExactMatch => 1.0 - self.exact_match(),
        }
    }
}

/// Score flat weights of shape `cfg` on `items` (single-threaded, deterministic).
pub fn score_flat(cfg: ModelConfig, flat: &[f32], items: &[Item]) -> Result<Scores, SwarmError> {
    score(&unflatten(cfg, flat)?, items)
}

/// Score `model` on `items`. Items must fit the context (`bytes.len() <= context + 1`).
pub fn score(model: &Gpt, items: &[Item]) -> Result<Scores, SwarmError> {
    let context = model.config().context;
    let mut out = Scores { bits: Vec::new(), bytes: Vec::new(), correct: Vec::new() };
    for chunk in items.chunks(BATCH) {
        let t = chunk.iter().map(|it| it.bytes.len() - 1).max().unwrap_or(1).max(1);
        if t > context {
            return Err(SwarmError::Shape(format!("an item of {} bytes does not fit context {context}", t + 1)));
        }
        let mut ids = Vec::with_capacity(chunk.len() * t);
        for it in chunk {
            let input = &it.bytes[..it.bytes.len() - 1];
            ids.extend(input.iter().map(|&b| b as u32));
            ids.extend(std::iter::repeat_n(b'\n' as u32, t - input.len()));
        }
        let logits = model.forward(&Tensor::from_vec(ids, (chunk.len(), t), &Device::Cpu)?)?;
        let logits = logits.flatten_all()?.to_vec1::<f32>()?;
        let vocab = logits.len() / (chunk.len() * t);
        for (b, it) in chunk.iter().enumerate() {
            let mut bits = 0f64;
            let mut correct = true;
            for &pos in &it.scored {
                let row = &logits[(b * t + pos - 1) * vocab..(b * t + pos) * vocab];
                let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let sum: f64 = row.iter().map(|&v| ((v - max) as f64).exp()).sum();
                let target = it.bytes[pos] as usize;
                bits += (sum.ln() - (row[target] - max) as f64) / std::f64::consts::LN_2;
                let argmax = row.iter().enumerate().fold(0, |best, (i, &v)| if v > row[best] { i } else { best });
                correct &= argmax == target;
            }
            out.bits.push(bits);
            out.bytes.push(it.scored.len());
            out.correct.push(correct);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::objective::gpt::{OpPath, Skill};
    use crate::swarm::tasks::items;

    #[test]
    fn scores_match_greedy_generation_and_the_models_loss() {
        let cfg = ModelConfig { context: 48, ..ModelConfig::tiny() };
        let model = Gpt::new(cfg, 3, OpPath::Fused, &Device::Cpu).unwrap();
        let its = items(&[Skill::Add, Skill::Recall], 70, 2, 0);
        let s = score(&model, &its).unwrap();
        assert_eq!(s.bits.len(), 70);
        // An untrained model is close to uniform: about 8 bits per byte.
        assert!((s.bpb() - 8.0).abs() < 0.5, "{}", s.bpb());
        // Item 0 alone gives the same bits as in the padded batch.
        let one = score(&model, &its[..1]).unwrap();
        assert!((one.bits[0] - s.bits[0]).abs() < 1e-3);
        // Teacher-forced argmax agrees with greedy decoding: an item whose answer is the
        // model's own greedy continuation is exact, with one byte changed it is not.
        let prompt = b"\nk a1 b2 a>".to_vec();
        let greedy = model.complete(&prompt, 3, 0).unwrap();
        assert_eq!(greedy.len(), 3);
        let mut bytes = prompt.clone();
        bytes.extend(&greedy);
        let mine = Item { scored: (prompt.len()..bytes.len()).collect(), bytes };
        let mut wrong = mine.clone();
        wrong.bytes[prompt.len() + 1] = wrong.bytes[prompt.len() + 1].wrapping_add(1);
        let both = score(&model, &[mine, wrong]).unwrap();
        assert_eq!(both.correct, vec![true, false]);
        assert!(s.exact_match() <= 1.0);
        let too_small = Gpt::new(ModelConfig::tiny(), 3, OpPath::Fused, &Device::Cpu).unwrap();
        assert!(score(&too_small, &its).is_err());
    }
}
