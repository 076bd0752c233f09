//! Sampling a genome from the model: temperature sampling (temperature 0 is greedy)
//! with optional top-k and top-p cuts, one draw per byte from a seeded ChaCha stream,
//! the input window the last `context` bytes, stopping at [`document::STOP`] or after
//! `max_bytes`. The same (model, prompt, settings) always gives the same bytes.

use candle_core::{Device, Tensor};
use rand::RngExt;

use super::document;
use crate::objective::gpt::model::Gpt;
use crate::rng::stream;

/// How to sample.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampleSettings {
    /// Softmax temperature; 0 takes the most likely byte (greedy).
    pub temperature: f64,
    /// Keep only the `k` most likely bytes (`None`: all).
    pub top_k: Option<usize>,
    /// Keep the most likely bytes whose probabilities first sum to `top_p` (1: all).
    pub top_p: f64,
    /// The most bytes generated.
    pub max_bytes: usize,
    /// Seed of the sampling stream.
    pub seed: u64,
}

impl Default for SampleSettings {
    fn default() -> Self {
        SampleSettings { temperature: 0.8, top_k: None, top_p: 1.0, max_bytes: 2048, seed: 0 }
    }
}

/// Why generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// The model wrote the end tag.
    Stop,
    /// `max_bytes` were written first.
    Length,
}

/// What was generated.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The bytes generated, without the end tag.
    pub bytes: Vec<u8>,
    /// Why generation ended.
    pub finish: Finish,
}

impl Sample {
    /// The generated text (invalid UTF-8 replaced).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes).into_owned()
    }
}

/// A genome continuing `prompt` ([`document::prompt`] of a parent or none).
pub fn generate(model: &Gpt, prompt: &[u8], settings: &SampleSettings) -> candle_core::Result<Sample> {
    let context = model.config().context;
    let mut rng = stream(settings.seed, "lm-sample", &[]);
    let mut text = prompt.to_vec();
    let mut out: Vec<u8> = Vec::new();
    while out.len() < settings.max_bytes {
        let start = text.len().saturating_sub(context);
        let logits = next_logits(model, &text[start..])?;
        let next = choose(&logits, settings, rng.random::<f64>());
        out.push(next);
        text.push(next);
        if out.ends_with(document::STOP) {
            out.truncate(out.len() - document::STOP.len());
            return Ok(Sample { bytes: out, finish: Finish::Stop });
        }
    }
    Ok(Sample { bytes: out, finish: Finish::Length })
}

/// The logits of the byte after `window` (at most `context` bytes; an empty window is
/// read as a newline, the byte every document's tags end with).
fn next_logits(model: &Gpt, window: &[u8]) -> candle_core::Result<Vec<f32>> {
    let ids: Vec<u32> = if window.is_empty() { vec![b'\n' as u32] } else { window.iter().map(|&b| b as u32).collect() };
    let t = ids.len();
    let logits = model.forward(&Tensor::from_vec(ids, (1, t), &Device::Cpu)?)?;
    logits.get(t - 1)?.to_vec1::<f32>()
}

/// The byte `logits` give under `settings`, with `u` uniform in [0, 1) as the one draw.
pub fn choose(logits: &[f32], settings: &SampleSettings, u: f64) -> u8 {
    // The first most likely byte, as `Gpt::complete` picks it.
    let argmax = logits.iter().enumerate().fold(0, |best, (i, &v)| if v > logits[best] { i } else { best });
    let temperature = settings.temperature;
    if !(temperature.is_finite() && temperature > 0.0) {
        return argmax as u8;
    }
    // Bytes from most to least likely (ties by byte value), cut by top-k.
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    if let Some(k) = settings.top_k {
        order.truncate(k.max(1));
    }
    let top = logits[argmax] as f64;
    let mut weights: Vec<f64> = order.iter().map(|&i| ((logits[i] as f64 - top) / temperature).exp()).collect();
    let total: f64 = weights.iter().sum();
    if !(total.is_finite() && total > 0.0) {
        return argmax as u8;
    }
    // Top-p: the shortest prefix whose probability reaches `top_p`.
    if settings.top_p < 1.0 {
        let mut mass = 0.0;
        let keep = weights
            .iter()
            .position(|w| {
                mass += w / total;
                mass >= settings.top_p
            })
            .map_or(weights.len(), |i| i + 1);
        weights.truncate(keep);
    }
    let total: f64 = weights.iter().sum();
    let mut target = u * total;
    for (w, &i) in weights.iter().zip(&order) {
        if target < *w {
            return i as u8;
        }
        target -= w;
    }
    order[weights.len() - 1] as u8
}

#[cfg(test)]
mod tests {
    use candle_core::Device;

    use super::*;
    use crate::objective::gpt::model::{ModelConfig, OpPath};

    fn model() -> Gpt {
        let cfg = ModelConfig { context: 32, depth: 1, width: 16, heads: 2, init_scale: 20.0 };
        Gpt::new(cfg, 5, OpPath::Fused, &Device::Cpu).unwrap()
    }

    #[test]
    fn sampling_is_deterministic_in_the_seed_and_temperature_zero_is_greedy() {
        let model = model();
        let prompt = document::prompt(Some("(mechanism a\n  (propose (uniform)))"));
        let settings = SampleSettings { temperature: 1.0, max_bytes: 40, seed: 3, ..SampleSettings::default() };
        let a = generate(&model, prompt.as_bytes(), &settings).unwrap();
        assert_eq!(a, generate(&model, prompt.as_bytes(), &settings).unwrap());
        assert_eq!(a.bytes.len(), 40);
        assert_eq!(a.finish, Finish::Length);
        let b = generate(&model, prompt.as_bytes(), &SampleSettings { seed: 4, ..settings }).unwrap();
        assert_ne!(a, b, "another seed, other bytes");

        let greedy = SampleSettings { temperature: 0.0, ..settings };
        let g = generate(&model, prompt.as_bytes(), &greedy).unwrap();
        assert_eq!(g, generate(&model, prompt.as_bytes(), &SampleSettings { seed: 99, ..greedy }).unwrap());
        // The model's own greedy completion, with a stop byte it never writes.
        let stop = (0..=255u8).find(|b| !g.bytes.contains(b)).unwrap();
        assert_eq!(g.bytes, model.complete(prompt.as_bytes(), 40, stop).unwrap());
    }

    #[test]
    fn top_k_one_is_greedy_and_the_draw_picks_by_probability() {
        let logits = [0.0f32, 2.0, 1.0, 2.0];
        let s = SampleSettings { temperature: 1.0, ..SampleSettings::default() };
        assert_eq!(choose(&logits, &SampleSettings { temperature: 0.0, ..s }, 0.9), 1);
        assert_eq!(choose(&logits, &SampleSettings { top_k: Some(1), ..s }, 0.99), 1);
        // Order 1, 3 (ties by byte), 2, 0; the draw walks the cumulative weights.
        assert_eq!(choose(&logits, &s, 0.0), 1);
        assert_eq!(choose(&logits, &s, 0.5), 3);
        assert_eq!(choose(&logits, &s, 0.999), 0);
        assert_eq!(choose(&logits, &SampleSettings { top_k: Some(2), ..s }, 0.999), 3);
        assert_eq!(choose(&logits, &SampleSettings { top_p: 0.5, ..s }, 0.999), 3);
    }
}
